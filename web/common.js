// What the demo's pages share: the #status line their tests read, the fallback shown without
// WebGPU, and the browser's own description of its adapter (GPUAdapterInfo), which says more
// than wgpu can see through WebGPU.

export const $ = (id) => document.getElementById(id);

export function setStatus(state, text) {
  const s = $('status');
  s.dataset.state = state;
  s.textContent = text;
}

export function showFallback(reason) {
  $('fallback').hidden = false;
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
// fallback when the browser has no WebGPU or the module does not load.
export async function openWebGpu(init, openAdapter) {
  if (!navigator.gpu) {
    showFallback('navigator.gpu is missing');
    return null;
  }
  try {
    await init();
  } catch (e) {
    showFallback('the wasm module did not load: ' + e);
    return null;
  }
  let info;
  try {
    info = await openAdapter();
  } catch (e) {
    showFallback(String(e));
    return null;
  }
  return { info, gpuInfo: await browserAdapterInfo() };
}
