// The dense matrix a convolution equals, drawn on a canvas: one row per output, one column per
// input, blank where no weight connects them, each weight in its own colour with its label,
// thick lines between channels (columns) and output maps (rows). Highlights are greys and a
// dark frame: weight colours are all saturated, so no weight looks highlighted.

import {el, fmt, weightColour} from "./common.js";

const MAX_SIDE = 880;   // the canvas is at most this wide/high (CSS pixels)
const GUTTER = 34;      // room for the y/x labels

const READABLE = 22;    // cells at least this big keep their labels (the box scrolls instead)

function layout(m) {
  const side = Math.max(m.cols, m.rows);
  const fit = Math.floor((MAX_SIDE - GUTTER) / side);
  const cell = Math.max(2, Math.min(30, side <= 96 ? Math.max(READABLE, fit) : fit));
  return {cell, x0: GUTTER, y0: GUTTER, width: GUTTER + cell * m.cols + 1,
          height: GUTTER + cell * m.rows + 1};
}

/** Draw matrix `m` (the API's sparse entries) on `canvas` and its weights in `legend`;
 *  `lit.rows` / `lit.cols` are highlighted, `lit.step` is the row being explained,
 *  `lit.planes` = [input cells per channel, outputs per map] places the channel lines. */
export function drawMatrix(canvas, legend, m, lit) {
  canvas.hidden = !m;
  if (!m) { legend.replaceChildren(); return; }
  const {cell, x0, y0, width, height} = layout(m);
  const ratio = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.fillStyle = "#fff";
  ctx.fillRect(x0, y0, cell * m.cols, cell * m.rows);
  const focus = lit.rows.size > 0 || lit.cols.size > 0;
  for (const r of lit.rows) band(ctx, x0, y0 + r * cell, cell * m.cols, cell, "#e6e6e6");
  for (const c of lit.cols) band(ctx, x0 + c * cell, y0, cell, cell * m.rows, "#e6e6e6");
  const stepRow = lit.step !== null && lit.step < m.rows;
  if (stepRow) band(ctx, x0, y0 + lit.step * cell, cell * m.cols, cell, "#cccccc");
  if (cell >= 6) {  // faint grid lines where they do not turn into a grey wash
    ctx.strokeStyle = "#eceff3";
    ctx.lineWidth = 1;
    ctx.beginPath();
    const [right, bottom] = [x0 + m.cols * cell, y0 + m.rows * cell];
    for (let r = 0; r <= m.rows; r++) line(ctx, x0, y0 + r * cell, right, y0 + r * cell);
    for (let c = 0; c <= m.cols; c++) line(ctx, x0 + c * cell, y0, x0 + c * cell, bottom);
    ctx.stroke();
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.font = `${Math.max(8, Math.min(12, cell * 0.42))}px system-ui, sans-serif`;
  m.entries.forEach(([r, c, p], i) => {
    const dim = focus && !(lit.rows.has(r) && (lit.cols.has(c) || lit.cols.size === 0))
      && !(lit.cols.has(c) && lit.rows.size === 0);
    ctx.globalAlpha = dim ? 0.35 : 1;
    ctx.fillStyle = weightColour(p);
    ctx.fillRect(x0 + c * cell + 0.5, y0 + r * cell + 0.5, cell - 1, cell - 1);
    if (cell >= 20) {
      ctx.fillStyle = "#1d2733";
      ctx.fillText(m.labels[i], x0 + (c + 0.5) * cell, y0 + (r + 0.5) * cell);
    }
  });
  ctx.globalAlpha = 1;
  ctx.strokeStyle = "#9aa5b1";
  ctx.strokeRect(x0 + 0.5, y0 + 0.5, cell * m.cols, cell * m.rows);
  const [perChannel, perMap] = lit.planes;
  ctx.strokeStyle = "#1d2733";
  ctx.lineWidth = 2;
  ctx.beginPath();
  for (let c = perChannel; c < m.cols; c += perChannel) {
    line(ctx, x0 + c * cell, y0 - 6, x0 + c * cell, y0 + m.rows * cell);
  }
  for (let r = perMap; r < m.rows; r += perMap) {
    line(ctx, x0 - 6, y0 + r * cell, x0 + m.cols * cell, y0 + r * cell);
  }
  ctx.stroke();
  if (stepRow) {  // the row being explained: a dark frame
    ctx.lineWidth = 2.5;
    ctx.strokeRect(x0 + 1, y0 + lit.step * cell + 1, cell * m.cols - 1, cell - 1);
  }
  ctx.lineWidth = 1;
  axisLabels(ctx, m, cell, x0, y0);
  drawLegend(legend, m);
}

function band(ctx, x, y, w, h, colour) {
  ctx.fillStyle = colour;
  ctx.fillRect(x, y, w, h);
}

function line(ctx, x1, y1, x2, y2) {
  ctx.moveTo(x1 + 0.5, y1 + 0.5);
  ctx.lineTo(x2 + 0.5, y2 + 0.5);
}

function axisLabels(ctx, m, cell, x0, y0) {
  ctx.fillStyle = "#52606d";
  ctx.font = "11px system-ui, sans-serif";
  const every = Math.ceil(20 / cell);  // keep labels from overlapping
  ctx.textAlign = "right";
  for (let r = 0; r < m.rows; r += every) ctx.fillText(`y${r + 1}`, x0 - 4, y0 + (r + 0.5) * cell);
  ctx.textAlign = "center";
  for (let c = 0; c < m.cols; c += every) ctx.fillText(`x${c + 1}`, x0 + (c + 0.5) * cell, y0 - 10);
}

const LEGEND_MAX = 64;

function drawLegend(legend, m) {
  const seen = new Map();
  m.entries.forEach(([, , p], i) => { if (!seen.has(p)) seen.set(p, [m.labels[i], m.values[i]]); });
  const items = [...seen].sort((a, b) => a[0] - b[0]);
  const chips = items.slice(0, LEGEND_MAX).map(([p, [label, value]]) => {
    const chip = el("span", {class: "chip"}, el("b", {text: label}), ` = ${fmt(value)}`);
    chip.style.background = weightColour(p);
    return chip;
  });
  if (items.length > LEGEND_MAX) chips.push(el("span", {class: "muted",
    text: `… and ${items.length - LEGEND_MAX} more weights`}));
  legend.replaceChildren(...chips);
}

/** The matrix cell under mouse event `e`, {row, col}, or null. */
export function matrixCellAt(canvas, m, e) {
  if (!m) return null;
  const {cell, x0, y0} = layout(m);
  const box = canvas.getBoundingClientRect();
  const col = Math.floor((e.clientX - box.left - x0) / cell);
  const row = Math.floor((e.clientY - box.top - y0) / cell);
  return row >= 0 && row < m.rows && col >= 0 && col < m.cols ? {row, col} : null;
}
