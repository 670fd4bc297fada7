// What the demo's pages share: the #status line their tests read, the fallback shown without
// WebGPU, the browser's own description of its adapter (GPUAdapterInfo), which says more
// than wgpu can see through WebGPU, and whether that adapter is a fallback or software one.

export const $ = (id) => document.getElementById(id);

export function setStatus(state, text) {
  const s = $('status');
  s.dataset.state = state;
  s.textContent = text;
}

// A panic in the wasm module is a bug, not bad input, and it aborts the module: its panic hook
// (src/web/mod.rs) calls this, so the page says it stopped and why instead of waiting forever.
globalThis.sampaPanicked = (message) =>
  setStatus('error', `The page stopped on an internal error (please report it): ${message}`);

// What a page without WebGPU says: why, and which browsers have WebGPU and how to turn it on.
const FALLBACK = `
  <h2>This page needs WebGPU</h2>
  <p><span id="fallback-needs"></span>, and this browser did not give it a WebGPU adapter
  (<span id="fallback-reason"></span>).</p>
  <ul>
    <li>Chrome and Edge 113 or later have WebGPU on Windows, macOS and ChromeOS, and Chrome 121 or later on Android.</li>
    <li>On Linux, start Chrome or Chromium with <code>--enable-unsafe-webgpu</code>, or turn on
    <code>chrome://flags/#enable-unsafe-webgpu</code>.</li>
    <li>Safari 26 and Firefox 141 (Windows) and later ship WebGPU too; older versions need it switched on
    in their experimental features.</li>
  </ul>`;

export function showFallback(reason) {
  const f = $('fallback');
  f.innerHTML = FALLBACK;
  $('fallback-needs').textContent = f.dataset.needs;
  f.hidden = false;
  $('fallback-reason').textContent = reason;
  $('demo').hidden = true;
  $('adapter').textContent = 'No WebGPU adapter.';
  setStatus('no-webgpu', 'WebGPU is unavailable: ' + reason);
}

// The GPUAdapterInfo fields the browser gives (strings), and whether it is a fallback adapter.
export async function browserAdapterInfo() {
  const out = {};
  try {
    const a = await navigator.gpu.requestAdapter();
    const i = (a && a.info) || {};
    for (const k of ['vendor', 'architecture', 'device', 'description', 'subgroupMinSize', 'subgroupMaxSize']) {
      if (i[k] !== undefined && i[k] !== '') out[k] = String(i[k]);
    }
    if (i.isFallbackAdapter || (a && a.isFallbackAdapter)) out.isFallbackAdapter = 'true';
  } catch (_) { /* the wasm module's adapter is what counts */ }
  return out;
}

// Start a page on WebGPU: the wasm module (`init`), then its adapter (`openAdapter`). Resolves
// to {info, gpuInfo} (wgpu's and the browser's description), or to null after showing the
// fallback when the browser has no WebGPU or the module does not load. `mark` hears of each
// stage ('wasm', 'device') as it ends, for a page's start-up timings.
export async function openWebGpu(init, openAdapter, mark = () => {}) {
  if (!navigator.gpu) {
    showFallback('navigator.gpu is missing');
    return null;
  }
  try {
    await init();
    mark('wasm');
  } catch (e) {
    showFallback('the wasm module did not load: ' + e);
    return null;
  }
  let info;
  try {
    info = await openAdapter();
    mark('device');
  } catch (e) {
    showFallback(String(e));
    return null;
  }
  return { info, gpuInfo: await browserAdapterInfo() };
}

// The adapter line a page shows: its name and type, and a warning when it is a fallback or
// software adapter (the "GPU" work then runs on the CPU, far slower than on a GPU).
export function describeAdapter(info, gpuInfo) {
  const i = gpuInfo;
  const fallback = i.isFallbackAdapter === 'true';
  const name = info.name || [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ');
  const software = fallback || info.deviceType === 'Cpu' ||
    /swiftshader|llvmpipe|lavapipe|software/i.test(name + ' ' + info.driver);
  const text = `Adapter: ${name || 'unnamed'} (WebGPU, ${info.deviceType})` +
    (software ? ' — a fallback/software adapter: the GPU work runs on the CPU.' : '');
  return { text, software };
}
