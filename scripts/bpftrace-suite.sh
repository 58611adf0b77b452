#!/usr/bin/env bash
# Runs bpftrace's own runtime test suite (tests/runtime of a bpftrace
# checkout, tag v0.26.1) against a binary started under the name "bpftrace",
# so that bpftrail's "run" can be measured against the peer's expectations.
#
#   scripts/bpftrace-suite.sh [options] DIR [BINARY]
#
# DIR is the bpftrace checkout; nothing is written there. BINARY defaults to
# bpftrail built from this repository. The script builds the suite's test
# programs and libraries with the flags of bpftrace's CMake files, lays out
# a copy of tests/ the way the engine expects (it runs from tests/ and uses
# ./runtime, ./testprogs, ./testlibs), links BINARY there as "bpftrace", and
# hands the cases this kernel can run (no kprobes and what depends on them)
# to bpftrace's engine, runtime/engine/main.py. The classification and the
# report are scripts/bpftrace_suite.py's.
#
# Options:
#   -j N            engine processes at once for cases that start no
#                   processes of their own (default 2; the rest run alone)
#   -o DIR          where summary.txt, cases.tsv, failures.txt and logs/ go
#                   (default /tmp/bpftrace-suite-results)
#   --filter RE     only cases whose SUITE.NAME matches RE
#   --min-pass PCT  exit 1 when fewer than PCT% of the runnable cases pass
#                   (default: exit 0 whatever the pass rate)
#   --keep          keep the work directory (build, layout) and say where
#   --progress      print each case's status as it ends
#   --drop-option OPT  run BINARY through a wrapper that removes OPT from
#                   its arguments (repeatable); for measuring bpftrace
#                   releases older than the suite, e.g. 0.17 has no
#                   --verify-llvm-ir, which the engine passes every time
set -euo pipefail

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit "${1:-2}"
}

jobs=2
out=/tmp/bpftrace-suite-results
filter=
min_pass=
keep=
progress=
drop=()
while (($#)); do
	case $1 in
	-j) jobs=$2; shift 2 ;;
	-o) out=$2; shift 2 ;;
	--filter) filter=$2; shift 2 ;;
	--min-pass) min_pass=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	--progress) progress=1; shift ;;
	--drop-option) drop+=("$2"); shift 2 ;;
	-h | --help) usage 0 ;;
	--) shift; break ;;
	-*) echo "unknown option $1" >&2; usage ;;
	*) break ;;
	esac
done
(($# >= 1 && $# <= 2)) || usage
src=$(cd "$1" && pwd)
binary=${2:-}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

[[ -f $src/tests/runtime/engine/main.py ]] || { echo "$src is not a bpftrace checkout (no tests/runtime/engine/main.py)" >&2; exit 2; }
((EUID == 0)) || { echo "the suite loads BPF programs: run as root" >&2; exit 2; }
missing=()
for tool in gcc g++ python3 ps pidof; do
	command -v "$tool" >/dev/null || missing+=("$tool")
done
echo '#include <sys/sdt.h>' | gcc -E -x c -o /dev/null - 2>/dev/null ||
	missing+=("sys/sdt.h (Debian: systemtap-sdt-dev)")
((${#missing[@]} == 0)) || { echo "missing: ${missing[*]}" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/bpftrace-suite.XXXXXX")
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [[ -n $keep ]]; then
		echo "work directory kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap "exit 130" INT TERM

# --- the binary, under the name the suite calls it by -----------------------
if [[ -z $binary ]]; then
	export PATH=$PATH:/usr/local/go/bin
	echo "building bpftrail from $repo"
	(cd "$repo" && go build -o "$work/bpftrail" ./cmd/bpftrail)
	binary=$work/bpftrail
fi
binary=$(realpath "$binary")
[[ -x $binary ]] || { echo "$binary is not executable" >&2; exit 2; }
mkdir -p "$work/bin"
if ((${#drop[@]})); then
	{
		echo '#!/usr/bin/env bash'
		printf 'drop=(%s)\n' "$(printf '%q ' "${drop[@]}")"
		printf 'target=%q\n' "$binary"
		cat <<'EOF'
args=()
for a in "$@"; do
	keep=1
	for d in "${drop[@]}"; do [[ $a == "$d" ]] && keep=0; done
	((keep)) && args+=("$a")
done
exec -a bpftrace "$target" "${args[@]}"
EOF
	} >"$work/bin/bpftrace"
	chmod +x "$work/bin/bpftrace"
else
	ln -s "$binary" "$work/bin/bpftrace"
fi

# --- the engine's looseversion import ---------------------------------------
# runner.py compares kernel versions with looseversion.LooseVersion (PyPI,
# not packaged by Debian bookworm); a stand-in is enough for that use.
mkdir -p "$work/py"
if ! python3 -c 'import looseversion' 2>/dev/null; then
	cat >"$work/py/looseversion.py" <<'EOF'
"""Stand-in for PyPI's looseversion: dotted versions compared part by part,
numbers as numbers ("6.18.44-fc" > "5.15")."""
import functools
import re


@functools.total_ordering
class LooseVersion:
    def __init__(self, vstring=None):
        self.vstring = str(vstring)
        self.version = [(0, int(p), "") if p.isdigit() else (1, 0, p)
                        for p in re.split(r"(\d+|[a-z]+|\.)", self.vstring)
                        if p and p != "."]

    @staticmethod
    def _of(other):
        return other if isinstance(other, LooseVersion) else LooseVersion(other)

    def __eq__(self, other):
        return self.version == self._of(other).version

    def __lt__(self, other):
        return self.version < self._of(other).version

    def __str__(self):
        return self.vstring

    def __repr__(self):
        return "LooseVersion(%r)" % self.vstring
EOF
fi

# --- the tests/ layout the engine runs in -----------------------------------
# CMake copies runtime/ into the build tree and generates
# engine/cmake_vars.py; the AOT runtime is not part of this comparison.
tests=$work/tests
mkdir -p "$tests"
cp -r "$src/tests/runtime" "$tests/runtime"
echo "LIBBCC_BPF_CONTAINS_RUNTIME = bool(0)" >"$tests/runtime/engine/cmake_vars.py"

# --- test libraries (tests/testlibs/CMakeLists.txt) -------------------------
tp=$src/tests/testprogs
tl=$src/tests/testlibs
log=$work/build.log
: >"$log"
echo "building test programs into $tests (log: build.log)"
mkdir -p "$tests/testlibs"
for f in "$tl"/*.c "$tl"/*.cpp; do
	[[ -e $f ]] || continue
	name=$(basename "${f%.*}")
	cc=gcc
	[[ $f == *.cpp ]] && cc=g++
	"$cc" -g -O0 -fPIC -shared -Wl,-soname,"lib$name.so" -I"$src/tests/include" \
		-o "$tests/testlibs/lib$name.so" "$f" >>"$log" 2>&1 ||
		echo "  failed: testlibs/lib$name.so" >&2
	# bpftrace must be able to trace non-executable shared objects
	chmod -x "$tests/testlibs/lib$name.so" 2>/dev/null || true
done

# --- test programs (tests/testprogs/CMakeLists.txt) -------------------------
cflags=(-g -O0)
for flag in -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer; do
	if echo 'int main(void){return 0;}' | gcc "$flag" -x c -o /dev/null - 2>/dev/null; then
		cflags+=("$flag")
	fi
done
out_tp=$tests/testprogs
mkdir -p "$out_tp"
build_prog() { # SOURCE PIE(0|1)
	local f=$1 pie=$2 name cc flags ldflags extra=()
	name=$(basename "${f%.*}")
	cc=gcc
	[[ $f == *.cpp ]] && cc=g++
	flags=("${cflags[@]}")
	ldflags=(-no-pie)
	if ((pie)); then
		name=$name-pie
		flags+=(-fpie)
		ldflags=(-pie)
	fi
	case $name in
	uprobe_nofp | uprobe_nofp-pie)
		# no frame pointers, to test DWARF-based unwinding
		flags=(-g -O1 -fomit-frame-pointer -fno-optimize-sibling-calls) ;;
	usdt_lib | usdt_lib-pie)
		flags+=(-fPIC -I"$tl")
		extra=(-L"$tests/testlibs" -lusdt_tp "-Wl,-rpath,$tests/testlibs") ;;
	esac
	"$cc" "${flags[@]}" -I"$src/tests/include" "${ldflags[@]}" -o "$out_tp/$name" "$f" "${extra[@]}" \
		>>"$log" 2>&1 || echo "  failed: testprogs/$name" >&2
}
for f in "$tp"/*.c "$tp"/*.cpp; do
	[[ -e $f ]] || continue
	build_prog "$f" 0 &
	build_prog "$f" 1 &
	wait
done

if command -v go >/dev/null || [[ -x /usr/local/go/bin/go ]]; then
	gobin=$(command -v go || echo /usr/local/go/bin/go)
	for f in "$tp"/*.go; do
		[[ -e $f ]] || continue
		GOTOOLCHAIN=local GO111MODULE=off GOCACHE=$work/gocache \
			"$gobin" build -o "$out_tp/$(basename "${f%.go}")" "$f" >>"$log" 2>&1 ||
			echo "  failed: testprogs/$(basename "${f%.go}")" >&2
	done
fi
if command -v rustc >/dev/null; then
	for f in "$tp"/*.rs; do
		[[ -e $f ]] || continue
		rustc -C symbol_mangling_version=v0 -o "$out_tp/$(basename "${f%.rs}")" "$f" >>"$log" 2>&1 ||
			echo "  failed: testprogs/$(basename "${f%.rs}")" >&2
	done
fi

objcopy=$(command -v llvm-objcopy || command -v objcopy)
# a flat binary holding only main() of false.c: uprobes on non-ELF files
gcc -c "$tp/false.c" -o "$work/false.o" >>"$log" 2>&1 &&
	"$objcopy" -S --only-section=.text --keep-symbol=main -O binary "$work/false.o" "$out_tp/false.bin" >>"$log" 2>&1 ||
	echo "  failed: testprogs/false.bin" >&2
# a zip holding "true" uncompressed: probing files inside archives
python3 - "$out_tp/true" "$out_tp/archive.zip" <<'EOF' || echo "  failed: testprogs/archive.zip" >&2
import sys, zipfile
with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_STORED) as z:
    z.write(sys.argv[1], "true")
EOF
# stripped binaries with their debuginfo elsewhere: --debuginfo, .debug/,
# split DWARF (.dwo) and DWARF packages (.dwp)
ext=$out_tp/external_debug
mkdir -p "$ext/dwo" "$ext/dwp" "$out_tp/.debug"
{
	"$objcopy" --only-keep-debug "$out_tp/uprobe_test" "$ext/uprobe_test-stripped.debug" &&
		"$objcopy" --strip-debug "$out_tp/uprobe_test" "$out_tp/uprobe_test-stripped"
} >>"$log" 2>&1 || echo "  failed: testprogs/uprobe_test-stripped" >&2
{
	"$objcopy" --only-keep-debug "$out_tp/uprobe_separate_debug" "$out_tp/.debug/uprobe_separate_debug-stripped.debug" &&
		"$objcopy" --strip-debug "$out_tp/uprobe_separate_debug" "$out_tp/uprobe_separate_debug-stripped" &&
		"$objcopy" --add-gnu-debuglink="$out_tp/.debug/uprobe_separate_debug-stripped.debug" "$out_tp/uprobe_separate_debug-stripped"
} >>"$log" 2>&1 || echo "  failed: testprogs/uprobe_separate_debug-stripped" >&2
(cd "$ext/dwo" && gcc -g -O0 -gsplit-dwarf "$tp/uprobe_test.c" -o uprobe_test-split) >>"$log" 2>&1 ||
	echo "  failed: external_debug/dwo/uprobe_test-split" >&2
dwp=$(command -v llvm-dwp || command -v dwp || true)
if [[ -n $dwp ]]; then
	{
		(cd "$ext/dwp" && gcc -g -O0 -gsplit-dwarf "$tp/uprobe_test.c" -o uprobe_test-split) &&
			(cd "$ext/dwp" && "$dwp" -e uprobe_test-split -o uprobe_test-split.dwp) &&
			rm -f "$ext/dwp"/*.dwo
	} >>"$log" 2>&1 || echo "  failed: external_debug/dwp/uprobe_test-split" >&2
else
	echo "  skipped: external_debug/dwp (no llvm-dwp or dwp)" >&2
fi

# --- run --------------------------------------------------------------------
echo "bpftrace --info as the engine sees it:"
"$work/bin/bpftrace" --info 2>&1 | sed 's/^/  /' || true
mkdir -p "$out"
rm -rf "${out:?}/logs"
cp "$log" "$out/build.log"
args=(run --tests "$tests" --binary "$work/bin/bpftrace" --binary-label "$binary"
	--out "$out" --pythonpath "$work/py" --jobs "$jobs")
[[ -n $filter ]] && args+=(--filter "$filter")
[[ -n $min_pass ]] && args+=(--min-pass "$min_pass")
[[ -n $progress ]] && args+=(--progress)
status=0
python3 "$repo/scripts/bpftrace_suite.py" "${args[@]}" || status=$?
exit "$status"
