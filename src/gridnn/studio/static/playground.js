// The convolution playground: holds the editable problem (input, kernels, bias, geometry),
// sends it to /api/playground/conv and /api/playground/window, and draws the answers.
// Nothing is computed here: outputs, windows, products, equations, the dense matrix and the
// counts all come from gridnn through the API.

import {api, el, fmt, renderNav} from "./common.js";
import {drawMatrix, matrixCellAt} from "./playground_matrix.js";
import {
  markInput, markOutput, renderInput, renderKernels, renderOutput, renderProducts,
} from "./playground_view.js";

const $ = (id) => document.getElementById(id);

const state = {
  dims: 2, input: [], kernels: [], bias: [], stride: 1, padding: "valid", dilation: 1,
  share: true,
};
let presets = null;   // GET /api/playground/presets
let result = null;    // last /conv answer
let step = null;      // output row being explained, or null: every output shown
let windowInfo = null;
let hover = null;     // {row} or {col}: what the mouse points at
let timer = null;     // play
let requestId = 0;

// ---- small array helpers (shapes of the editable state, not maths) ----------------------
const zeros = (shape) => shape.length === 1 ? Array(shape[0]).fill(0)
  : Array.from({length: shape[0]}, () => zeros(shape.slice(1)));
const shapeOf = (a) => Array.isArray(a) ? [a.length, ...shapeOf(a[0])] : [];
/** `a` resized to `shape`: kept where it overlaps, zeros elsewhere. */
function resize(a, shape) {
  if (shape.length === 0) return typeof a === "number" ? a : 0;
  return Array.from({length: shape[0]}, (_, i) =>
    resize(Array.isArray(a) && i < a.length ? a[i] : undefined, shape.slice(1)));
}
function unravel(index, shape) {
  const out = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    out.unshift(index % shape[d]);
    index = Math.floor(index / shape[d]);
  }
  return out;
}
const ravel = (idx, shape) => idx.reduce((flat, i, d) => flat * shape[d] + i, 0);

function options(select, values, labels = values) {
  select.replaceChildren(...values.map((v, i) => el("option", {value: v, text: labels[i]})));
}
const range = (lo, hi) => Array.from({length: hi - lo + 1}, (_, i) => lo + i);

// ---- the problem ---------------------------------------------------------------------------
function spatial() { return shapeOf(state.input).slice(1); }
function kernelSize() { return shapeOf(state.kernels).slice(2); }

function loadInputPreset(name) {
  const preset = presets.inputs[name];
  state.dims = preset.dims;
  state.input = preset.data.map((channel) => structuredClone(channel));
  const kernelName = Object.keys(presets.kernels).find((k) => presets.kernels[k].dims === state.dims
    && (state.dims === 1 || k === "lecture"));
  const k = state.kernels.length || 1;
  state.kernels = [];
  setKernelCount(k, kernelName);
}

function kernelFromPreset(name) {
  const data = presets.kernels[name].data;
  return state.input.map(() => structuredClone(data));  // the same slice on every channel
}

function setKernelCount(k, presetName) {
  const names = Object.keys(presets.kernels).filter((n) => presets.kernels[n].dims === state.dims);
  const first = presetName ?? names[0];
  const size = state.kernels.length ? kernelSize() : shapeOf(presets.kernels[first].data);
  const kernels = [];
  for (let i = 0; i < k; i++) {
    kernels.push(i < state.kernels.length ? state.kernels[i]
      : resize(kernelFromPreset(i === 0 ? first : names[i % names.length]),
               [state.input.length, ...size]));
  }
  state.kernels = kernels;
  state.bias = range(0, k - 1).map((i) => state.bias[i] ?? 0);
}

function body() {
  return {input: state.input, kernels: state.kernels, bias: state.bias, stride: state.stride,
          padding: state.padding, dilation: state.dilation, share: state.share};
}

// ---- controls ------------------------------------------------------------------------------
function syncControls() {
  const [rows, cols] = state.dims === 2 ? spatial() : [1, spatial()[0]];
  $("dims").value = String(state.dims);
  $("rows-label").hidden = state.dims === 1;
  $("kh-label").hidden = state.dims === 1;
  $("cols-name").textContent = state.dims === 1 ? "length" : "cols";
  $("kw-name").textContent = state.dims === 1 ? "size" : "width";
  const lim = presets.limits;
  $("rows").max = lim.side_2d;
  $("cols").min = state.dims === 1 ? lim.length_1d[0] : 1;
  $("cols").max = state.dims === 1 ? lim.length_1d[1] : lim.side_2d;
  $("rows").value = rows;
  $("cols").value = cols;
  $("channels").value = String(state.input.length);
  $("n-kernels").value = String(state.kernels.length);
  const ks = kernelSize();
  $("kh").value = String(state.dims === 2 ? ks[0] : 1);
  $("kw").value = String(ks[ks.length - 1]);
  $("stride").value = String(state.stride);
  $("padding").value = String(state.padding);
  $("dilation").value = String(state.dilation);
  $("share").checked = state.share;
  $("share-note").textContent = state.share ? "(convolution)" : "(locally connected layer)";
}

function setupControls() {
  const lim = presets.limits;
  options($("input-preset"), ["custom", ...Object.keys(presets.inputs)],
          ["(edited)", ...Object.values(presets.inputs).map((p) => p.label)]);
  options($("channels"), range(1, lim.channels));
  options($("n-kernels"), range(1, lim.kernels));
  options($("kh"), range(1, lim.kernel_side));
  options($("kw"), range(1, lim.kernel_side));
  options($("stride"), range(1, lim.stride));
  options($("dilation"), range(1, lim.dilation));
  options($("padding"), ["valid", "same", ...range(0, lim.padding)]);

  $("input-preset").addEventListener("change", (e) => {
    if (e.target.value === "custom") return;
    loadInputPreset(e.target.value);
    changed();
  });
  $("dims").addEventListener("change", (e) => {
    const name = Object.keys(presets.inputs).find((n) => presets.inputs[n].dims === +e.target.value);
    $("input-preset").value = name;
    loadInputPreset(name);
    changed();
  });
  const resizeInput = () => {
    const rows = +$("rows").value, cols = +$("cols").value;
    if (!(rows >= 1 && cols >= 1)) return;
    state.input = state.input.map((ch) => state.dims === 2 ? resize(ch, [rows, cols])
      : resize(ch, [cols]));
    edited();
  };
  $("rows").addEventListener("change", resizeInput);
  $("cols").addEventListener("change", resizeInput);
  $("channels").addEventListener("change", (e) => {
    const c = +e.target.value;
    // A new channel starts as a copy of the first, so a multi-channel example has content.
    state.input = range(0, c - 1).map((i) => state.input[i] ?? structuredClone(state.input[0]));
    state.kernels = state.kernels.map((k) => range(0, c - 1).map(
      (i) => k[i] ?? structuredClone(k[0])));
    edited();
  });
  $("n-kernels").addEventListener("change", (e) => { setKernelCount(+e.target.value); changed(); });
  const resizeKernels = () => {
    const size = state.dims === 2 ? [+$("kh").value, +$("kw").value] : [+$("kw").value];
    state.kernels = state.kernels.map((k) => k.map((ch) => resize(ch, size)));
    changed();
  };
  $("kh").addEventListener("change", resizeKernels);
  $("kw").addEventListener("change", resizeKernels);
  for (const name of ["stride", "dilation"]) {
    $(name).addEventListener("change", (e) => { state[name] = +e.target.value; changed(); });
  }
  $("padding").addEventListener("change", (e) => {
    const v = e.target.value;
    state.padding = v === "valid" || v === "same" ? v : +v;
    changed();
  });
  $("share").addEventListener("change", (e) => { state.share = e.target.checked; changed(); });

  $("step-next").addEventListener("click", () => goTo(step === null ? 0 : step + 1));
  $("step-prev").addEventListener("click", () => goTo(step === null ? 0 : step - 1));
  $("scrub").addEventListener("input", (e) => goTo(+e.target.value));
  $("show-all").addEventListener("click", () => { stopPlay(); goTo(null); });
  $("play").addEventListener("click", () => (timer ? stopPlay() : startPlay()));
}

function startPlay() {
  $("play").textContent = "pause";
  if (step === null || step >= rowCount() - 1) goTo(0);
  timer = setInterval(() => {
    if (step >= rowCount() - 1) stopPlay(); else goTo(step + 1);
  }, 700);
}

function stopPlay() {
  clearInterval(timer);
  timer = null;
  $("play").textContent = "play";
}

// ---- talking to the server -----------------------------------------------------------------
function edited() {
  $("input-preset").value = "custom";
  changed();
}

/** The state changed: redraw the editors now, ask the server, then draw its answer. */
async function changed() {
  syncControls();
  drawEditors();
  const id = ++requestId;
  try {
    const answer = await api("/api/playground/conv", body());
    if (id !== requestId) return;
    result = answer;
    showError(null);
    if (step !== null && step >= rowCount()) step = rowCount() - 1;
    await showStep();
  } catch (error) {
    if (id === requestId) showError(error);
  }
}

async function goTo(row) {
  if (!result) return;
  step = row === null ? null : Math.max(0, Math.min(rowCount() - 1, row));
  await showStep();
}

async function showStep() {
  windowInfo = null;
  if (step !== null) {
    const id = requestId;
    const position = unravel(step, result.output_shape);
    const answer = await api("/api/playground/window", {...body(), position});
    if (id !== requestId) return;
    windowInfo = answer;
  }
  draw();
}

function showError(error) {
  $("error").hidden = !error;
  $("error").textContent = error ? `${error.field ? error.field + ": " : ""}${error.message}` : "";
}

const rowCount = () => result.output_shape.reduce((a, b) => a * b, 1);

// ---- drawing -------------------------------------------------------------------------------
function drawEditors() {
  renderKernels($("kernel-grids"), state, {
    onCell: (k, c, idx, value) => { setAt(state.kernels[k][c], idx, value); changed(); },
    onBias: (k, value) => { state.bias[k] = value; changed(); },
    onPreset: (k, name) => {
      state.kernels[k] = resize(kernelFromPreset(name), [state.input.length, ...kernelSize()]);
      if (k === 0) {  // the first kernel's preset sets the kernel size of all
        const size = shapeOf(presets.kernels[name].data);
        state.kernels = state.kernels.map((kk, i) => i === 0 ? kernelFromPreset(name)
          : kk.map((ch) => resize(ch, size)));
      }
      changed();
    },
    presets: Object.entries(presets.kernels).filter(([, p]) => p.dims === state.dims),
  });
  $("kernel-shape").textContent = `(${shapeOf(state.kernels).join(", ")})`;
}

function setAt(array, idx, value) {
  let a = array;
  for (const i of idx.slice(0, -1)) a = a[i];
  a[idx[idx.length - 1]] = value;
}

/** Input cells, output rows and matrix parts to highlight for the hovered row/column. */
function highlights() {
  const m = result.matrix;
  const rows = new Set(), cols = new Set();
  if (hover && m) {
    for (const [r, c] of m.entries) {
      if (hover.row === r) cols.add(c);
      if (hover.col === c) rows.add(r);
    }
    if (hover.row !== undefined) rows.add(hover.row);
    if (hover.col !== undefined) cols.add(hover.col);
  }
  const inShape = result.input_shape;
  return {rows, cols, cells: [...cols].map((c) => unravel(c, inShape)),
          outputs: [...rows].map((r) => unravel(r, result.output_shape))};
}

/** Redraw everything the last answer and the current step show. */
function draw() {
  if (!result) return;
  const inShape = result.input_shape;
  // Long 1-D signals and wide images get the full page width; small ones sit beside the rest.
  const padded = inShape[inShape.length - 1] + result.pads[result.pads.length - 1][0]
    + result.pads[result.pads.length - 1][1];
  $("stage").classList.toggle("wide", state.dims === 1 || padded > 12);
  renderInput($("input-grids"), state, result, {
    onCell: (c, idx, value) => { setAt(state.input[c], idx, value); edited(); },
    onHover: (c, idx) => setHover(idx ? {col: ravel([c, ...idx], inShape)} : null),
  });
  renderOutput($("output-grids"), result, {
    onClick: (position) => { stopPlay(); goTo(ravel(position, result.output_shape)); },
    onHover: (position) => setHover(position
      ? {row: ravel(position, result.output_shape)} : null),
  });
  $("input-shape").textContent = `(${inShape.join(", ")})`;
  $("output-shape").textContent = `(${result.output_shape.join(", ")})`;
  $("scrub").max = String(rowCount() - 1);
  $("scrub").value = String(step ?? 0);
  $("position").textContent = step === null ? "Every output shown. Step to follow the window."
    : `output y${step + 1} of ${rowCount()}: kernel ${windowInfo.position[0] + 1}, position `
      + `(${windowInfo.position.slice(1).join(", ")}), value ${fmt(windowInfo.y)}`;
  $("window-panel").hidden = !windowInfo;
  if (windowInfo) {
    renderProducts($("products"), windowInfo, kernelSize());
    $("equation").textContent = windowInfo.equation;
    $("numeric").textContent = windowInfo.numeric;
  }
  drawCounts();
  $("matrix-note").hidden = !result.matrix_note;
  $("matrix-note").textContent = result.matrix_note ?? "";
  drawHighlights();
}

function setHover(next) {
  if (JSON.stringify(next) === JSON.stringify(hover)) return;
  hover = next;
  drawHighlights();
}

/** Window outline, hover links between input cells, output cells and matrix rows/columns. */
function drawHighlights() {
  const lit = highlights();
  markInput($("input-grids"), windowInfo, lit.cells);
  markOutput($("output-grids"), step, lit.outputs);
  drawMatrix($("matrix"), $("legend"), result.matrix, {rows: lit.rows, cols: lit.cols, step});
}

function drawCounts() {
  const c = result.counts;
  $("count-mlp").textContent = String(c.mlp_weights);
  $("count-sparse").textContent = String(c.connections);
  $("count-params").textContent = String(c.parameters);
  $("params-what").firstChild.textContent = result.share ? "shared parameters"
    : "parameters, not shared";
}

function setupMatrixHover() {
  const canvas = $("matrix");
  canvas.addEventListener("mousemove", (e) => {
    const at = matrixCellAt(canvas, result?.matrix, e);
    setHover(at ? {row: at.row} : null);
  });
  canvas.addEventListener("mouseleave", () => setHover(null));
}

async function main() {
  renderNav("playground").catch(showError);
  presets = await api("/api/playground/presets");
  setupControls();
  setupMatrixHover();
  $("input-preset").value = "lecture";
  loadInputPreset("lecture");
  await changed();
  document.body.dataset.ready = "1";
}

main().catch(showError);
