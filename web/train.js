// The training page: decodes the Fashion-MNIST subset in wasm once, then trains the chosen
// optimizers one after another through TrainSession (src/web/train.rs), a few steps per
// awaited call so that the page never freezes, drawing the curves, the results and a grid of
// predictions as events arrive.
// Test hooks (keep them stable): #status data-state = idle, running, done, error or
// no-webgpu; #results rows with data-optimizer, data-steps, data-test-acc (%),
// data-test-loss, data-ms-per-step; the query string takes `sampa train`'s flag names plus
// optimizers and autostart=1. window.sampaTrain holds firstStepMs (page load to the first
// step), marks (ms from navigation to each start-up stage), longestTaskMs (the longest
// main-thread task while training) and longTasks, lossPoints() (points on the loss curves),
// weightsBase64(run) and loseDevice() (destroys the device, as a driver reset would).
import init, { openAdapter, parseSettings, TrainData, TrainSession, destroyDevice, deviceLost, warmUp } from './pkg/sampa.js';
import { $, setStatus, openWebGpu, describeAdapter } from './common.js';
import { drawChart } from './chart.js';

const COLORS = ['#8a8f98', '#1f5fbf', '#1b9e77', '#e66101', '#6a3d9a', '#c51b1b'];
const CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt',
  'Sneaker', 'Bag', 'Ankle boot'];
const DATA = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
  't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'];
// Steps per awaited call: each step awaits its own readback, so the page yields at every
// step; a chunk bounds how often the curves are redrawn.
const CHUNK = 4;
const FORM = ['model', 'optimizers', 'epochs', 'batch', 'base', 'lr', 'rho', 'lambda', 'seed', 'schedule'];

const state = { session: null, paused: false, looping: false, runs: [], settings: null };
window.sampaTrain = {
  firstStepMs: null, longestTaskMs: 0, marks: {}, longTasks: [], weightsBase64: null, loseDevice: () => destroyDevice(),
  // Points on the loss curves (what a failed run keeps on screen).
  lossPoints: () => state.runs.reduce((n, r) => n + r.losses.length, 0),
};

// Milliseconds from navigation start to each stage of the start-up, for the page's test.
function mark(what) {
  window.sampaTrain.marks[what] ??= Math.round(performance.now());
}

// The longest main-thread task while a run is training (the page's responsiveness). The
// observer hears of a task after it ended, so each is matched to the training intervals.
const training = [];
function whileTraining(e) {
  return training.some(([a, b]) => e.startTime + e.duration >= a && (b === null || e.startTime <= b));
}
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const during = whileTraining(e);
      window.sampaTrain.longTasks.push([Math.round(e.startTime), Math.round(e.duration), during]);
      if (during) window.sampaTrain.longestTaskMs = Math.max(window.sampaTrain.longestTaskMs, e.duration);
    }
  }).observe({ type: 'longtask', buffered: true });
} catch (_) { /* browsers without long-task timing still train */ }

// Let the browser run its other tasks (input, drawing) before going on: promise callbacks
// alone would chain the start-up's stages into one long task.
const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

// The data, fetched once per page load (from the start, while the wasm module loads) and
// decoded in wasm once the module is ready.
const files = Promise.all(DATA.map(async (f) => {
  const r = await fetch('pkg/data/' + f);
  if (!r.ok) throw new Error(`pkg/data/${f}: HTTP ${r.status} (run web/build.sh)`);
  return new Uint8Array(await r.arrayBuffer());
}));
let dataPromise = null;
function loadData() {
  dataPromise ??= files.then(async (bytes) => {
    mark('fetched');
    await nextTask();
    const d = new TrainData(location.origin + '/pkg/data', ...bytes);
    mark('decoded');
    return d;
  });
  return dataPromise;
}

// The query the session reads: the page's own parameters (autostart) left out.
function settingsQuery(params) {
  const q = new URLSearchParams(params);
  q.delete('autostart');
  return q.toString();
}

function fillForm(settings, optimizers) {
  // The base optimizers are the library's list, so a new base appears here by itself.
  if ($('base').options.length === 0) {
    for (const b of settings.bases) $('base').add(new Option(b, b));
  }
  for (const k of FORM) $(k).value = settings[k];
  $('optimizers').value = optimizers;
}

function formQuery() {
  const q = new URLSearchParams();
  // hidden, betas, eps, wd, no-wd-1d, vasso-theta, m-sharpness, the variants' own settings and
  // SGD's momentum have no field: they keep the loaded query's values (momentum only for SGD,
  // the one base that has it).
  for (const k of ['hidden', 'betas', 'eps', 'wd']) q.set(k, state.settings[k]);
  if (state.settings['no-wd-1d']) q.set('no-wd-1d', '1');
  for (const k of ['vasso-theta', 'm-sharpness']) {
    if (state.settings[k] != null) q.set(k, state.settings[k]);
  }
  for (const [k, v] of Object.entries(state.settings.variants || {})) q.set(k, v);
  if ($('base').value === 'sgd') q.set('momentum', state.settings.momentum);
  for (const k of FORM) q.set(k, String($(k).value).trim());
  return q.toString();
}

function draw() {
  const series = (f) => state.runs.map((r) => ({ label: r.id, color: r.color, points: f(r) }));
  drawChart($('loss'), { series: series((r) => r.losses), xLabel: 'step', yLabel: 'training loss', integerX: true });
  const epochs = Number(state.settings ? state.settings.epochs : 1);
  // Whole epochs on the x axis, half an epoch to spare on each side so that the points show.
  drawChart($('accuracy'), {
    series: series((r) => r.accs), xLabel: 'epoch', yLabel: 'test accuracy (%)',
    x: [0.5, epochs + 0.5], yMinSpan: 4, integerX: true,
  });
}

let drawPending = false;
function drawSoon() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => { drawPending = false; draw(); });
}

function handle(ev) {
  if (ev.kind === 'started') {
    mark('started');
    state.runs[ev.run] = { id: ev.optimizer, color: COLORS[ev.run % COLORS.length], losses: [], accs: [] };
    const how = ev.measured.length
      ? ` (auto measured ${ev.measured.map(([s, ms]) => `${s} ${ms.toFixed(0)} ms`).join(', ')})` : '';
    setStatus('running', `Training ${ev.optimizer} under the ${ev.schedule} schedule${how}…`);
  } else if (ev.kind === 'step') {
    state.runs[ev.run].losses.push([ev.step, ev.loss]);
    window.sampaTrain.firstStepMs ??= performance.now();
    $('status').textContent = `Training ${state.runs[ev.run].id}: epoch ${ev.epoch}, step ${ev.step}, loss ${ev.loss.toFixed(4)}`;
  } else if (ev.kind === 'epoch') {
    state.runs[ev.run].accs.push([ev.result.epoch, 100 * ev.result.test_acc]);
    drawGrid(ev.predicted, `${state.runs[ev.run].id} after epoch ${ev.result.epoch} (green: right, red: wrong)`);
  } else if (ev.kind === 'finished') {
    addResult(ev.run, JSON.parse(state.session.finished())[ev.run]);
  }
}

function cell(tr, text) {
  const td = document.createElement('td');
  td.textContent = text;
  tr.appendChild(td);
  return td;
}

function addResult(run, f) {
  const last = f.epochs[f.epochs.length - 1];
  const tr = document.createElement('tr');
  Object.assign(tr.dataset, {
    optimizer: f.optimizer, steps: f.steps, testAcc: (100 * last.test_acc).toFixed(2),
    testLoss: last.test_loss.toFixed(5), msPerStep: f.ms_per_step.toFixed(2),
  });
  cell(tr, '').innerHTML = `<span class="swatch" style="background:${state.runs[run].color}"></span>${f.optimizer}`;
  for (const v of [f.schedule, f.steps, f.grads, f.depth, `${(100 * last.test_acc).toFixed(2)}%`,
    last.test_loss.toFixed(4), f.ms_per_step.toFixed(1), f.examples_per_s.toFixed(0)]) cell(tr, String(v));
  const a = document.createElement('a');
  a.textContent = 'safetensors';
  a.download = `sampa-${state.settings.model}-${f.optimizer}.safetensors`;
  a.href = URL.createObjectURL(new Blob([state.session.weights(run)], { type: 'application/octet-stream' }));
  cell(tr, '').appendChild(a);
  $('results').querySelector('tbody').appendChild(tr);
}

let grid = null;
function drawGrid(predicted, title) {
  const c = $('grid'), ctx = c.getContext('2d');
  const { width: w, height: h, pixels, labels } = grid;
  const cols = 8, cellW = c.width / cols, scale = 3;
  const img = ctx.createImageData(w, h);
  ctx.clearRect(0, 0, c.width, c.height);
  ctx.font = '12px system-ui, sans-serif'; ctx.textAlign = 'center'; ctx.textBaseline = 'top';
  labels.forEach((label, i) => {
    for (let p = 0; p < w * h; p++) {
      const v = pixels[i * w * h + p];
      img.data.set([v, v, v, 255], 4 * p);
    }
    const x = (i % cols) * cellW, y = Math.floor(i / cols) * 130;
    const tmp = new OffscreenCanvas(w, h);
    tmp.getContext('2d').putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tmp, x + (cellW - w * scale) / 2, y + 4, w * scale, h * scale);
    const p = predicted ? predicted[i] : null;
    ctx.fillStyle = p === null ? '#5a6372' : p === label ? '#1b7a3d' : '#b3261e';
    ctx.fillText(p === null ? '?' : CLASSES[p], x + cellW / 2, y + 8 + h * scale);
    ctx.fillStyle = '#5a6372';
    ctx.fillText(`true: ${CLASSES[label]}`, x + cellW / 2, y + 24 + h * scale);
  });
  $('grid-title').textContent = title;
}

function setButtons(running) {
  $('start').disabled = running;
  $('pause').disabled = !running && !state.paused;
  $('reset').disabled = !state.session;
  $('pause').textContent = state.paused ? 'Resume' : 'Pause';
}

async function start() {
  reset();
  let data;
  try {
    state.settings = JSON.parse(parseSettings(formQuery()));
    setStatus('running', 'Loading the data…');
    data = await loadData();
    await nextTask();
    state.session = new TrainSession(formQuery(), data);
    mark('session');
    await nextTask();
  } catch (e) {
    setStatus('error', 'Cannot start: ' + e);
    setButtons(false);
    return;
  }
  grid = data.gridImages();
  drawGrid(null, 'predictions appear after the first epoch');
  loop();
}

async function loop() {
  const mine = state.session;
  state.paused = false;
  state.looping = true;
  training.push([performance.now(), null]);
  setButtons(true);
  try {
    while (state.session === mine && !state.paused && !mine.done) {
      // The first step alone, so that the curves begin as soon as the kernels are ready.
      const events = JSON.parse(await mine.advance(window.sampaTrain.firstStepMs === null ? 1 : CHUNK));
      if (state.session !== mine) return; // reset meanwhile
      events.forEach(handle);
      drawSoon();
    }
  } catch (e) {
    // The curves drawn so far stay; the run stops with what went wrong. A lost device is
    // announced after the readback it broke has failed: give the browser a moment to say so.
    for (let i = 0; i < 10 && !deviceLost(); i++) await new Promise((r) => setTimeout(r, 50));
    const lost = deviceLost();
    const message = String(e).includes('device was lost') || !lost ? String(e)
      : `the GPU device was lost (${lost}); ${e}`;
    setStatus('error', 'Training stopped: ' + message + '. Reload the page to start again.');
    state.session = mine;
    setButtons(false);
    return;
  } finally {
    training[training.length - 1][1] = performance.now();
    state.looping = false;
  }
  if (state.session !== mine) return;
  if (mine.done) {
    const n = state.runs.length;
    setStatus('done', `Done: ${n} optimizer${n === 1 ? '' : 's'}, ${state.settings.epochs} epoch(s) each.`);
    state.paused = false;
    setButtons(false);
  } else {
    setStatus('idle', 'Paused: Resume continues where it stopped.');
    setButtons(false);
  }
}

function reset() {
  if (state.session) state.session.free?.();
  state.session = null;
  state.paused = false;
  state.runs = [];
  $('results').querySelector('tbody').textContent = '';
  draw();
  setStatus('idle', 'Ready.');
  setButtons(false);
}

window.sampaTrain.weightsBase64 = (run) => {
  const bytes = state.session.weights(run);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
};

async function main() {
  draw();
  const opened = await openWebGpu(init, openAdapter, mark);
  if (!opened) return;
  mark('adapter');
  const { text, software } = describeAdapter(opened.info, opened.gpuInfo);
  $('adapter').textContent = text;
  $('adapter').dataset.software = String(software);
  const params = new URLSearchParams(location.search);
  try {
    state.settings = JSON.parse(parseSettings(settingsQuery(params)));
  } catch (e) {
    setStatus('error', 'Bad setting in the address: ' + e);
    return;
  }
  fillForm(state.settings, params.get('optimizers') || 'sgd,sam,sampa');
  // The kernels compile on the GPU's side while the data is decoded here.
  nextTask().then(() => warmUp(settingsQuery(params))).then(() => mark('warm'), () => {});
  loadData().catch((e) => setStatus('error', 'Cannot load the data: ' + e));
  $('start').addEventListener('click', start);
  $('pause').addEventListener('click', () => {
    // A pause takes effect after the steps in flight; a resume before then just carries on.
    if (!state.paused) state.paused = true;
    else if (state.looping) state.paused = false;
    else loop();
    setButtons(!state.paused);
  });
  $('reset').addEventListener('click', reset);
  setStatus('idle', 'Ready.');
  setButtons(false);
  if (params.get('autostart') === '1') start();
}

main();
