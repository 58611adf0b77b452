#!/usr/bin/env python3
"""Classifies and runs bpftrace's runtime test suite against a binary.

Used by scripts/bpftrace-suite.sh, which builds the test programs and lays
out the working directory; this file holds the parts that need to read the
suite's directive format:

  classify RUNTIME_DIR        one line per case: which probe kinds it uses
                              and whether this kernel can run it at all
  run --tests TESTS_DIR ...   runs the runnable cases with bpftrace's own
                              engine (TESTS_DIR/runtime/engine/main.py), one
                              engine process per case name, and reports

A case is excluded when it needs something the kernel cannot give whatever
the binary does: kprobes (this kernel has no CONFIG_KPROBES), and with them
fentry/fexit, iterators, BTF raw tracepoints, watchpoints and hardware PMU
events; or a REQUIRES_FEATURE that depends on those. Every other case is
"runnable" and counts in the pass rate, including the ones the engine then
skips because of the binary's --info or a REQUIRES command.
"""

import argparse
import json
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

# Probe kinds and their aliases as bpftrace v0.26 spells them
# (src/probe_types.h), plus the older names still accepted in scripts.
PROBE_ALIASES = {
    "kprobe": "kprobe", "k": "kprobe",
    "kretprobe": "kretprobe", "kr": "kretprobe",
    "uprobe": "uprobe", "u": "uprobe",
    "uretprobe": "uretprobe", "ur": "uretprobe",
    "usdt": "usdt", "U": "usdt",
    "begin": "begin", "BEGIN": "begin",
    "end": "end", "END": "end",
    "self": "self",
    "test": "test",
    "bench": "bench",
    "tracepoint": "tracepoint", "t": "tracepoint",
    "profile": "profile", "p": "profile",
    "interval": "interval", "i": "interval",
    "software": "software", "s": "software",
    "hardware": "hardware", "h": "hardware",
    "watchpoint": "watchpoint", "w": "watchpoint",
    "asyncwatchpoint": "watchpoint", "aw": "watchpoint",
    "fentry": "fentry", "f": "fentry", "kfunc": "fentry",
    "fexit": "fexit", "fr": "fexit", "kretfunc": "fexit",
    "iter": "iter", "it": "iter",
    "rawtracepoint": "rawtracepoint", "rt": "rawtracepoint",
}

# What this kernel cannot attach: no CONFIG_KPROBES, no fentry trampolines
# (bpftrace reports kfunc/fentry unavailable), BTF raw tracepoints go the same
# way, no PMU in the VM (hardware, watchpoint).
UNAVAILABLE_KINDS = {"kprobe", "kretprobe", "fentry", "fexit", "iter",
                     "rawtracepoint", "watchpoint", "hardware"}
# REQUIRES_FEATURE names whose probe in bpftrace's --info needs one of the
# above (dpath and skboutput are detected by loading fentry programs).
UNAVAILABLE_FEATURES = {"fentry", "dpath", "skboutput", "iter",
                        "kprobe_multi", "kprobe_session"}
# Long names that, in a RUN line listing probes (-l), mean it lists kinds the
# kernel cannot provide ("-l | grep kprobes", "-l 'fentry:*'").
UNAVAILABLE_LIST_WORDS = ("kprobe", "kretprobe", "fentry", "fexit", "kfunc",
                          "kretfunc", "rawtracepoint", "iter:", "watchpoint",
                          "hardware")

IGNORED_DIRS = {"engine", "scripts", "outputs"}
ATTACH_TIMEOUT = 10  # the engine's own, runner.py
DEFAULT_TIMEOUT = 5  # the engine's default TIMEOUT, parser.py


# ---------------------------------------------------------------- parsing

def parse_suite(path):
    """Returns the cases of one suite file as dicts, split and continued the
    way the engine's parser.py does it (comment lines dropped, a blank line
    ends a case, PROG/EXPECT/EXPECT_REGEX continue on lines indented by the
    directive's width + 1)."""
    suite = os.path.basename(path)
    with open(path) as f:
        lines = f.readlines()
    cases, block = [], []
    for num, line in enumerate(lines, 1):
        if line.startswith("#"):
            continue
        if line != "\n":
            block.append(line)
        if (line == "\n" or num == len(lines)) and block:
            cases.append(parse_case(block, suite))
            block = []
    return cases


def parse_case(block, suite):
    case = {"suite": suite, "name": "", "run": "", "prog": "", "expects": [],
            "timeout": DEFAULT_TIMEOUT, "befores": [], "after": "",
            "setup": "", "cleanup": "", "requires": [], "features": [],
            "arch": [], "env": {}, "will_fail": False, "new_pidns": False,
            "return_code": 0, "other": []}
    prev = ""
    for item in block:
        if prev and item[:len(prev) + 1].isspace():
            cont = item[len(prev) + 1:].rstrip("\n")
            if prev == "PROG":
                case["prog"] += "\n" + cont
                continue
            if prev in ("EXPECT", "EXPECT_REGEX"):
                case["expects"][-1][1] += "\n" + cont
                continue
        parts = item.strip().split(maxsplit=1)
        key = parts[0]
        val = parts[1] if len(parts) > 1 else ""
        prev = key
        if key == "NAME":
            case["name"] = val
        elif key == "RUN":
            case["run"] = val
        elif key == "PROG":
            case["prog"] = val
        elif key.startswith("EXPECT"):
            case["expects"].append([key, val])
        elif key == "TIMEOUT":
            case["timeout"] = int(val.strip())
        elif key == "BEFORE":
            case["befores"].append(val)
        elif key == "AFTER":
            case["after"] = val
        elif key == "SETUP":
            case["setup"] = val
        elif key == "CLEANUP":
            case["cleanup"] = val
        elif key == "REQUIRES":
            case["requires"].append(val)
        elif key == "REQUIRES_FEATURE":
            case["features"] += [x.strip() for x in val.split(" ") if x.strip()]
        elif key == "ARCH":
            case["arch"] = [x.strip() for x in val.split("|")]
        elif key == "ENV":
            for kv in val.split():
                k, v = kv.split("=", 1)
                case["env"][k] = v
        elif key == "WILL_FAIL":
            case["will_fail"] = True
        elif key == "NEW_PIDNS":
            case["new_pidns"] = True
        elif key == "RETURN_CODE":
            case["return_code"] = int(val.strip())
        else:  # MIN_KERNEL, MAX_KERNEL, SKIP_IF_ENV_HAS, LOCALIZE_TIMESTAMPS
            case["other"].append([key, val])
    return case


def strip_strings_and_comments(text):
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        else:
            out.append(c)
            i += 1
    return "".join(out)


HEADER_WORD = re.compile(r"(?<![\w:./*$@%\-])([A-Za-z_]\w*)(:?)")


def probe_kinds(program):
    """The probe kinds a bpftrace program attaches to: the words before the
    first ':' of each attach point in the text outside any {...} or (...)
    (probe headers, not bodies, function parameters or config blocks)."""
    text = strip_strings_and_comments(program)
    top, depth, paren = [], 0, 0
    for c in text:
        if c == "{":
            depth += 1
        elif c == "}":
            depth = max(depth - 1, 0)
            if depth == 0:
                top.append(" ")
        elif depth == 0 and c == "(":
            paren += 1
        elif depth == 0 and c == ")":
            paren = max(paren - 1, 0)
        elif depth == 0 and paren == 0:
            top.append(c)
    kinds = set()
    for line in "".join(top).splitlines():
        if line.lstrip().startswith("#"):  # #include, #define, shebang
            continue
        for m in HEADER_WORD.finditer(line):
            word, colon = m.group(1), m.group(2)
            if colon and word in PROBE_ALIASES:
                kinds.add(PROBE_ALIASES[word])
            elif not colon and word in ("begin", "end", "BEGIN", "END"):
                kinds.add(PROBE_ALIASES[word])
    return kinds


def run_programs(run, tests_dir):
    """The bpftrace programs a RUN line hands to the binary: the -e
    arguments and the .bt files it names (read from TESTS_DIR)."""
    progs, listing = [], False
    try:
        words = shlex.split(run)
    except ValueError:
        words = run.split()
    for i, w in enumerate(words):
        if w in ("-l", "-lv", "--list") or re.fullmatch(r"-[a-z]*l[a-z]*", w):
            listing = True
        if w == "-e" and i + 1 < len(words):
            progs.append(words[i + 1])
        elif w.endswith(".bt"):
            path = os.path.join(tests_dir, w)
            if os.path.isfile(path):
                with open(path) as f:
                    progs.append(f.read())
    return progs, listing


def classify(case, tests_dir):
    """Adds kinds, excluded (a reason or ""), begin_end_only and serial."""
    kinds, reasons = set(), []
    if case["prog"]:
        kinds |= probe_kinds(case["prog"])
    if case["run"]:
        progs, listing = run_programs(case["run"], tests_dir)
        for p in progs:
            kinds |= probe_kinds(p)
        if listing:
            # what it lists: named in the command or in the expected output
            # ("-l '*do_nanosleep*'" expecting "kprobe:do_nanosleep")
            expected = " ".join(e[1] for e in case["expects"])
            for word in UNAVAILABLE_LIST_WORDS:
                if word in case["run"] or word.rstrip(":") + ":" in expected:
                    reasons.append("lists " + word.rstrip(":"))
                    break
    bad = sorted(kinds & UNAVAILABLE_KINDS)
    if bad:
        reasons.append("probe " + ",".join(bad))
    feats = sorted(set(f.lstrip("!") for f in case["features"]
                       if not f.startswith("!")) & UNAVAILABLE_FEATURES)
    if feats:
        reasons.append("feature " + ",".join(feats))
    if case["arch"] and platform.machine().lower() not in case["arch"]:
        reasons.append("arch " + "|".join(case["arch"]))
    case["kinds"] = sorted(kinds)
    case["excluded"] = "; ".join(reasons)
    case["begin_end_only"] = bool(kinds) and kinds <= {"begin", "end"}
    # Cases that start or signal processes by name, or probe the shared test
    # programs, can see each other's processes: they run one at a time.
    shared = " ".join([case["run"], case["prog"], case["after"],
                       case["setup"], case["cleanup"]] + case["befores"])
    case["serial"] = bool(case["befores"] or case["after"] or case["setup"]
                          or case["cleanup"] or case["new_pidns"]
                          or re.search(r"testprogs|testlibs|pkill|pidof|killall|nft ",
                                       shared))
    return case


def load_cases(tests_dir):
    runtime = os.path.join(tests_dir, "runtime")
    cases = []
    for entry in sorted(os.listdir(runtime)):
        path = os.path.join(runtime, entry)
        if entry.startswith(".") or entry in IGNORED_DIRS or not os.path.isfile(path):
            continue
        for case in parse_suite(path):
            cases.append(classify(case, tests_dir))
    return cases


# ---------------------------------------------------------------- running

STATUS_LINE = re.compile(
    r"^\[\s*(OK|FAILED|TIMEOUT|SKIP)\s*\]\s+(\S+?)\.(.+?)(?: \(\d+ ms\))?\s*$")


def engine_statuses(output, suite, name):
    """Statuses of the runs of SUITE.NAME in the engine's output, in order.
    Only the part before the closing summary counts: the summary lists
    failures and skips again."""
    statuses = []
    for line in output.splitlines():
        if line.startswith("[==========]") and "ran." in line:
            break
        m = STATUS_LINE.match(line)
        if m and m.group(2) == suite and m.group(3) == name:
            statuses.append(m.group(1))
    return statuses


def descendants(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            found.append(c)
            todo.append(c)
    return found


def kill_tree(proc):
    """The engine starts every command in a new session, so killing its
    process group is not enough: kill everything below it by parentage."""
    for pid in [proc.pid] + descendants(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def case_limit(case):
    """An outer bound on one case: the engine's own timeouts (attach, then
    TIMEOUT from attachment, BEFOREs waited for up to TIMEOUT) and slack."""
    return case["timeout"] * (2 if case["befores"] else 1) + ATTACH_TIMEOUT + 5


def engine_order(cases):
    """The engine runs a suite's cases sorted as its TestStruct tuples sort:
    by name, then RUN, then PROG."""
    return sorted(cases, key=lambda c: (c["name"], c["run"], c["prog"]))


def run_engine(args, cases, env, logdir, tag):
    """Runs CASES (all of one suite) with one engine process. Returns
    {id(case): (status, output)} for the cases the engine reported on, and
    whether it had to be killed."""
    suite = cases[0]["suite"]
    safe = re.sub(r"[^\w.-]", "_", f"{suite}.{tag}")
    allow = os.path.join(logdir, safe + ".allow")
    with open(allow, "w") as f:
        for name in sorted(set(c["name"] for c in cases)):
            f.write(f"{suite}.{name}\n")
    cmd = [sys.executable, "-u", "runtime/engine/main.py",
           "--filter", "^" + re.escape(suite) + r"\.",
           "--allowlist_file", allow]
    proc = subprocess.Popen(cmd, cwd=args.tests, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, errors="backslashreplace",
                            universal_newlines=True)
    try:
        output, _ = proc.communicate(timeout=20 + sum(map(case_limit, cases)))
        hung = False
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        output, _ = proc.communicate()
        hung = True
    with open(os.path.join(logdir, safe + ".log"), "w") as f:
        f.write(output)
    got = {}
    by_name = {}
    for c in engine_order(cases):
        by_name.setdefault(c["name"], []).append(c)
    for name, group in by_name.items():
        for case, status in zip(group, engine_statuses(output, suite, name)):
            got[id(case)] = (status, output)
    return got, hung


def run_batch(args, cases, env, logdir, tag):
    """Runs CASES of one suite in one engine process; the cases it did not
    report on (it was killed or crashed) run again one name at a time, so
    one hanging case costs only itself. Returns [(case, status, output)]."""
    got, hung = run_engine(args, cases, env, logdir, tag)
    missing = [c for c in cases if id(c) not in got]
    if missing and len(set(c["name"] for c in cases)) > 1:
        names = {}
        for c in missing:
            names.setdefault(c["name"], []).append(c)
        for i, group in enumerate(names.values()):
            g, h = run_engine(args, group, env, logdir, f"{tag}.retry{i}")
            got.update(g)
            hung = hung or h
    results = []
    for c in cases:
        status, output = got.get(id(c), ("HUNG" if hung else "ERROR", ""))
        results.append((c, status, output))
    return results


def case_excerpt(output, suite, name, lines):
    """The engine's lines about one case: from its [ RUN ] to the next."""
    out, keep = [], False
    for line in output.splitlines():
        if line.startswith("[ RUN      ]"):
            keep = line.endswith(f" {suite}.{name}")
            continue
        if line.startswith("[----------]") or line.startswith("[==========]"):
            keep = False
        if keep:
            out.append(line)
    if not out:  # the engine died before or outside the case
        out = output.splitlines()[-lines:]
    return out[:lines]


def cmd_run(args):
    cases = load_cases(args.tests)
    if args.filter:
        cases = [c for c in cases if re.search(args.filter, f"{c['suite']}.{c['name']}")]
    os.makedirs(args.out, exist_ok=True)
    logdir = os.path.join(args.out, "logs")
    os.makedirs(logdir, exist_ok=True)

    env = dict(os.environ)
    env["BPFTRACE_RUNTIME_TEST_EXECUTABLE"] = args.binary
    env["RUNTIME_TEST_COLOR"] = "no"
    env["PATH"] = os.path.dirname(args.binary) + os.pathsep + env.get("PATH", "")
    if args.pythonpath:
        env["PYTHONPATH"] = args.pythonpath + os.pathsep + env.get("PYTHONPATH", "")

    # One batch per suite for the cases that may run beside others, one
    # per suite for the rest; the first kind run N at a time, then the
    # second one after another.
    parallel, serial = {}, {}
    for c in cases:
        if not c["excluded"]:
            (serial if c["serial"] else parallel).setdefault(c["suite"], []).append(c)
    total = sum(len(v) for v in parallel.values()) + sum(len(v) for v in serial.values())

    results, lock = [], threading.Lock()
    start = time.time()

    def one(item):
        tag, batch = item
        r = run_batch(args, batch, env, logdir, tag)
        with lock:
            results.extend(r)
            if args.progress:
                counts = {}
                for _, st, _ in r:
                    counts[st] = counts.get(st, 0) + 1
                print(f"  [{len(results):4d}/{total}] {batch[0]['suite']} ({tag}): " +
                      ", ".join(f"{v} {k}" for k, v in sorted(counts.items())), flush=True)

    items = sorted(parallel.values(), key=len, reverse=True)
    with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        list(pool.map(one, [("parallel", b) for b in items]))
    for batch in serial.values():
        one(("serial", batch))
    elapsed = time.time() - start

    return report(args, cases, results, elapsed)


def report(args, cases, results, elapsed):
    status_of = {id(c): s for c, s, _ in results}
    suites = {}
    for c in cases:
        s = suites.setdefault(c["suite"], {"pass": 0, "runnable": 0, "excluded": 0,
                                           "skip": 0, "fail": 0})
        if c["excluded"]:
            s["excluded"] += 1
            continue
        s["runnable"] += 1
        st = status_of.get(id(c), "ERROR")
        if st == "OK":
            s["pass"] += 1
        elif st == "SKIP":
            s["skip"] += 1
        else:
            s["fail"] += 1

    lines = [f"{'suite':<16} {'passed':>6} {'runnable':>8} {'excluded':>8} {'skipped':>7}"]
    tot = {"pass": 0, "runnable": 0, "excluded": 0, "skip": 0, "fail": 0}
    for name in sorted(suites):
        s = suites[name]
        for k in tot:
            tot[k] += s[k]
        lines.append(f"{name:<16} {s['pass']:>6} {s['runnable']:>8} {s['excluded']:>8} {s['skip']:>7}")
    pct = 100.0 * tot["pass"] / tot["runnable"] if tot["runnable"] else 0.0
    lines.append(f"{'TOTAL':<16} {tot['pass']:>6} {tot['runnable']:>8} {tot['excluded']:>8} {tot['skip']:>7}")
    runnable = [c for c in cases if not c["excluded"]]
    be = sum(1 for c in runnable if c["begin_end_only"])
    be_pass = sum(1 for c in runnable if c["begin_end_only"] and status_of.get(id(c)) == "OK")
    lines.append("")
    lines.append(f"binary: {args.binary_label or args.binary}")
    lines.append(f"cases: {len(cases)} total, {tot['excluded']} excluded (kernel cannot run them), "
                 f"{tot['runnable']} runnable, of which {be} begin/end-only")
    lines.append(f"passed: {tot['pass']} of {tot['runnable']} runnable = {pct:.1f}%  "
                 f"(begin/end-only: {be_pass} of {be}; skipped by the engine: {tot['skip']}; "
                 f"failed, timed out or hung: {tot['fail']})")
    lines.append(f"time: {elapsed:.0f} s")
    summary = "\n".join(lines)
    print(summary)

    with open(os.path.join(args.out, "summary.txt"), "w") as f:
        f.write(summary + "\n")
    with open(os.path.join(args.out, "cases.tsv"), "w") as f:
        f.write("suite\tname\tstatus\tkinds\tbegin_end_only\tserial\texcluded\n")
        for c in cases:
            st = "EXCLUDED" if c["excluded"] else status_of.get(id(c), "ERROR")
            f.write(f"{c['suite']}\t{c['name']}\t{st}\t{','.join(c['kinds'])}\t"
                    f"{int(c['begin_end_only'])}\t{int(c['serial'])}\t{c['excluded']}\n")
    with open(os.path.join(args.out, "failures.txt"), "w") as f:
        for c, st, out in sorted(results, key=lambda r: (r[0]["suite"], r[0]["name"])):
            if st in ("OK", "SKIP"):
                continue
            f.write(f"{c['suite']}.{c['name']}\t{st}\n")
            for line in case_excerpt(out, c["suite"], c["name"], args.excerpt):
                f.write("    " + line[:300] + "\n")
    print(f"\nresults: {args.out}/summary.txt, cases.tsv, failures.txt, logs/")

    if args.min_pass is not None and pct < args.min_pass:
        print(f"pass rate {pct:.1f}% is below --min-pass {args.min_pass}%")
        return 1
    return 0


def cmd_classify(args):
    cases = load_cases(args.tests)
    for c in cases:
        print("\t".join([c["suite"], c["name"], ",".join(c["kinds"]) or "-",
                         "begin_end_only" if c["begin_end_only"] else "-",
                         "serial" if c["serial"] else "parallel",
                         c["excluded"] or "runnable"]))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("classify", help="print each case's classification")
    c.add_argument("tests", help="bpftrace's tests/ directory")
    r = sub.add_parser("run", help="run the runnable cases with the engine")
    r.add_argument("--tests", required=True,
                   help="tests/ directory laid out for the engine (runtime/, testprogs/, testlibs/)")
    r.add_argument("--binary", required=True, help="path the engine runs as bpftrace")
    r.add_argument("--binary-label", help="what to call the binary in the summary")
    r.add_argument("--out", required=True, help="directory for summary, failures and logs")
    r.add_argument("--pythonpath", help="directory with the looseversion stand-in")
    r.add_argument("--jobs", type=int, default=1)
    r.add_argument("--filter", help="regex on SUITE.NAME selecting the cases to run")
    r.add_argument("--min-pass", type=float, help="exit 1 below this pass percentage")
    r.add_argument("--excerpt", type=int, default=15,
                   help="lines of engine output per failing case in failures.txt")
    r.add_argument("--progress", action="store_true", help="print each case's status as it ends")
    args = ap.parse_args()
    if args.cmd == "classify":
        return cmd_classify(args)
    return cmd_run(args)


if __name__ == "__main__":
    sys.exit(main())
