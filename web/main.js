// The demo page: asks the wasm module (src/web.rs) for a WebGPU device, runs the chosen
// methods on the toy a few steps at a time, and draws both plots after every chunk.
// Test hooks: #status carries data-state="done" when a run has finished, #results lists each
// method's final ‖∇f‖², window.sampaResults holds the full traces and window.sampaTimings the
// time from navigation start to the first plotted points.
import init, { openAdapter, ToySession } from './pkg/sampa.js';
import { $, setStatus, openWebGpu, describeAdapter } from './common.js';
import { niceStep } from './chart.js';

const METHODS = [
  { id: 'gd', label: 'GD', color: '#8a8f98', dash: [2, 3], on: true, grads: 1, depth: 1 },
  { id: 'sam', label: 'SAM', color: '#1f5fbf', dash: [], on: true, grads: 2, depth: 2 },
  { id: 'sampa-0', label: 'SAMPa-0', color: '#1b9e77', dash: [], on: true, grads: 2, depth: 1 },
  { id: 'sampa-0.5', label: 'SAMPa-0.5', color: '#0aa5c4', dash: [], on: true, grads: 2, depth: 1 },
  { id: 'sampa-λ', label: 'SAMPa-λ', color: '#6a3d9a', dash: [], on: false, grads: 2, depth: 1 },
  { id: 'randsam', label: 'RandSAM', color: '#e66101', dash: [7, 4], on: true, grads: 1, depth: 1 },
  { id: 'optsam', label: 'OptSAM', color: '#c51b1b', dash: [7, 4], on: true, grads: 1, depth: 1 },
];
// The first chunk is short so points appear quickly; later ones amortise the readback.
const FIRST_CHUNK = 4;
const CHUNK = 20;
// Stiff enough to bend the paths, mild enough that every method stays stable at η = 0.1.
const ANISO = [1, 3];
window.sampaTimings = {};
window.sampaResults = null;

let runId = 0;
let session = null;
let settings = null;
let traces = [];

function methodName(m, lambda) {
  return m.id === 'sampa-λ' ? `sampa-${lambda}` : m.id;
}

function readSettings() {
  const num = (id) => Number($(id).value);
  const lambda = Math.min(1, Math.max(0, num('lambda')));
  return {
    eta: num('eta'),
    rho: num('rho'),
    lambda,
    steps: Math.max(1, Math.round(num('steps'))),
    x0: [num('x1'), num('x2')],
    normalized: $('normalized').checked,
    curvature: $('aniso').checked ? ANISO : [],
    methods: METHODS.filter((m) => $('m-' + m.id).checked),
  };
}

async function run() {
  const token = ++runId;
  settings = readSettings();
  if (session) { session.free(); session = null; }
  traces = [];
  window.sampaResults = null;
  if (settings.methods.length === 0) {
    setStatus('done', 'No method selected.');
    draw();
    return;
  }
  const names = settings.methods.map((m) => methodName(m, settings.lambda));
  try {
    session = new ToySession(names.join(','), settings.eta, settings.rho, settings.steps,
      new Float64Array(settings.x0), new Float64Array(settings.curvature), !settings.normalized, 0);
  } catch (e) {
    setStatus('error', String(e));
    return;
  }
  setStatus('running', `Running ${names.length} methods for ${settings.steps} steps on the GPU…`);
  const mine = session;
  for (;;) {
    let out;
    try {
      out = await mine.advance(traces.length ? CHUNK : FIRST_CHUNK);
    } catch (e) {
      if (token === runId) setStatus('error', 'GPU error: ' + e);
      return;
    }
    if (token !== runId) return; // a newer run replaced this one
    traces = out.map((t, i) => ({ ...t, style: settings.methods[i] }));
    draw();
    if (window.sampaTimings.firstPoints === undefined) {
      window.sampaTimings.firstPoints = performance.now();
    }
    const done = traces.every((t) => t.done >= settings.steps);
    setStatus(done ? 'done' : 'running',
      done ? `Done: ${settings.steps} steps of ${names.length} methods.`
           : `Step ${traces[0].done} of ${settings.steps}…`);
    if (done) break;
  }
  fillResults();
}

function tailMedian(v) {
  const tail = Array.from(v.slice(v.length - Math.floor(v.length / 4))).sort((a, b) => a - b);
  return tail[Math.floor(tail.length / 2)];
}

function fmt(x) {
  return x === 0 ? '0' : x.toExponential(3);
}

function fillResults() {
  const body = $('results').querySelector('tbody');
  body.textContent = '';
  const results = {};
  for (const t of traces) {
    const g = t.gradNormSq;
    const final = g[g.length - 1];
    const median = tailMedian(g);
    results[t.method] = { gradNormSq: Array.from(g), points: Array.from(t.points), final, median };
    const tr = document.createElement('tr');
    tr.dataset.method = t.method;
    tr.innerHTML = `<td><span class="swatch" style="background:${t.style.color}"></span>${t.method}</td>` +
      `<td>${t.style.grads}</td><td>${t.style.depth}</td>` +
      `<td class="final" data-value="${final}">${fmt(final)}</td><td class="median">${fmt(median)}</td>`;
    body.appendChild(tr);
  }
  window.sampaResults = results;
}

// ---- convergence plot -------------------------------------------------------------------

function samPlateau() {
  const { eta, rho } = settings;
  return 4 * eta * eta * rho * rho / ((1 - eta) * (1 - eta));
}

function drawConvergence() {
  const c = $('conv');
  const ctx = c.getContext('2d');
  const W = c.width, H = c.height;
  const m = { l: 64, r: 118, t: 14, b: 46 };
  ctx.clearRect(0, 0, W, H);
  const steps = settings ? settings.steps : 200;
  let lo = Infinity, hi = -Infinity;
  for (const t of traces) for (const v of t.gradNormSq) {
    if (v > 0 && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  }
  if (!isFinite(lo)) { lo = 1e-6; hi = 10; }
  // GD reaches 0; below 1e-10 there is nothing to compare.
  let e0 = Math.floor(Math.log10(Math.max(lo, 1e-10)));
  let e1 = Math.ceil(Math.log10(hi));
  if (e1 <= e0) e1 = e0 + 1;
  const X = (t) => m.l + (W - m.l - m.r) * t / steps;
  const Y = (v) => {
    const e = Math.log10(Math.max(v, 10 ** e0));
    return H - m.b - (H - m.t - m.b) * (e - e0) / (e1 - e0);
  };
  // axes, grid and ticks
  ctx.strokeStyle = '#e3e6eb';
  ctx.fillStyle = '#1d2330';
  ctx.font = '12px system-ui, sans-serif';
  ctx.lineWidth = 1;
  const every = Math.max(1, Math.ceil((e1 - e0) / 8));
  ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
  for (let e = e0; e <= e1; e += every) {
    const y = Y(10 ** e);
    ctx.beginPath(); ctx.moveTo(m.l, y); ctx.lineTo(W - m.r, y); ctx.stroke();
    ctx.fillText(`1e${e}`, m.l - 6, y);
  }
  const xStep = niceStep(steps / 6);
  ctx.textAlign = 'center'; ctx.textBaseline = 'top';
  for (let t = 0; t <= steps; t += xStep) {
    const x = X(t);
    ctx.beginPath(); ctx.moveTo(x, m.t); ctx.lineTo(x, H - m.b); ctx.stroke();
    ctx.fillText(String(t), x, H - m.b + 5);
  }
  ctx.strokeStyle = '#1d2330';
  ctx.strokeRect(m.l, m.t, W - m.l - m.r, H - m.t - m.b);
  ctx.fillText('iteration t', (m.l + W - m.r) / 2, H - 20);
  ctx.save();
  ctx.translate(16, (m.t + H - m.b) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = 'middle';
  ctx.fillText('‖∇f(xₜ)‖²  (log scale)', 0, 0);
  ctx.restore();
  // SAM's closed-form level
  if (settings && settings.normalized && settings.curvature.length === 0 && settings.eta < 1) {
    const y = Y(samPlateau());
    ctx.save();
    ctx.setLineDash([5, 5]); ctx.strokeStyle = '#1f5fbf'; ctx.globalAlpha = 0.6;
    ctx.beginPath(); ctx.moveTo(m.l, y); ctx.lineTo(W - m.r, y); ctx.stroke();
    ctx.restore();
    ctx.textAlign = 'left'; ctx.textBaseline = 'middle'; ctx.fillStyle = '#1f5fbf';
    ctx.fillText('SAM 2-cycle', W - m.r + 6, y - 7);
    ctx.fillText('4η²ρ²/(1−η)²', W - m.r + 6, y + 8);
  }
  // lines
  ctx.save();
  ctx.beginPath(); ctx.rect(m.l, m.t, W - m.l - m.r, H - m.t - m.b); ctx.clip();
  // SAM last and thicker: its flat 2-cycle level would hide under the oscillating lines.
  const order = [...traces].sort((a, b) => (a.method === 'sam') - (b.method === 'sam'));
  for (const t of order) {
    ctx.strokeStyle = t.style.color; ctx.lineWidth = t.method === 'sam' ? 2.4 : 1.6;
    ctx.setLineDash(t.style.dash);
    ctx.beginPath();
    // A diverging method (too large an η for its dynamics) stops where it leaves the reals.
    let pen = false;
    t.gradNormSq.forEach((v, i) => {
      if (!isFinite(v)) { pen = false; return; }
      pen ? ctx.lineTo(X(i), Y(v)) : ctx.moveTo(X(i), Y(v));
      pen = true;
    });
    ctx.stroke();
  }
  ctx.restore();
  legend(ctx, W - m.r + 6, m.t);
}

function legend(ctx, x, y) {
  const items = traces.length ? traces.map((t) => [t.method, t.style]) : [];
  if (!items.length) return;
  const h = 17, w = 108;
  ctx.fillStyle = 'rgba(255,255,255,0.9)'; ctx.strokeStyle = '#d5d9e0'; ctx.setLineDash([]);
  ctx.fillRect(x, y, w, items.length * h + 8); ctx.strokeRect(x, y, w, items.length * h + 8);
  ctx.font = '12px system-ui, sans-serif'; ctx.textAlign = 'left'; ctx.textBaseline = 'middle';
  items.forEach(([name, s], i) => {
    const yy = y + 12 + i * h;
    ctx.strokeStyle = s.color; ctx.lineWidth = 2.2; ctx.setLineDash(s.dash);
    ctx.beginPath(); ctx.moveTo(x + 6, yy); ctx.lineTo(x + 28, yy); ctx.stroke();
    ctx.setLineDash([]); ctx.fillStyle = '#1d2330';
    ctx.fillText(name, x + 34, yy);
  });
}

// ---- paths over the contour lines ---------------------------------------------------------

function pathsFrame() {
  const s = settings || readSettings();
  const r = 1.25 * Math.max(Math.abs(s.x0[0]), Math.abs(s.x0[1]), 0.2);
  return { r, a: s.curvature.length ? s.curvature : [1, 1] };
}

function drawPaths() {
  const c = $('paths');
  const ctx = c.getContext('2d');
  const W = c.width, H = c.height, pad = 34;
  const { r, a } = pathsFrame();
  const S = (W - 2 * pad) / (2 * r);
  const px = (x) => W / 2 + x * S, py = (y) => H / 2 - y * S;
  ctx.clearRect(0, 0, W, H);
  // contour lines of f = a1 x² + a2 y², levels spaced geometrically
  ctx.strokeStyle = '#d9dde5'; ctx.lineWidth = 1; ctx.setLineDash([]);
  const fmax = a[0] * r * r + a[1] * r * r;
  for (let k = 0; k < 12; k++) {
    const f = fmax * 0.6 ** k;
    ctx.beginPath();
    ctx.ellipse(W / 2, H / 2, Math.sqrt(f / a[0]) * S, Math.sqrt(f / a[1]) * S, 0, 0, 2 * Math.PI);
    ctx.stroke();
  }
  // axes
  ctx.strokeStyle = '#aab1bd';
  ctx.beginPath(); ctx.moveTo(pad, H / 2); ctx.lineTo(W - pad, H / 2);
  ctx.moveTo(W / 2, pad); ctx.lineTo(W / 2, H - pad); ctx.stroke();
  ctx.fillStyle = '#1d2330'; ctx.font = '12px system-ui, sans-serif';
  ctx.textAlign = 'right'; ctx.textBaseline = 'bottom';
  ctx.fillText('x₁', W - pad, H / 2 - 4);
  ctx.textBaseline = 'top';
  ctx.textAlign = 'left';
  ctx.fillText('x₂', W / 2 + 4, pad - 14);
  ctx.textAlign = 'center';
  ctx.fillText(`${r.toFixed(2)}`, px(r), H / 2 + 4);
  ctx.fillText(`−${r.toFixed(2)}`, px(-r), H / 2 + 4);
  // paths
  for (const t of traces) {
    const p = t.points;
    ctx.strokeStyle = t.style.color; ctx.fillStyle = t.style.color;
    ctx.lineWidth = 1.3; ctx.setLineDash(t.style.dash);
    ctx.beginPath();
    for (let i = 0; i < p.length; i += 2) {
      i ? ctx.lineTo(px(p[i]), py(p[i + 1])) : ctx.moveTo(px(p[i]), py(p[i + 1]));
    }
    ctx.stroke();
    ctx.setLineDash([]);
    for (let i = 0; i < p.length; i += 2) {
      ctx.beginPath(); ctx.arc(px(p[i]), py(p[i + 1]), 1.8, 0, 2 * Math.PI); ctx.fill();
    }
  }
  // start point
  const s = settings || readSettings();
  ctx.fillStyle = '#1d2330';
  ctx.beginPath(); ctx.arc(px(s.x0[0]), py(s.x0[1]), 4, 0, 2 * Math.PI); ctx.fill();
  ctx.textAlign = 'left'; ctx.textBaseline = 'bottom';
  ctx.fillText('x₀', px(s.x0[0]) + 6, py(s.x0[1]) - 2);
}

function draw() {
  drawConvergence();
  drawPaths();
}

// ---- controls ---------------------------------------------------------------------------

function buildMethodBoxes() {
  const box = $('methods');
  for (const m of METHODS) {
    const label = document.createElement('label');
    label.innerHTML = `<input id="m-${m.id}" type="checkbox" ${m.on ? 'checked' : ''}>` +
      `<span class="swatch" style="background:${m.color}"></span>${m.label}`;
    box.appendChild(label);
  }
}

function applyQuery() {
  const q = new URLSearchParams(location.search);
  for (const id of ['eta', 'rho', 'lambda', 'steps', 'x1', 'x2']) if (q.has(id)) $(id).value = q.get(id);
  if (q.has('aniso')) $('aniso').checked = q.get('aniso') === '1';
  if (q.has('normalized')) $('normalized').checked = q.get('normalized') !== '0';
}

let pending = null;
function rerunSoon() {
  clearTimeout(pending);
  pending = setTimeout(run, 150);
}

async function main() {
  buildMethodBoxes();
  applyQuery();
  draw();
  const opened = await openWebGpu(init, openAdapter);
  if (!opened) return;
  // The browser describes its adapter better than wgpu can see through WebGPU.
  const { text, software } = describeAdapter(opened.info, opened.gpuInfo);
  $('adapter').textContent = text;
  $('adapter').dataset.software = String(software);
  $('controls').addEventListener('input', rerunSoon);
  $('paths').addEventListener('click', (ev) => {
    const c = $('paths');
    const rect = c.getBoundingClientRect();
    const W = c.width, pad = 34;
    const { r } = pathsFrame();
    const S = (W - 2 * pad) / (2 * r);
    const x = ((ev.clientX - rect.left) * (c.width / rect.width) - W / 2) / S;
    const y = (c.height / 2 - (ev.clientY - rect.top) * (c.height / rect.height)) / S;
    $('x1').value = x.toFixed(3);
    $('x2').value = y.toFixed(3);
    run();
  });
  await run();
}

main();
