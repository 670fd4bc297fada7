// The benchmark page: opens the browser's WebGPU adapter through the wasm module, runs the
// suite's browser part (src/web/bench.rs) and shows the report, which it offers as JSON.
// Test hooks: #status carries data-state = idle, running, done, error or no-webgpu;
// window.sampaBenchReport holds the report's JSON text once done; ?quick=1&autostart=1 starts
// the quick suite on load (quick=0 runs the full one), and only=matmul,dispatch runs those parts.
import init, { openAdapter, runBench } from './pkg/sampa.js';
import { $, setStatus, openWebGpu } from './common.js';

window.sampaBenchReport = null;

// Three significant digits, as the native tables print them.
function fig(v) {
  const a = Math.abs(v);
  if (a >= 100 || a === 0) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

function cell(row, text) {
  const td = document.createElement('td');
  td.textContent = text;
  row.appendChild(td);
}

function showAdapter(info, gpuInfo) {
  const body = $('adapter-info').querySelector('tbody');
  const rows = [['name', info.name], ['backend', info.backend], ['type', info.deviceType], ['driver', info.driver]];
  for (const [k, v] of Object.entries(gpuInfo)) rows.push(['GPUAdapterInfo.' + k, v]);
  for (const [k, v] of rows) {
    const tr = document.createElement('tr');
    cell(tr, k);
    cell(tr, String(v));
    body.appendChild(tr);
  }
}

function showReport(report) {
  const body = $('results').querySelector('tbody');
  body.textContent = '';
  for (const r of report.results) {
    const tr = document.createElement('tr');
    tr.dataset.suite = r.suite;
    tr.dataset.case = r.case;
    cell(tr, r.suite);
    cell(tr, r.case);
    if (r.host) {
      cell(tr, fig(r.host.median));
      cell(tr, `${fig(r.host.p10)}–${fig(r.host.p90)} (n ${r.host.n})`);
    } else {
      cell(tr, '-');
      cell(tr, '-');
    }
    cell(tr, r.unit);
    cell(tr, r.device ? fig(r.device.median) : '-');
    cell(tr, r.share_of_peak != null ? `${Math.round(100 * r.share_of_peak)}%` : '-');
    const notes = [];
    if (r.error) notes.push('not run: ' + r.error);
    if (r.extra && r.extra.sampa_over_sam != null) notes.push(`SAMPa/SAM ${r.extra.sampa_over_sam.toFixed(2)}`);
    if (r.extra && r.extra.examples_per_s != null) notes.push(`${fig(r.extra.examples_per_s)} examples/s`);
    cell(tr, notes.join(', '));
    body.appendChild(tr);
  }
}

const query = new URLSearchParams(location.search);

async function run(gpuInfo) {
  $('run').disabled = true;
  $('download').hidden = true;
  setStatus('running', 'Running…');
  const page = JSON.stringify({
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    userAgent: navigator.userAgent,
    cpus: navigator.hardwareConcurrency || 1,
    adapterInfo: gpuInfo,
  });
  try {
    const json = await runBench($('quick').checked, query.get('only') || '', page, (done, total, what) => {
      $('progress').max = total;
      $('progress').value = done;
      $('status').textContent = `Running: ${done}/${total} samples (${what})`;
    });
    const report = JSON.parse(json);
    showReport(report);
    window.sampaBenchReport = json;
    const link = $('download');
    link.href = URL.createObjectURL(new Blob([json], { type: 'application/json' }));
    link.hidden = false;
    const failed = report.results.filter((r) => r.error).length;
    setStatus('done', `Done: ${report.results.length} results` + (failed ? `, ${failed} could not run (see notes)` : '') + '.');
  } catch (e) {
    setStatus('error', 'The benchmark failed: ' + e);
  }
  $('run').disabled = false;
}

async function main() {
  const opened = await openWebGpu(init, openAdapter);
  if (!opened) return;
  const { info, gpuInfo } = opened;
  $('adapter').textContent = `Adapter: ${info.name || gpuInfo.description || 'unnamed'} (WebGPU, ${info.deviceType})`;
  showAdapter(info, gpuInfo);
  const q = query;
  if (q.has('quick')) $('quick').checked = q.get('quick') !== '0';
  $('run').disabled = false;
  $('run').addEventListener('click', () => run(gpuInfo));
  setStatus('idle', 'Ready.');
  if (q.get('autostart') === '1') run(gpuInfo);
}

main();
