// Line charts on a canvas for the training page: labelled axes with round ticks, one
// coloured line (with markers where points are few) per series, and a legend.
// A series is {label, color, points: [[x, y], ...]}; the axes span every point, or the
// ranges given.

// The smallest of 1, 2, 5 or 10 times a power of ten that is at least `raw` (a tick step).
export function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-12)));
  for (const k of [1, 2, 5, 10]) if (k * p >= raw) return k * p;
  return 10 * p;
}

function tickLabel(v, step) {
  const digits = Math.max(0, -Math.floor(Math.log10(step)));
  return v.toFixed(Math.min(digits, 4));
}

// The range of coordinate `k` over every series' points, with `pad` of its span (at least
// `minSpan`) added on both sides, so that points at the extremes stay inside the frame.
function extent(series, k, given, pad = 0, minSpan = 1e-9) {
  if (given) return given;
  let lo = Infinity, hi = -Infinity;
  for (const s of series) for (const p of s.points) {
    if (isFinite(p[k])) { lo = Math.min(lo, p[k]); hi = Math.max(hi, p[k]); }
  }
  if (!isFinite(lo)) return [0, 1];
  const span = Math.max(hi - lo, minSpan);
  const mid = (lo + hi) / 2;
  return [mid - span * (0.5 + pad), mid + span * (0.5 + pad)];
}

// Draw `series` on `canvas` with axis titles `xLabel` and `yLabel`; `x` and `y` fix ranges,
// `yMinSpan` is the least span of a y range fitted to the points, `integerX` keeps x ticks
// on whole numbers (steps, epochs).
export function drawChart(canvas, { series, xLabel, yLabel, x, y, yMinSpan, integerX, title }) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width, H = canvas.height;
  const m = { l: 62, r: 16, t: 30, b: 46 };
  ctx.clearRect(0, 0, W, H);
  const [x0, x1] = extent(series, 0, x);
  const [y0, y1] = extent(series, 1, y, 0.08, yMinSpan || 1e-9);
  const X = (v) => m.l + (W - m.l - m.r) * (v - x0) / (x1 - x0);
  const Y = (v) => H - m.b - (H - m.t - m.b) * (v - y0) / (y1 - y0);
  ctx.font = '12px system-ui, sans-serif';
  ctx.fillStyle = '#1d2330';
  ctx.strokeStyle = '#e3e6eb';
  ctx.lineWidth = 1;
  if (title) {
    ctx.textAlign = 'left'; ctx.textBaseline = 'top';
    ctx.fillText(title, m.l, 8);
  }
  // grid and ticks
  const ys = niceStep((y1 - y0) / 6);
  ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
  for (let v = Math.ceil(y0 / ys) * ys; v <= y1 + 1e-9; v += ys) {
    ctx.beginPath(); ctx.moveTo(m.l, Y(v)); ctx.lineTo(W - m.r, Y(v)); ctx.stroke();
    ctx.fillText(tickLabel(v, ys), m.l - 6, Y(v));
  }
  const xs = integerX ? Math.max(1, niceStep((x1 - x0) / 6)) : niceStep((x1 - x0) / 6);
  ctx.textAlign = 'center'; ctx.textBaseline = 'top';
  for (let v = Math.ceil(x0 / xs) * xs; v <= x1 + 1e-9; v += xs) {
    ctx.beginPath(); ctx.moveTo(X(v), m.t); ctx.lineTo(X(v), H - m.b); ctx.stroke();
    ctx.fillText(tickLabel(v, xs), X(v), H - m.b + 5);
  }
  ctx.strokeStyle = '#1d2330';
  ctx.strokeRect(m.l, m.t, W - m.l - m.r, H - m.t - m.b);
  ctx.fillText(xLabel, (m.l + W - m.r) / 2, H - 20);
  ctx.save();
  ctx.translate(14, (m.t + H - m.b) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = 'middle';
  ctx.fillText(yLabel, 0, 0);
  ctx.restore();
  // lines, clipped to the plot area
  ctx.save();
  ctx.beginPath(); ctx.rect(m.l, m.t, W - m.l - m.r, H - m.t - m.b); ctx.clip();
  for (const s of series) {
    ctx.strokeStyle = s.color; ctx.fillStyle = s.color; ctx.lineWidth = 1.6;
    ctx.beginPath();
    s.points.forEach(([px, py], i) => (i ? ctx.lineTo(X(px), Y(py)) : ctx.moveTo(X(px), Y(py))));
    ctx.stroke();
    if (s.points.length <= 40) {
      for (const [px, py] of s.points) {
        ctx.beginPath(); ctx.arc(X(px), Y(py), 3.5, 0, 2 * Math.PI); ctx.fill();
      }
    }
  }
  ctx.restore();
  drawLegend(ctx, series, W - m.r - 8, m.t + 8);
}

// The legend, right-aligned at (right, top), on a white box over the lines.
function drawLegend(ctx, series, right, top) {
  if (series.length === 0) return;
  const row = 18;
  const width = 30 + Math.max(...series.map((s) => ctx.measureText(s.label).width));
  const left = right - width;
  ctx.fillStyle = 'rgba(255,255,255,0.9)';
  ctx.strokeStyle = '#d5d9e0';
  ctx.fillRect(left - 6, top - 4, width + 10, row * series.length + 6);
  ctx.strokeRect(left - 6, top - 4, width + 10, row * series.length + 6);
  ctx.textAlign = 'left'; ctx.textBaseline = 'middle';
  series.forEach((s, i) => {
    const y = top + row * i + row / 2 - 1;
    ctx.strokeStyle = s.color; ctx.lineWidth = 2.5;
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + 20, y); ctx.stroke();
    ctx.fillStyle = '#1d2330';
    ctx.fillText(s.label, left + 26, y);
  });
}
