// bpftrail trace viewer: timeline (flame chart), event table, histograms,
// flame graph. Plain ES module, Canvas 2D, no dependencies, no network
// beyond data.json from the server that served this page.
'use strict';

const $ = (id) => document.getElementById(id);
const status = (s) => { $('status').textContent = s; };

// ---------- data ----------

const timing = { start: performance.now() };

async function loadRaw() {
  const el = document.getElementById('trace-data');
  if (el) {
    const text = el.textContent;
    el.remove(); // the page keeps the parsed data only
    timing.text = performance.now();
    return JSON.parse(text);
  }
  const r = await fetch('data.json');
  if (!r.ok) throw new Error('data.json: ' + r.status);
  return r.json();
}

function undelta(a) {
  const out = new Float64Array(a.length);
  let v = 0;
  for (let i = 0; i < a.length; i++) { v += +a[i]; out[i] = v; }
  return out;
}

function toF64(a) {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = +a[i];
  return out;
}

// Thread states of state lanes (analyze.State).
const RUNNING = 1, RUNNABLE_ST = 2, BLOCKED = 3;
const STATE_NAMES = { [RUNNING]: 'running', [RUNNABLE_ST]: 'runnable', [BLOCKED]: 'blocked' };

// model decodes the view data. The lanes are drawn as they are: Go derived
// every slice (analyze.Walk), the page derives none.
function model(raw) {
  const m = { raw, S: raw.strings, N: raw.events, classes: raw.classes, dur: Math.max(1, raw.duration) };
  m.T = undelta(raw.ev.t);
  m.CPU = raw.ev.cpu; m.TID = raw.ev.tid; m.CLS = raw.ev.cls;
  m.threads = new Map();
  const th = raw.threads;
  for (let i = 0; i < th.tid.length; i++) m.threads.set(th.tid[i], { pid: th.pid[i], comm: m.S[th.comm[i]] });
  m.tracks = raw.tracks.map((t) => {
    const lanes = t.lanes.map((l) => {
      const ev = undelta(l.ev);
      const n = ev.length;
      const ev2 = new Float64Array(n).fill(-1);
      if (l.ev2) for (let i = 0; i < n; i++) ev2[i] = l.ev2[i] < 0 ? -1 : ev[i] + l.ev2[i];
      let start, dur;
      if (l.byev) {
        // slices span from their event to their end event
        start = new Float64Array(n); dur = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const s = ev[i] >= 0 ? m.T[ev[i]] : 0;
          start[i] = s; dur[i] = (ev2[i] >= 0 ? m.T[ev2[i]] : raw.duration) - s;
        }
      } else { start = undelta(l.start); dur = toF64(l.dur); }
      return { name: l.name, start, dur, nm: l.nm, ev, ev2, tid: l.tid, state: l.state, cpu: l.cpu };
    });
    return { kind: t.kind, name: t.name, cpu: t.cpu, tid: t.tid, pid: t.pid, lanes,
      mark: { t: undelta(t.mark.t), nm: t.mark.nm, ev: undelta(t.mark.ev) } };
  });
  m.rowOf = null;
  return m;
}

// rowOf[i] is event i's row in its class's field columns (-1 if not kept).
function rows(m) {
  if (m.rowOf) return m.rowOf;
  const r = new Int32Array(m.N);
  const next = new Int32Array(m.classes.length);
  for (let i = 0; i < m.N; i++) {
    const c = m.CLS[i];
    const k = next[c]++;
    r[i] = k < m.classes[c].count ? k : -1;
  }
  m.rowOf = r;
  return r;
}

function fieldValue(m, c, f, row) {
  const cls = m.classes[c];
  const v = cls.cols[f][row];
  switch (cls.kinds[f]) {
    case 's': return m.S[v];
    case 'x': return typeof v === 'string' ? '0x' + BigInt(v).toString(16) : '0x' + v.toString(16);
    default: return String(v);
  }
}

function fields(m, i) {
  const c = m.CLS[i], row = rows(m)[i];
  const cls = m.classes[c];
  const out = [];
  if (row < 0) return out;
  for (let f = 0; f < cls.fields.length; f++) out.push([cls.fields[f], fieldValue(m, c, f, row)]);
  return out;
}

// printable shows control characters as \xNN (newlines too when oneLine).
function printable(v, oneLine) {
  const re = oneLine ? /[\x00-\x1f\x7f]/g : /[\x00-\x09\x0b-\x1f\x7f]/g;
  return v.replace(re, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
}

// Fields that hold a stack, one frame per line.
const STACKS = new Set(['stack', 'ustack', 'kstack']);

function fieldsText(m, i) {
  return fields(m, i).map(([k, v]) => k + '=' + (STACKS.has(k) ? v.split('\n').join(' ← ') : printable(v, true))).join(' ');
}

function threadName(m, tid) {
  const t = m.threads.get(tid);
  return (t && t.comm ? t.comm : '?') + ' ' + tid;
}

// ---------- formatting ----------

function fmtDur(ns) {
  const a = Math.abs(ns);
  if (a < 1e3) return ns.toFixed(0) + ' ns';
  if (a < 1e6) return (ns / 1e3).toPrecision(3) + ' µs';
  if (a < 1e9) return (ns / 1e6).toPrecision(3) + ' ms';
  return (ns / 1e9).toPrecision(4) + ' s';
}
// fmtTick formats an axis time in the unit of the visible range, with the
// decimals the tick step needs.
function fmtTick(t, step, end) {
  const a = Math.max(Math.abs(end), step);
  const [u, name] = a < 1e3 ? [1, 'ns'] : a < 1e6 ? [1e3, 'µs'] : a < 1e9 ? [1e6, 'ms'] : [1e9, 's'];
  const dec = Math.max(0, Math.ceil(Math.log10(u / step) - 1e-9));
  return (t / u).toFixed(Math.min(dec, 9)) + ' ' + name;
}
function fmtTime(ns) { return (ns / 1e6).toFixed(6) + ' ms'; }
function esc(s) { return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c])); }

function lowerBound(a, v, lo = 0, hi = a.length) {
  while (lo < hi) { const mid = (lo + hi) >>> 1; if (a[mid] < v) lo = mid + 1; else hi = mid; }
  return lo;
}

const colorCache = new Map();
function color(key) {
  let c = colorCache.get(key);
  if (c) return c;
  let h = 2166136261;
  const s = String(key);
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
  h >>>= 0;
  c = `hsl(${h % 360},${45 + (h >> 9) % 25}%,${55 + (h >> 17) % 15}%)`;
  colorCache.set(key, c);
  return c;
}

function eventDetailsHTML(m, i, title) {
  const c = m.classes[m.CLS[i]];
  let h = `<div class="sub">${esc(title || 'event')} #${i}: ${esc(c.name)}</div><table>`;
  h += `<tr><td>time</td><td>${fmtTime(m.T[i])}</td></tr>`;
  h += `<tr><td>cpu</td><td>${m.CPU[i]}</td></tr>`;
  const th = m.threads.get(m.TID[i]);
  h += `<tr><td>tid</td><td>${m.TID[i]}</td></tr><tr><td>pid</td><td>${th ? th.pid : ''}</td></tr><tr><td>comm</td><td>${esc(th ? th.comm : '')}</td></tr>`;
  for (const [k, v] of fields(m, i)) h += `<tr><td>${esc(k)}</td><td>${esc(printable(v, false))}</td></tr>`;
  if (rows(m)[i] < 0) h += '<tr><td colspan="2" class="muted">fields not kept (see notes)</td></tr>';
  return h + '</table>';
}

// ---------- timeline ----------

const RUNNABLE = '#f0b45a', BLOCKED_FILL = '#b9bfcc';
const LANE_H = 18, MARK_H = 10, AXIS_H = 24, LABEL_W = 180, TRACK_GAP = 4;

// sliceStyle is how slice i of a lane is drawn: [fill, top, height], the
// band as fractions of the lane's height. Running slices (and the slices
// of every other lane) fill it; runnable and blocked ones are bands.
function sliceStyle(t, lane, i) {
  const st = lane.state ? lane.state[i] : 0;
  if (st === RUNNABLE_ST) return [RUNNABLE, 0.3, 0.4];
  if (st === BLOCKED) return [BLOCKED_FILL, 0.45, 0.1];
  return [color(t.kind === 'cpu' ? 't' + lane.tid[i] : lane.nm[i]), 0, 1];
}

class Timeline {
  constructor(m) {
    this.m = m;
    this.canvas = $('timeline');
    this.ctx = this.canvas.getContext('2d');
    this.t0 = 0; this.t1 = m.dur; this.scrollY = 0;
    this.sel = null;
    this.filter = '';
    this.layout();
    this.bind();
  }

  layout() {
    const f = this.filter.toLowerCase();
    let y = 0, prevPid = null;
    this.visible = [];
    for (const t of this.m.tracks) {
      if (f && !t.name.toLowerCase().includes(f) && !(t.kind === 'thread' && String(t.pid) === f)) continue;
      const h = t.lanes.length * LANE_H + (t.mark.t.length ? MARK_H : 0);
      if (h === 0) continue;
      const sep = t.kind === 'thread' && t.pid !== prevPid;
      prevPid = t.kind === 'thread' ? t.pid : null;
      t.y = y; t.h = h; t.sep = sep;
      this.visible.push(t);
      y += h + TRACK_GAP;
    }
    this.totalH = y;
  }

  size() {
    const wrap = this.canvas.parentElement;
    const dpr = window.devicePixelRatio || 1;
    const w = wrap.clientWidth, h = wrap.clientHeight;
    if (w === 0 || h === 0) return false;
    if (this.W !== w || this.H !== h || this.dpr !== dpr) {
      this.W = w; this.H = h; this.dpr = dpr;
      this.canvas.width = Math.round(w * dpr); this.canvas.height = Math.round(h * dpr);
      this.canvas.style.width = w + 'px'; this.canvas.style.height = h + 'px';
    }
    return true;
  }

  x(t) { return LABEL_W + (t - this.t0) * (this.W - LABEL_W) / (this.t1 - this.t0); }
  tAt(x) { return this.t0 + (x - LABEL_W) * (this.t1 - this.t0) / (this.W - LABEL_W); }

  request() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  draw() {
    if (!this.size()) return 0;
    const { ctx, W, H } = this;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, W, H);
    const maxScroll = Math.max(0, this.totalH - (H - AXIS_H));
    this.scrollY = Math.min(Math.max(0, this.scrollY), maxScroll);
    let drawn = 0;
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    const top = this.scrollY, bottom = this.scrollY + H - AXIS_H;
    let first = 0, lo = 0, hi = this.visible.length;
    while (lo < hi) { const mid = (lo + hi) >>> 1; const t = this.visible[mid]; if (t.y + t.h < top) lo = mid + 1; else hi = mid; }
    first = lo;
    ctx.save();
    ctx.beginPath(); ctx.rect(0, AXIS_H, W, H - AXIS_H); ctx.clip();
    for (let k = first; k < this.visible.length; k++) {
      const t = this.visible[k];
      if (t.y > bottom) break;
      const y0 = AXIS_H + t.y - this.scrollY;
      if (t.sep) { ctx.fillStyle = '#c9cfdb'; ctx.fillRect(0, y0 - TRACK_GAP / 2 - 1, W, 1); }
      let ly = y0;
      t.lanes.forEach((lane) => { drawn += this.drawLane(t, lane, ly); ly += LANE_H; });
      if (t.mark.t.length) drawn += this.drawMarks(t, ly);
      // label
      ctx.fillStyle = t.kind === 'cpu' ? '#e9eef8' : '#f3f4f7';
      ctx.fillRect(0, y0, LABEL_W - 4, t.h);
      ctx.fillStyle = '#1d2330';
      const label = t.kind === 'cpu' ? t.name : t.name + (t.pid >= 0 && t.pid !== t.tid ? ` (pid ${t.pid})` : '');
      ctx.fillText(clip(label, LABEL_W - 12), 6, y0 + Math.min(t.h, LANE_H) / 2);
      if (t.lanes.length > 1 || (t.mark.t.length && t.lanes.length)) {
        ctx.fillStyle = '#8a92a5';
        let yy = y0 + LANE_H;
        for (let i = 1; i < t.lanes.length; i++, yy += LANE_H) ctx.fillText(t.lanes[i].name, 14, yy + LANE_H / 2);
        if (t.mark.t.length) ctx.fillText('events', 14, yy + MARK_H / 2);
      }
    }
    ctx.restore();
    this.drawAxis();
    this.drawn = drawn;
    $('range').textContent = `${fmtTime(this.t0)} – ${fmtTime(this.t1)} (${fmtDur(this.t1 - this.t0)})`;
    return drawn;
  }

  drawAxis() {
    const { ctx, W } = this;
    ctx.fillStyle = '#eceff4';
    ctx.fillRect(0, 0, W, AXIS_H);
    const span = this.t1 - this.t0;
    const target = span * 110 / Math.max(1, W - LABEL_W);
    let step = Math.pow(10, Math.floor(Math.log10(Math.max(target, 1))));
    for (const f of [1, 2, 5, 10]) { if (step * f >= target) { step *= f; break; } }
    ctx.fillStyle = '#444c5e'; ctx.strokeStyle = '#c5cbd6';
    ctx.textBaseline = 'middle';
    ctx.font = '11px system-ui, sans-serif';
    for (let t = Math.ceil(this.t0 / step) * step; t <= this.t1; t += step) {
      const x = Math.round(this.x(t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, AXIS_H - 6); ctx.lineTo(x, AXIS_H); ctx.stroke();
      ctx.fillText(fmtTick(t, step, this.t1), x + 3, AXIS_H / 2);
    }
    ctx.fillStyle = '#eceff4';
    ctx.fillRect(0, 0, LABEL_W - 4, AXIS_H);
    ctx.fillStyle = '#1d2330';
    ctx.fillText(`${this.m.N.toLocaleString()} events`, 6, AXIS_H / 2);
  }

  // drawLane draws the slices of a lane in view; runs of slices narrower
  // than a pixel are merged into one pixel-wide block (level of detail).
  drawLane(t, lane, y) {
    const { ctx } = this;
    const s = lane.start, d = lane.dur, n = s.length;
    const t0 = this.t0, t1 = this.t1;
    const k = (this.W - LABEL_W) / (t1 - t0);
    let i = lowerBound(s, t0);
    if (i > 0 && s[i - 1] + d[i - 1] > t0) i--;
    let drawn = 0;
    const cpuLane = t.kind === 'cpu';
    const h = LANE_H - 2;
    while (i < n && s[i] < t1) {
      const x0 = LABEL_W + (s[i] - t0) * k;
      const x1 = LABEL_W + (s[i] + d[i] - t0) * k;
      if (x1 - x0 >= 1) {
        const [fill, top, height] = sliceStyle(t, lane, i);
        ctx.fillStyle = fill;
        const xa = Math.max(LABEL_W, x0), xb = Math.min(this.W, x1);
        if (height < 1) ctx.fillRect(xa, y + 1 + h * top, Math.max(1, xb - xa), h * height);
        else ctx.fillRect(xa, y + 1, Math.max(1, xb - xa - (xb - xa > 3 ? 1 : 0)), h);
        if (xb - xa > 40 && height === 1) {
          ctx.fillStyle = '#111';
          let label = this.m.S[lane.nm[i]];
          if (cpuLane && lane.tid) label += ' ' + lane.tid[i];
          ctx.fillText(clip(label, xb - xa - 6), xa + 3, y + 1 + h / 2);
        }
        i++; drawn++;
      } else {
        const px = Math.floor(x0);
        let j = lowerBound(s, t0 + (px + 1 - LABEL_W) / k, i + 1);
        if (j - 1 > i && (s[j - 1] + d[j - 1] - t0) * k + LABEL_W - px > 1) j--;
        const [fill, top, height] = sliceStyle(t, lane, i);
        ctx.fillStyle = fill;
        ctx.fillRect(Math.max(LABEL_W, px), y + 1 + h * top, 1, h * height);
        drawn += j - i;
        i = j;
      }
    }
    if (this.sel && this.sel.lane === lane) {
      const x0 = this.x(s[this.sel.i]), x1 = this.x(s[this.sel.i] + d[this.sel.i]);
      ctx.strokeStyle = '#000'; ctx.lineWidth = 2;
      ctx.strokeRect(Math.max(LABEL_W, x0), y + 1, Math.max(2, Math.min(this.W, x1) - Math.max(LABEL_W, x0)), h);
      ctx.lineWidth = 1;
    }
    return drawn;
  }

  drawMarks(t, y) {
    const { ctx } = this;
    const mt = t.mark.t, n = mt.length;
    const t0 = this.t0, t1 = this.t1;
    const k = (this.W - LABEL_W) / (t1 - t0);
    let i = lowerBound(mt, t0), drawn = 0;
    while (i < n && mt[i] <= t1) {
      const x = LABEL_W + (mt[i] - t0) * k;
      const px = Math.floor(x);
      const j = lowerBound(mt, t0 + (px + 1 - LABEL_W) / k, i + 1);
      ctx.fillStyle = color('m' + t.mark.nm[i]);
      ctx.fillRect(px, y + 1, 2, MARK_H - 2);
      drawn += j - i;
      i = j;
    }
    if (this.sel && this.sel.mark === t) {
      const x = this.x(mt[this.sel.i]);
      ctx.strokeStyle = '#000'; ctx.strokeRect(x - 2, y, 5, MARK_H);
    }
    return drawn;
  }

  hit(x, y) {
    if (x < LABEL_W || y < AXIS_H) return null;
    const yy = y - AXIS_H + this.scrollY;
    const t = this.visible.find((tr) => yy >= tr.y && yy < tr.y + tr.h);
    if (!t) return null;
    const li = Math.floor((yy - t.y) / LANE_H);
    const tol = 2 * (this.t1 - this.t0) / (this.W - LABEL_W);
    const tm = this.tAt(x);
    if (li < t.lanes.length) {
      const lane = t.lanes[li];
      let i = lowerBound(lane.start, tm + tol) - 1;
      if (i >= 0 && lane.start[i] + lane.dur[i] >= tm - tol) return { track: t, lane, i };
      return null;
    }
    const mt = t.mark.t;
    let i = lowerBound(mt, tm - tol * 2);
    if (i < mt.length && mt[i] <= tm + tol * 2) return { track: t, mark: t, i };
    return null;
  }

  show(h) {
    this.sel = h;
    const m = this.m;
    const el = $('details');
    if (!h) { el.innerHTML = '<p class="muted">Click a slice or a marker to see its event.</p>'; this.request(); return; }
    let html = '';
    if (h.lane) {
      const l = h.lane, i = h.i;
      const name = m.S[l.nm[i]];
      const st = l.state ? l.state[i] : 0;
      html += `<h3>${esc(h.track.kind === 'cpu' ? name + ' ' + (l.tid ? l.tid[i] : '') : name)}</h3><table>`;
      html += `<tr><td>track</td><td>${esc(h.track.name)} · ${esc(l.name)}</td></tr>`;
      html += `<tr><td>start</td><td>${fmtTime(l.start[i])}</td></tr><tr><td>duration</td><td>${fmtDur(l.dur[i])}</td></tr>`;
      if (h.track.kind === 'cpu' && l.tid) html += `<tr><td>thread</td><td>${esc(threadName(m, l.tid[i]))}</td></tr>`;
      if (st) html += `<tr><td>state</td><td>${STATE_NAMES[st]}${st === RUNNING ? ' on CPU ' + l.cpu[i] : ''}</td></tr>`;
      html += '</table>';
      let t1 = 'switched in', t2 = 'switched out';
      if (l.name === 'syscalls') { t1 = 'entry'; t2 = 'exit'; } else if (st === RUNNABLE_ST) { t1 = 'became runnable'; t2 = 'switched in'; } else if (st === BLOCKED) {
        t1 = 'switched out';
        t2 = l.ev2[i] >= 0 && m.classes[m.CLS[l.ev2[i]]].name.includes('wak') ? 'woken' : 'switched in';
      }
      if (l.ev[i] >= 0) html += eventDetailsHTML(m, l.ev[i], t1);
      if (l.ev2[i] >= 0) html += eventDetailsHTML(m, l.ev2[i], t2);
    } else {
      const ev = h.mark.mark.ev[h.i];
      html += `<h3>${esc(m.classes[m.CLS[ev]].name)}</h3>` + eventDetailsHTML(m, ev, 'event');
    }
    html += '<button id="to-table">show in event table</button>';
    el.innerHTML = html;
    let ev = h.lane ? h.lane.ev[h.i] : h.mark.mark.ev[h.i];
    if (ev < 0) ev = h.lane.ev2[h.i];
    $('to-table').onclick = () => { showTab('events'); app.table.reveal(ev); };
    this.request();
  }

  zoom(f, atX) {
    const x = atX === undefined ? (LABEL_W + this.W) / 2 : Math.max(LABEL_W, atX);
    const tm = this.tAt(x);
    let span = (this.t1 - this.t0) * f;
    span = Math.min(Math.max(span, 100), this.m.dur * 1.2);
    const r = (x - LABEL_W) / (this.W - LABEL_W);
    this.t0 = tm - span * r; this.t1 = this.t0 + span;
    this.clamp();
    this.request();
  }

  pan(dt) { this.t0 += dt; this.t1 += dt; this.clamp(); this.request(); }

  clamp() {
    const span = this.t1 - this.t0, pad = this.m.dur * 0.1;
    if (this.t0 < -pad) { this.t0 = -pad; this.t1 = this.t0 + span; }
    if (this.t1 > this.m.dur + pad) { this.t1 = this.m.dur + pad; this.t0 = this.t1 - span; }
  }

  goTo(ev) {
    const t = this.m.T[ev];
    let span = Math.min(this.t1 - this.t0, 1e6);
    this.t0 = t - span / 2; this.t1 = t + span / 2;
    const tr = this.m.tracks.find((x) => x.kind === 'thread' && x.tid === this.m.TID[ev]);
    if (tr && tr.y !== undefined && this.visible.includes(tr)) this.scrollY = tr.y - 40;
    this.request();
  }

  bind() {
    const c = this.canvas;
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      const r = c.getBoundingClientRect();
      if (e.ctrlKey || e.metaKey || e.altKey) this.zoom(Math.exp(e.deltaY * 0.002), e.clientX - r.left);
      else if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) this.pan((e.shiftKey ? e.deltaY : e.deltaX) * (this.t1 - this.t0) / (this.W - LABEL_W));
      else { this.scrollY += e.deltaY; this.request(); }
    }, { passive: false });
    let drag = null;
    c.addEventListener('mousedown', (e) => { drag = { x: e.clientX, y: e.clientY, t0: this.t0, t1: this.t1, sy: this.scrollY, moved: false }; c.style.cursor = 'grabbing'; });
    window.addEventListener('mousemove', (e) => {
      if (!drag) return;
      const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (!drag.moved) return;
      const dt = dx * (drag.t1 - drag.t0) / (this.W - LABEL_W);
      this.t0 = drag.t0 - dt; this.t1 = drag.t1 - dt; this.clamp();
      this.scrollY = drag.sy - dy;
      this.request();
    });
    window.addEventListener('mouseup', (e) => {
      if (!drag) return;
      c.style.cursor = 'grab';
      const moved = drag.moved; drag = null;
      if (moved) return;
      const r = c.getBoundingClientRect();
      this.show(this.hit(e.clientX - r.left, e.clientY - r.top));
    });
    c.addEventListener('dblclick', (e) => {
      const r = c.getBoundingClientRect();
      const h = this.hit(e.clientX - r.left, e.clientY - r.top);
      if (h && h.lane) {
        const s = h.lane.start[h.i], d = Math.max(h.lane.dur[h.i], 1000);
        this.t0 = s - d * 0.1; this.t1 = s + d * 1.1; this.request();
      }
    });
    window.addEventListener('keydown', (e) => {
      if (currentTab !== 'timeline' || e.target.tagName === 'INPUT') return;
      const span = this.t1 - this.t0;
      switch (e.key) {
        case 'w': case 'W': case '+': this.zoom(0.8); break;
        case 's': case 'S': case '-': this.zoom(1.25); break;
        case 'a': case 'A': case 'ArrowLeft': this.pan(-span * 0.15); break;
        case 'd': case 'D': case 'ArrowRight': this.pan(span * 0.15); break;
        case '0': this.t0 = 0; this.t1 = this.m.dur; this.request(); break;
        default: return;
      }
      e.preventDefault();
    });
    window.addEventListener('resize', () => this.request());
    $('zoom-in').onclick = () => this.zoom(0.5);
    $('zoom-out').onclick = () => this.zoom(2);
    $('zoom-reset').onclick = () => { this.t0 = 0; this.t1 = this.m.dur; this.scrollY = 0; this.request(); };
    let ft = 0;
    $('track-filter').addEventListener('input', (e) => {
      clearTimeout(ft);
      ft = setTimeout(() => { this.filter = e.target.value.trim(); this.layout(); this.scrollY = 0; this.request(); }, 150);
    });
  }
}

function clip(s, w) {
  const n = Math.floor(w / 6.2);
  if (n <= 1) return '';
  return s.length > n ? s.slice(0, n - 1) + '…' : s;
}

// ---------- event table ----------

const ROW_H = 20;

class Table {
  constructor(m) {
    this.m = m;
    this.idx = null; // null: every event
    this.scroll = $('ev-scroll');
    this.rowsEl = $('ev-rows');
    this.spacer = $('ev-spacer');
    this.selected = -1;
    const sel = $('ev-class');
    m.classes.map((c, i) => [c, i]).sort((a, b) => a[0].name.localeCompare(b[0].name)).forEach(([c, i]) => {
      const o = document.createElement('option'); o.value = i; o.textContent = `${c.name} (${countOf(m, i).toLocaleString()})`; sel.appendChild(o);
    });
    const cs = $('ev-cpu');
    for (const c of m.raw.cpus) { const o = document.createElement('option'); o.value = c; o.textContent = 'CPU ' + c; cs.appendChild(o); }
    let timer = 0;
    const refilter = () => { clearTimeout(timer); timer = setTimeout(() => this.filter(), 200); };
    $('ev-search').addEventListener('input', refilter);
    $('ev-tid').addEventListener('input', refilter);
    sel.addEventListener('change', () => this.filter());
    cs.addEventListener('change', () => this.filter());
    this.scroll.addEventListener('scroll', () => this.render());
    window.addEventListener('resize', () => this.render());
    this.rowsEl.addEventListener('click', (e) => {
      const r = e.target.closest('.ev-row');
      if (r) this.select(+r.dataset.ev);
    });
    this.update();
  }

  count() { return this.idx ? this.idx.length : this.m.N; }
  at(k) { return this.idx ? this.idx[k] : k; }

  filter() {
    const m = this.m;
    const q = $('ev-search').value.trim().toLowerCase();
    const cls = +$('ev-class').value, cpu = +$('ev-cpu').value;
    const tidText = $('ev-tid').value.trim();
    const tid = tidText === '' ? null : +tidText;
    if (!q && cls < 0 && cpu < 0 && tid === null) { this.idx = null; this.update(); return; }
    const t0 = performance.now();
    let strMatch = null, clsMatch = null, numQ = false;
    if (q) {
      strMatch = new Uint8Array(m.S.length);
      for (let i = 0; i < m.S.length; i++) if (m.S[i].toLowerCase().includes(q)) strMatch[i] = 1;
      clsMatch = m.classes.map((c) => c.name.toLowerCase().includes(q));
      numQ = /^-?(0x)?[0-9a-f]+$/.test(q);
    }
    const commMatch = new Map();
    if (q) for (const [t, th] of m.threads) commMatch.set(t, (th.comm || '').toLowerCase().includes(q) || String(t) === q);
    const r = q ? rows(m) : null;
    const out = new Int32Array(m.N);
    let n = 0;
    for (let i = 0; i < m.N; i++) {
      const c = m.CLS[i];
      if (cls >= 0 && c !== cls) continue;
      if (cpu >= 0 && m.CPU[i] !== cpu) continue;
      if (tid !== null && m.TID[i] !== tid) continue;
      if (q && !clsMatch[c] && !commMatch.get(m.TID[i]) && !this.fieldMatch(c, r[i], q, strMatch, numQ)) continue;
      out[n++] = i;
    }
    this.idx = out.subarray(0, n);
    this.scroll.scrollTop = 0;
    this.update();
    status(`filtered ${n.toLocaleString()} events in ${(performance.now() - t0).toFixed(0)} ms`);
  }

  fieldMatch(c, row, q, strMatch, numQ) {
    if (row < 0) return false;
    const cls = this.m.classes[c];
    for (let f = 0; f < cls.fields.length; f++) {
      const v = cls.cols[f][row];
      const k = cls.kinds[f];
      if (k === 's') { if (strMatch[v]) return true; } else if (numQ) {
        if (k === 'x') { if (fieldValue(this.m, c, f, row).includes(q)) return true; } else if (String(v).includes(q)) return true;
      }
    }
    return false;
  }

  update() {
    this.spacer.style.height = (this.count() * ROW_H) + 'px';
    $('ev-count').textContent = `${this.count().toLocaleString()} of ${this.m.N.toLocaleString()} events`;
    this.lastFirst = -1;
    this.render();
  }

  // render builds only the rows in view.
  render() {
    const h = this.scroll.clientHeight;
    if (!h) return;
    const n = this.count();
    const first = Math.max(0, Math.floor(this.scroll.scrollTop / ROW_H) - 5);
    const last = Math.min(n, Math.ceil((this.scroll.scrollTop + h) / ROW_H) + 5);
    if (first === this.lastFirst && last === this.lastLast) return;
    this.lastFirst = first; this.lastLast = last;
    const m = this.m;
    let html = '';
    for (let k = first; k < last; k++) {
      const i = this.at(k);
      html += `<div class="ev-row${i === this.selected ? ' sel' : ''}" data-ev="${i}"><span class="c-i">${i}</span><span class="c-t">${fmtTime(m.T[i])}</span><span class="c-cpu">${m.CPU[i]}</span><span class="c-th">${esc(threadName(m, m.TID[i]))}</span><span class="c-n">${esc(m.classes[m.CLS[i]].name)}</span><span class="c-f">${esc(fieldsText(m, i))}</span></div>`;
    }
    this.rowsEl.style.top = (first * ROW_H) + 'px';
    this.rowsEl.innerHTML = html;
    this.rendered = last - first;
  }

  select(ev) {
    this.selected = ev;
    const m = this.m;
    $('ev-details').innerHTML = `<h3>${esc(m.classes[m.CLS[ev]].name)}</h3>` + eventDetailsHTML(m, ev, 'event') + '<button id="to-timeline">show in timeline</button>';
    $('to-timeline').onclick = () => { showTab('timeline'); app.timeline.goTo(ev); };
    this.lastFirst = -1;
    this.render();
  }

  reveal(ev) {
    let k = ev;
    if (this.idx) {
      k = lowerBound(this.idx, ev);
      if (k >= this.idx.length || this.idx[k] !== ev) {
        this.idx = null; $('ev-search').value = ''; $('ev-class').value = -1; $('ev-cpu').value = -1; $('ev-tid').value = '';
        this.update(); k = ev;
      }
    }
    this.scroll.scrollTop = Math.max(0, k * ROW_H - this.scroll.clientHeight / 2);
    this.select(ev);
  }
}

function countOf(m, c) {
  if (!m.classCounts) {
    m.classCounts = new Int32Array(m.classes.length);
    for (let i = 0; i < m.N; i++) m.classCounts[m.CLS[i]]++;
  }
  return m.classCounts[c];
}

// ---------- histograms ----------

function bucketLabel(b) {
  return `[${fmtDur(b.low)}, ${fmtDur(b.high)})`;
}

function barsHTML(rowsIn) {
  const max = Math.max(1, ...rowsIn.map((r) => r[1]));
  return '<div class="bars">' + rowsIn.map(([label, v]) =>
    `<div class="bar-row"><span class="lbl" title="${esc(label)}">${esc(label)}</span><span class="bar" style="width:${(v / max * 260).toFixed(1)}px"></span><span class="cnt">${v.toLocaleString()}</span></div>`).join('') + '</div>';
}

function keyText(k) {
  if (!k || typeof k !== 'object') return String(k);
  const parts = Object.entries(k).map(([a, b]) => `${a}=${b}`);
  return parts.length ? parts.join(' ') : '(all)';
}

function renderHistograms(m) {
  const el = $('latency');
  const lat = [...m.raw.latency].sort((a, b) => b.sum - a.sum);
  let h = '<h2>Syscall latency</h2>';
  if (!lat.length) h += '<p class="muted">No syscall entry/exit pairs in this trace (record with -e syscall:NAME or --preset syscalls).</p>';
  else {
    h += '<table class="summary"><thead><tr><th>syscall</th><th>count</th><th>total</th><th>avg</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr></thead><tbody>';
    for (const l of lat) h += `<tr data-sc="${esc(l.name)}"><td>${esc(l.name)}</td><td>${l.count.toLocaleString()}</td><td>${fmtDur(l.sum)}</td><td>${fmtDur(l.sum / l.count)}</td><td>${fmtDur(l.p50)}</td><td>${fmtDur(l.p90)}</td><td>${fmtDur(l.p99)}</td><td>${fmtDur(l.max)}</td></tr>`;
    h += '</tbody></table><div class="cards" style="margin-top:12px">';
    for (const l of lat) {
      h += `<div class="card" id="lat-${esc(l.name)}"><h3>${esc(l.name)}</h3><div class="stats">${l.count.toLocaleString()} calls · min ${fmtDur(l.min)} · p50 ${fmtDur(l.p50)} · p99 ${fmtDur(l.p99)} · max ${fmtDur(l.max)}</div>`;
      h += barsHTML(l.buckets.map((b) => [bucketLabel(b), b.count])) + '</div>';
    }
    h += '</div>';
  }
  const aggs = m.raw.aggregates || [];
  if (aggs.length) {
    h += '<h2>Aggregates recorded with the trace</h2><div class="cards">';
    for (const a of aggs) {
      h += `<div class="card"><h3>${esc(a.aggregate || 'aggregate')}</h3>`;
      if (a.lost) h += `<div class="stats">${a.lost} updates lost (map full)</div>`;
      if (Array.isArray(a.counts)) {
        const top = [...a.counts].sort((x, y) => y.count - x.count).slice(0, 40);
        h += barsHTML(top.map((c) => [keyText(c.key), c.count]));
        if (a.counts.length > 40) h += `<div class="stats">… ${a.counts.length - 40} more keys</div>`;
      } else if (Array.isArray(a.histograms)) {
        for (const hg of a.histograms.slice(0, 20)) {
          h += `<div class="stats">${esc(keyText(hg.key))}</div>`;
          h += barsHTML((hg.buckets || []).map((b) => [`[${b.low}, ${b.high})`, b.count]));
        }
      } else if (Array.isArray(a.latencies)) {
        h += barsHTML(a.latencies.map((l) => [keyText(l.key), l.count]));
      } else {
        h += `<pre>${esc(JSON.stringify(a, null, 1))}</pre>`;
      }
      h += '</div>';
    }
    h += '</div>';
  }
  if (m.raw.notes && m.raw.notes.length) h += '<h2>Notes</h2><ul>' + m.raw.notes.map((n) => `<li>${esc(n)}</li>`).join('') + '</ul>';
  el.innerHTML = h;
  el.querySelectorAll('tr[data-sc]').forEach((tr) => { tr.onclick = () => document.getElementById('lat-' + tr.dataset.sc).scrollIntoView({ behavior: 'smooth' }); });
}

// ---------- flame graph ----------

const FL_H = 18;

class Flame {
  constructor(m) {
    this.m = m;
    const f = m.raw.flame;
    this.f = f;
    this.canvas = $('flame');
    this.ctx = this.canvas.getContext('2d');
    if (!f) { $('fl-info').textContent = 'No stack samples in this trace (record them with "bpftrail profile").'; return; }
    const n = f.nm.length;
    this.n = n;
    this.x = new Float64Array(n); this.depth = new Int32Array(n); this.end = new Int32Array(n);
    const next = new Float64Array(n);
    let maxD = 0;
    for (let i = 0; i < n; i++) {
      const p = f.parent[i];
      if (p >= 0) { this.x[i] = next[p]; next[p] += f.value[i]; this.depth[i] = this.depth[p] + 1; }
      next[i] = this.x[i];
      if (this.depth[i] > maxD) maxD = this.depth[i];
    }
    // end[i]: first node after i's subtree (pre-order).
    for (let i = n - 1; i >= 0; i--) {
      let e = i + 1;
      while (e < n && this.depth[e] > this.depth[i]) e = this.end[e];
      this.end[i] = e;
    }
    this.maxD = maxD;
    this.focus = 0;
    this.match = null;
    this.bind();
  }

  draw() {
    if (!this.f) return 0;
    const wrap = this.canvas.parentElement;
    const W = wrap.clientWidth;
    if (!W) return 0;
    const H = (this.maxD + 2) * FL_H;
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = W * dpr; this.canvas.height = H * dpr;
    this.canvas.style.width = W + 'px'; this.canvas.style.height = H + 'px';
    this.W = W;
    const ctx = this.ctx, f = this.f, S = this.m.S;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, W, H);
    ctx.font = '11px system-ui, sans-serif'; ctx.textBaseline = 'middle';
    const fx = this.x[this.focus], fv = f.value[this.focus];
    const k = W / fv;
    let drawn = 0;
    // ancestors of the focus: full width
    const anc = [];
    for (let p = f.parent[this.focus]; p >= 0; p = f.parent[p]) anc.push(p);
    for (const a of anc) {
      const y = this.depth[a] * FL_H;
      ctx.fillStyle = '#d5d9e0'; ctx.fillRect(0, y, W, FL_H - 1);
      ctx.fillStyle = '#333'; ctx.fillText(clip(S[f.nm[a]], W - 8), 4, y + FL_H / 2);
      drawn++;
    }
    for (let i = this.focus; i < this.end[this.focus];) {
      const w = f.value[i] * k;
      if (w < 0.5) { i = this.end[i]; continue; }
      const x = (this.x[i] - fx) * k, y = this.depth[i] * FL_H;
      const name = S[f.nm[i]];
      ctx.fillStyle = this.match && this.match[i] ? '#e040c8' : frameColor(name, f.kernel[i]);
      ctx.fillRect(x, y, Math.max(0.5, w - 0.5), FL_H - 1);
      if (w > 30) { ctx.fillStyle = '#111'; ctx.fillText(clip(name, w - 6), x + 3, y + FL_H / 2); }
      drawn++;
      i++;
    }
    this.drawn = drawn;
    return drawn;
  }

  nodeAt(px, py) {
    const f = this.f;
    const d = Math.floor(py / FL_H);
    const fx = this.x[this.focus], k = this.W / f.value[this.focus];
    const t = fx + px / k;
    for (let p = f.parent[this.focus]; p >= 0; p = f.parent[p]) if (this.depth[p] === d) return p;
    for (let i = this.focus; i < this.end[this.focus];) {
      if (t < this.x[i] || t >= this.x[i] + f.value[i]) { i = this.end[i]; continue; }
      if (this.depth[i] === d) return i;
      i++;
    }
    return -1;
  }

  search(q) {
    const f = this.f;
    if (!q) { this.match = null; $('fl-info').textContent = this.info(); this.draw(); return; }
    q = q.toLowerCase();
    const S = this.m.S;
    this.match = new Uint8Array(this.n);
    let matched = 0;
    for (let i = 0; i < this.n;) {
      if (S[f.nm[i]].toLowerCase().includes(q)) {
        // the node and its subtree count once
        matched += f.value[i];
        for (let j = i; j < this.end[i]; j++) this.match[j] = S[f.nm[j]].toLowerCase().includes(q) ? 1 : 0;
        i = this.end[i];
      } else i++;
    }
    this.matched = matched;
    $('fl-info').textContent = `${this.info()} · "${q}" in ${matched.toLocaleString()} samples (${(100 * matched / f.value[0]).toFixed(1)} %)`;
    this.draw();
  }

  info() { return `${this.f.samples.toLocaleString()} samples · ${this.n.toLocaleString()} frames`; }

  bind() {
    $('fl-info').textContent = this.info();
    const tip = $('fl-tip');
    this.canvas.addEventListener('mousemove', (e) => {
      const r = this.canvas.getBoundingClientRect();
      const i = this.nodeAt(e.clientX - r.left, e.clientY - r.top);
      if (i < 0) { tip.style.display = 'none'; return; }
      const f = this.f;
      tip.textContent = `${this.m.S[f.nm[i]]} — ${f.value[i].toLocaleString()} samples (${(100 * f.value[i] / f.value[0]).toFixed(2)} %), self ${f.self[i]}`;
      tip.style.display = 'block';
      tip.style.left = Math.min(e.clientX + 12, window.innerWidth - 420) + 'px'; tip.style.top = (e.clientY + 14) + 'px';
    });
    this.canvas.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
    this.canvas.addEventListener('click', (e) => {
      const r = this.canvas.getBoundingClientRect();
      const i = this.nodeAt(e.clientX - r.left, e.clientY - r.top);
      if (i >= 0) { this.focus = i; this.draw(); }
    });
    $('fl-reset').onclick = () => { this.focus = 0; this.draw(); };
    let t = 0;
    $('fl-search').addEventListener('input', (e) => { clearTimeout(t); t = setTimeout(() => this.search(e.target.value.trim()), 150); });
    window.addEventListener('resize', () => { if (currentTab === 'flame') this.draw(); });
  }
}

// frameColor: warm colors as in classic flame graphs; kernel frames
// orange-red, user frames yellow-orange.
function frameColor(name, kernel) {
  const key = (kernel ? 'k' : 'f') + name;
  let c = colorCache.get(key);
  if (c) return c;
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) { h ^= name.charCodeAt(i); h = Math.imul(h, 16777619); }
  h >>>= 0;
  c = `hsl(${(kernel ? 5 : 30) + h % 25},${75 + (h >> 8) % 20}%,${58 + (h >> 16) % 12}%)`;
  colorCache.set(key, c);
  return c;
}

// ---------- app ----------

let currentTab = 'timeline';
const app = {};

// Test hook, for the browser tests (internal/web/browser_test.go): the
// timeline's rows as laid out (y, h: CSS px from the top of the rows), the
// slices and markers of its last draw, and where event ev's slice or marker
// is drawn (page CSS pixels; w: its width), or null when out of view.
window.bpftrailTest = {
  rows: () => app.timeline.visible.map((t) => ({ name: t.name, kind: t.kind, lanes: t.lanes.map((l) => l.name), y: t.y, h: t.h })),
  drawn: () => app.timeline.drawn,
  at(ev) {
    const tl = app.timeline, h = findEvent(app.m, ev);
    if (!h || !tl.visible.includes(h.track)) return null;
    const a = h.lane ? tl.x(h.lane.start[h.i]) : tl.x(h.mark.mark.t[h.i]);
    const b = h.lane ? tl.x(h.lane.start[h.i] + h.lane.dur[h.i]) : a + 2;
    const x = (Math.max(a, LABEL_W) + Math.min(b, tl.W)) / 2;
    const li = h.lane ? h.track.lanes.indexOf(h.lane) : h.track.lanes.length;
    const y = AXIS_H + h.track.y - tl.scrollY + li * LANE_H + (h.lane ? LANE_H : MARK_H) / 2;
    if (b < LABEL_W || a > tl.W || y < AXIS_H || y > tl.H) return null;
    const r = tl.canvas.getBoundingClientRect();
    return { x: r.left + x, y: r.top + y, w: Math.min(b, tl.W) - Math.max(a, LABEL_W) };
  },
};

function showTab(name) {
  currentTab = name;
  document.querySelectorAll('#tabs button').forEach((b) => b.classList.toggle('active', b.dataset.tab === name));
  document.querySelectorAll('.tab').forEach((s) => s.classList.toggle('active', s.id === 'tab-' + name));
  if (history.replaceState) history.replaceState(null, '', '#' + name);
  return drawTab(name);
}

function drawTab(name) {
  if (!app.m) return 0;
  switch (name) {
    case 'timeline': return app.timeline.draw();
    case 'events': app.table.lastFirst = -1; app.table.render(); return app.table.rendered || 0;
    case 'latency': return app.m.raw.latency.length;
    case 'flame': return app.flame.draw();
  }
  return 0;
}

function applyParams(tab, p) {
  const m = app.m;
  const ev = p.has('ev') ? +p.get('ev') : -1;
  if (tab === 'events') {
    if (p.has('q')) $('ev-search').value = p.get('q');
    if (p.has('tid')) $('ev-tid').value = p.get('tid');
    if (p.has('cpu')) $('ev-cpu').value = p.get('cpu');
    if (p.has('cls')) { const c = m.classes.findIndex((x) => x.name === p.get('cls')); $('ev-class').value = c; }
    app.table.filter();
    if (ev >= 0 && ev < m.N) app.table.reveal(ev);
    return app.table.rendered || 0;
  }
  if (tab === 'flame') {
    if (p.has('q')) { $('fl-search').value = p.get('q'); app.flame.search(p.get('q')); }
    return app.flame.draw();
  }
  if (tab === 'timeline') {
    const tl = app.timeline;
    if (p.has('tracks')) { $('track-filter').value = p.get('tracks'); tl.filter = p.get('tracks'); tl.layout(); }
    if (p.has('t0')) tl.t0 = +p.get('t0');
    if (p.has('t1')) tl.t1 = +p.get('t1');
    if (ev >= 0 && ev < m.N) {
      const h = findEvent(m, ev);
      if (h && h.lane) {
        const s = h.lane.start[h.i], d = Math.max(h.lane.dur[h.i], 1000);
        tl.t0 = s - d * 0.2; tl.t1 = s + d * 1.2;
      } else { tl.t0 = m.T[ev] - 50e3; tl.t1 = m.T[ev] + 50e3; }
      if (h && h.track.y !== undefined) tl.scrollY = h.track.y - 60;
      tl.show(h);
    }
    return tl.draw();
  }
  return 0;
}

// findEvent returns the slice or marker of event ev on its thread's track
// (or, for a sched_switch, on its CPU's track).
function findEvent(m, ev) {
  const tid = m.TID[ev];
  const tracks = m.tracks.filter((t) => (t.kind === 'thread' && t.tid === tid) || t.kind === 'cpu');
  tracks.sort((a, b) => (a.kind === 'thread' ? 0 : 1) - (b.kind === 'thread' ? 0 : 1));
  for (const t of tracks) {
    for (const lane of t.lanes) {
      if (lane.state) continue; // a switch is shown by its CPU's slice

      for (let i = 0; i < lane.ev.length; i++) if (lane.ev[i] === ev || lane.ev2[i] === ev) return { track: t, lane, i };
    }
    const i = t.mark.ev.indexOf(ev);
    if (i >= 0) return { track: t, mark: t, i };
  }
  return null;
}

async function main() {
  document.querySelectorAll('#tabs button').forEach((b) => { b.onclick = () => showTab(b.dataset.tab); });
  let raw;
  try { raw = await loadRaw(); } catch (e) { status('could not load the trace data: ' + e.message); document.body.dataset.error = e.message; return; }
  const tParsed = performance.now();
  const m = model(raw);
  const tModel = performance.now();
  app.m = m;
  $('trace-name').textContent = raw.name;
  document.title = 'bpftrail — ' + raw.name;
  app.timeline = new Timeline(m);
  app.table = new Table(m);
  renderHistograms(m);
  app.flame = new Flame(m);
  // #TAB?key=value&...: q, cls, cpu, tid (event table); t0, t1 in ns,
  // tracks (timeline); ev (select an event); q (flame graph search).
  const [want, query] = (location.hash || '#timeline').slice(1).split('?');
  const tab = ['timeline', 'events', 'latency', 'flame'].includes(want) ? want : 'timeline';
  const params = new URLSearchParams(query || '');
  const drawn0 = showTab(tab);
  const drawn = params.toString() ? applyParams(tab, params) : drawn0;
  const tReady = performance.now();
  const b = document.body.dataset;
  b.events = m.N; b.tracks = m.tracks.length; b.tab = tab;
  b.rows = app.table.count();
  b.running = m.tracks.reduce((n, t) => n + t.lanes.reduce((k, l) => k + (l.state ? l.state.filter((s) => s === RUNNING).length : 0), 0), 0);
  // Sums of slice durations per lane (per state in state lanes), to check
  // that the page drew the data's slices.
  const sums = {};
  for (const t of m.tracks) for (const l of t.lanes) {
    for (let i = 0; i < l.dur.length; i++) {
      const k = t.kind + '-' + (l.state ? STATE_NAMES[l.state[i]] : l.name);
      sums[k] = (sums[k] || 0) + l.dur[i];
    }
  }
  b.laneNs = Object.keys(sums).sort().map((k) => k + ':' + sums[k]).join(',');
  if (app.flame.f) b.flameMatch = app.flame.matched || 0;
  b.scriptMs = timing.start.toFixed(0);
  if (timing.text) b.textMs = timing.text.toFixed(0);
  b.parseMs = tParsed.toFixed(0); b.modelMs = tModel.toFixed(0); b.loadMs = tReady.toFixed(0);
  b.ready = drawn;
  let disc = raw.discarded ? ` · ${raw.discarded.toLocaleString()} discarded` : '';
  if (raw.notes && raw.notes.length) disc += ' · ⚠ ' + raw.notes.join('; ');
  status(`${m.N.toLocaleString()} events · ${fmtDur(raw.duration)} · ${m.tracks.length} tracks${disc} · ready in ${tReady.toFixed(0)} ms`);
}

main();
