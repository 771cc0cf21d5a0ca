// The convolution playground as a mountable module.
//
// Contract: mountPlayground(root, api, initial) builds the whole playground inside the element
// `root` and looks elements up only inside it (no document-wide ids: two playgrounds can share
// a page; data-testid attributes are the tests' hooks). It talks to the server only through
// `api(path, body) -> Promise<json>` (common.js's `api`: GET when body is undefined, rejects
// with an Error carrying .field and .status on a non-2xx answer). `initial`, optional, is the
// problem to start from, {input, kernels, bias, stride, padding, dilation}, in the nested-list
// shapes of the /api/playground/conv request; without it the page opens on the lecture's case
// (the server's `start` preset). Resolves when the first answer is drawn.
//
// Nothing is computed here: outputs, windows, products, sums, equations, counts and their
// sentences, the dense matrix and every refusal message come from gridnn through the API.

import {el, fmt} from "./common.js";
import {drawMatrix, matrixCellAt} from "./playground_matrix.js";
import {buildPlayground, part} from "./playground_layout.js";
import {
  clearOutput, markBad, markInput, markOutput, renderInput, renderKernels, renderOutput, renderProducts,
} from "./playground_view.js";

// ---- small array helpers (shapes of the editable state, not maths) ----------------------
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
const range = (lo, hi) => Array.from({length: hi - lo + 1}, (_, i) => lo + i);
function options(select, values, labels = values) {
  select.replaceChildren(...values.map((v, i) => el("option", {value: v, text: labels[i]})));
}
function setAt(array, idx, value) {
  let a = array;
  for (const i of idx.slice(0, -1)) a = a[i];
  a[idx[idx.length - 1]] = value;
}

/** Build the playground in `root` (see the contract at the top of this file). */
export async function mountPlayground(root, api, initial) {
  buildPlayground(root);
  const $ = (name) => part(root, name);
  const state = {
    dims: 2, input: [], kernels: [], bias: [], stride: 1, padding: "valid", dilation: 1,
    share: true, local: null, labels: true,
  };
  let presets = null;   // GET /api/playground/presets
  let result = null;    // last /conv answer, null while the settings are refused
  let step = null;      // output row being explained, or null: every output shown
  let windowInfo = null;
  let hover = null;     // {row} or {col}: what the pointer points at (or a tap picked)
  let timer = null;     // play
  let requestId = 0;

  // ---- the problem ---------------------------------------------------------------------------
  const spatial = () => shapeOf(state.input).slice(1);
  const kernelSize = () => shapeOf(state.kernels).slice(2);
  const kernelNames = () => Object.keys(presets.kernels)
    .filter((n) => presets.kernels[n].dims === state.dims);
  /** A named kernel as (C, *size): its slice on channel 0, the multi-channel example's slices
   *  (different per channel) on the others, so channels never simply copy channel 1. */
  function kernelFromPreset(name, size) {
    const preset = presets.kernels[name];
    const example = presets.inputs[presets.channel_example[state.dims]].kernel;
    return state.input.map((_, c) => resize(c === 0 ? preset.data : example[c], size));
  }
  /** The i-th new kernel: a named preset of `size` not already in use, else any, resized. */
  function newKernel(i, size) {
    const names = kernelNames();
    const fits = names.filter((n) => shapeOf(presets.kernels[n].data).join() === size.join());
    const pool = [...fits, ...names.filter((n) => !fits.includes(n))];
    const name = pool[i % pool.length];
    return {data: kernelFromPreset(name, size), bias: presets.kernels[name].bias ?? 0, name};
  }
  function setProblem(problem) {
    state.input = structuredClone(problem.input);
    state.dims = shapeOf(state.input).length - 1;
    state.kernels = structuredClone(problem.kernels);
    state.bias = structuredClone(problem.bias ?? state.kernels.map(() => 0));
    state.stride = problem.stride ?? 1;
    state.padding = problem.padding ?? "valid";
    state.dilation = problem.dilation ?? 1;
    state.local = null;
  }
  function loadInputPreset(name) {
    const preset = presets.inputs[name];
    const dimsChanged = preset.dims !== state.dims;
    state.dims = preset.dims;
    state.input = structuredClone(preset.data);
    state.local = null;
    if (preset.kernel) {  // a preset that brings its own kernel (one slice per channel)
      state.kernels = [structuredClone(preset.kernel)];
      state.bias = [preset.bias ?? 0];
      return;
    }
    const size = dimsChanged ? shapeOf(presets.kernels[kernelNames()[0]].data) : kernelSize();
    const k = dimsChanged ? 1 : state.kernels.length;
    state.kernels = [];
    state.bias = [];
    setKernelCount(k, size);
  }
  function setKernelCount(k, size = kernelSize()) {
    const kernels = [], bias = [];
    for (let i = 0; i < k; i++) {
      if (i < state.kernels.length) {
        kernels.push(state.kernels[i]);
        bias.push(state.bias[i]);
      } else {
        const made = newKernel(i, size);
        kernels.push(made.data);
        bias.push(made.bias);
      }
    }
    state.kernels = kernels;
    state.bias = bias;
    state.local = null;
  }
  function body() {
    const b = {input: state.input, kernels: state.kernels, bias: state.bias,
               stride: state.stride, padding: state.padding, dilation: state.dilation,
               share: state.share};
    if (!state.share && state.local) b.local_kernels = state.local;
    return b;
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
    for (const [name, value] of [["rows", rows], ["cols", cols]]) {
      if (!$(name).classList.contains("bad")) $(name).value = value;
    }
    $("channels").value = String(state.input.length);
    $("kernel-count").value = String(state.kernels.length);
    const ks = kernelSize();
    $("kh").value = String(state.dims === 2 ? ks[0] : 1);
    $("kw").value = String(ks[ks.length - 1]);
    $("stride").value = String(state.stride);
    $("padding").value = String(state.padding);
    $("dilation").value = String(state.dilation);
    $("share").checked = state.share;
    $("share-note").textContent = state.share ? "(convolution)" : "(locally connected layer)";
    $("labels").checked = state.labels;
  }

  /** A whole number typed into a size box, or null (the box is marked and a message shown). */
  function wholeNumber(name, label) {
    const text = $(name).value.trim();
    // Sizes up to 4x the limits go to the server, which says what the limit is.
    const lim = presets.limits;
    const ok = /^[0-9]+$/.test(text) && +text >= 1
      && +text <= 4 * Math.max(lim.side_2d, lim.length_1d[1]);
    markBad($(name), ok ? null : `${label}: "${text}" is not a size; type a whole number`);
    return ok ? +text : null;
  }

  function setupControls() {
    const lim = presets.limits;
    options($("input-preset"), ["custom", ...Object.keys(presets.inputs)],
            ["(edited)", ...Object.values(presets.inputs).map((p) => p.label)]);
    options($("channels"), range(1, lim.channels));
    options($("kernel-count"), range(1, lim.kernels));
    options($("kh"), range(1, lim.kernel_side));
    options($("kw"), range(1, lim.kernel_side));
    options($("stride"), range(1, lim.stride));
    options($("dilation"), range(1, lim.dilation));
    options($("padding"), ["valid", "same", ...range(0, lim.padding)]);

    $("input-preset").addEventListener("change", (e) => {
      if (e.target.value === "custom") return;
      loadInputPreset(e.target.value);
      restart();
    });
    $("dims").addEventListener("change", (e) => {
      const name = Object.keys(presets.inputs).find(
        (n) => presets.inputs[n].dims === +e.target.value);
      $("input-preset").value = name;
      loadInputPreset(name);
      restart();
    });
    const resizeInput = () => {
      const cols = wholeNumber("cols", state.dims === 1 ? "length" : "cols");
      const rows = state.dims === 2 ? wholeNumber("rows", "rows") : 1;
      if (rows === null || cols === null) { changed(); return; }
      state.input = state.input.map((ch) => state.dims === 2 ? resize(ch, [rows, cols])
        : resize(ch, [cols]));
      state.local = null;
      edited(true);
    };
    $("rows").addEventListener("change", resizeInput);
    $("cols").addEventListener("change", resizeInput);
    $("channels").addEventListener("change", (e) => {
      const c = +e.target.value;
      // A new channel is the multi-channel example's channel of that number, so channels
      // differ (a copy of channel 1 would only multiply the answer).
      const example = presets.inputs[presets.channel_example[state.dims]];
      state.input = range(0, c - 1).map((i) => state.input[i] ?? resize(example.data[i],
                                                                         spatial()));
      state.kernels = state.kernels.map((k) => range(0, c - 1).map(
        (i) => k[i] ?? resize(example.kernel[i], kernelSize())));
      state.local = null;
      edited(true);
    });
    $("kernel-count").addEventListener("change", (e) => {
      setKernelCount(+e.target.value);
      restart();
    });
    const resizeKernels = () => {
      const size = state.dims === 2 ? [+$("kh").value, +$("kw").value] : [+$("kw").value];
      state.kernels = state.kernels.map((k) => k.map((ch) => resize(ch, size)));
      state.local = null;
      restart();
    };
    $("kh").addEventListener("change", resizeKernels);
    $("kw").addEventListener("change", resizeKernels);
    for (const name of ["stride", "dilation"]) {
      $(name).addEventListener("change", (e) => {
        state[name] = +e.target.value;
        state.local = null;
        restart();
      });
    }
    $("padding").addEventListener("change", (e) => {
      const v = e.target.value;
      state.padding = v === "valid" || v === "same" ? v : +v;
      state.local = null;
      restart();
    });
    $("share").addEventListener("change", (e) => {
      state.share = e.target.checked;
      state.local = null;
      changed();
    });
    $("labels").addEventListener("change", (e) => {
      state.labels = e.target.checked;
      root.classList.toggle("no-labels", !state.labels);
    });

    $("step-next").addEventListener("click", () => goTo(step === null ? 0 : step + 1));
    $("step-prev").addEventListener("click", () => goTo(step === null ? 0 : step - 1));
    $("scrub").addEventListener("input", (e) => goTo(+e.target.value));
    $("show-all").addEventListener("click", () => { stopPlay(); goTo(null); });
    $("play").addEventListener("click", () => (timer ? stopPlay() : startPlay()));
  }

  function startPlay() {
    if (!result) return;
    $("play").textContent = "pause";
    if (step === null || step >= rowCount() - 1) goTo(0);
    timer = setInterval(() => {
      if (!result || step >= rowCount() - 1) stopPlay(); else goTo(step + 1);
    }, 700);
  }
  function stopPlay() {
    clearInterval(timer);
    timer = null;
    $("play").textContent = "play";
  }

  // ---- talking to the server -----------------------------------------------------------------
  /** The user edited the input: the preset menu says "(edited)". */
  function edited(reshaped = false) {
    $("input-preset").value = "custom";
    return reshaped ? restart() : changed();
  }
  /** A change of preset, size or kernel: stepping starts again at y1. */
  function restart() {
    if (step !== null) step = 0;
    return changed();
  }

  /** The state changed: redraw the editors now, ask the server, then draw its answer. */
  async function changed() {
    syncControls();
    drawEditors();
    const id = ++requestId;
    const bad = root.querySelector(".bad[data-why]");
    if (bad) { refuse(bad.dataset.why); return; }
    try {
      const answer = await api("/api/playground/conv", body());
      if (id !== requestId) return;
      result = answer;
      if (!state.share) state.local = answer.local_kernels;
      showError(null);
      if (step !== null && step >= rowCount()) step = rowCount() - 1;
      drawEditors();
      await showStep();
    } catch (error) {
      if (id === requestId) refuse(error.message);
    }
  }

  async function goTo(row) {
    if (!result) return;
    step = row === null ? null : Math.max(0, Math.min(rowCount() - 1, row));
    if (!state.share) drawEditors();  // the kernel panel edits the stepped position
    await showStep();
  }

  async function showStep() {
    windowInfo = null;
    if (step !== null) {
      const id = requestId;
      const position = unravel(step, result.output_shape);
      try {
        const answer = await api("/api/playground/window", {...body(), position});
        if (id !== requestId) return;
        windowInfo = answer;
      } catch (error) {
        if (id === requestId) refuse(error.message);
        return;
      }
    }
    draw();
  }

  /** The server (or a typed size) refused the settings: say why and show no stale answer. */
  function refuse(message) {
    result = null;
    windowInfo = null;
    stopPlay();
    $("error").hidden = false;
    $("error").textContent = message;
    root.classList.add("refused");
    const lim = presets.limits;
    if (Math.max(...spatial()) <= Math.max(lim.side_2d, lim.length_1d[1])) {
      drawInput(spatial().map(() => [0, 0]));
    }
    clearOutput($("output-grids"));
    $("window-panel").hidden = true;
    for (const name of ["count-mlp", "count-sparse", "count-params", "say-mlp", "say-sparse",
                        "say-params", "say-bias", "formula", "position", "output-shape"]) {
      $(name).textContent = "";
    }
    $("padding-note").hidden = true;
    drawMatrix($("matrix"), $("legend"), null, null);
  }
  function showError(message) {
    $("error").hidden = !message;
    $("error").textContent = message ?? "";
    root.classList.toggle("refused", Boolean(message));
  }

  const rowCount = () => result.output_shape.reduce((a, b) => a * b, 1);

  // ---- drawing -------------------------------------------------------------------------------
  /** The (C, *k) weights the kernel panel edits for kernel `k`: shared, or those of the
   *  stepped position (position y1 before any step) when sharing is off. */
  function editedKernel(k) {
    if (state.share || !state.local) return state.kernels[k];
    const at = unravel(step ?? 0, result.output_shape).slice(1);
    return at.reduce((a, i) => a[i], state.local)[k];
  }
  function drawEditors() {
    const here = !state.share && state.local && result
      ? `y${ravel([0, ...unravel(step ?? 0, result.output_shape).slice(1)],
                  result.output_shape) + 1}` : null;
    renderKernels($("kernel-grids"), {
      kernels: state.kernels.map((_, k) => editedKernel(k)), bias: state.bias,
      where: here ? `at the position of ${here} only (step to edit another)` : null,
    }, {
      onCell: (k, c, idx, value) => { setAt(editedKernel(k)[c], idx, value); changed(); },
      onBias: (k, value) => { state.bias[k] = value; changed(); },
      onPreset: (k, name) => {
        const size = k === 0 ? shapeOf(presets.kernels[name].data) : kernelSize();
        // The first kernel's preset sets the kernel size of all.
        state.kernels = state.kernels.map((kk, i) => i === k ? kernelFromPreset(name, size)
          : kk.map((ch) => resize(ch, size)));
        state.bias[k] = presets.kernels[name].bias ?? 0;
        state.local = null;
        restart();
      },
      onBad: changed,
      presets: Object.entries(presets.kernels).filter(([, p]) => p.dims === state.dims),
    });
    $("kernel-shape").textContent = `(${shapeOf(state.kernels).join(", ")})`;
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
    }
    if (hover?.row !== undefined) rows.add(hover.row);
    if (hover?.col !== undefined) cols.add(hover.col);
    return {rows, cols, cells: [...cols].map((c) => unravel(c, result.input_shape)),
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
    drawInput(result.pads);
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
      : windowInfo.where;
    $("window-panel").hidden = !windowInfo;
    if (windowInfo) {
      renderProducts($("products"), windowInfo, kernelSize());
      $("partials").replaceChildren(...windowInfo.partials.map(
        (text) => el("li", {text})));
      $("partials").hidden = windowInfo.partials.length === 0;
      $("equation").textContent = windowInfo.equation;
      $("numeric").textContent = windowInfo.numeric;
    }
    drawCounts();
    $("matrix-note").hidden = !result.matrix_note;
    $("matrix-note").textContent = result.matrix_note ?? "";
    drawHighlights();
  }

  /** The input's editors; `pads` from the answer (none while the settings are refused). */
  function drawInput(pads) {
    const shape = shapeOf(state.input).slice(0, state.dims + 1);
    renderInput($("input-grids"), state, shape, pads, {
      onCell: (c, idx, value) => { setAt(state.input[c], idx, value); edited(); },
      onHover: (c, idx) => setHover(idx ? {col: ravel([c, ...idx], shape)} : null),
      onBad: changed,
    });
  }

  function setHover(next) {
    if (JSON.stringify(next) === JSON.stringify(hover)) return;
    hover = next;
    if (result) drawHighlights();
  }

  /** Window outline, hover links between input cells, output cells and matrix rows/columns. */
  function drawHighlights() {
    const lit = highlights();
    markInput($("input-grids"), windowInfo, lit.cells);
    markOutput($("output-grids"), step, lit.outputs);
    const perChannel = result.input_shape.slice(1).reduce((a, b) => a * b, 1);
    const perMap = result.output_shape.slice(1).reduce((a, b) => a * b, 1);
    drawMatrix($("matrix"), $("legend"), result.matrix,
               {rows: lit.rows, cols: lit.cols, step, planes: [perChannel, perMap]});
  }

  function drawCounts() {
    const c = result.counts, say = result.say;
    $("count-mlp").textContent = String(c.mlp_weights);
    $("count-sparse").textContent = String(c.connections);
    $("count-params").textContent = String(c.parameters);
    $("params-what").textContent = result.share ? "shared parameters" : "parameters, not shared";
    $("say-mlp").textContent = say.mlp;
    $("say-sparse").textContent = say.connections;
    $("say-params").textContent = say.parameters;
    $("say-bias").textContent = say.biases;
    $("matrix-hint").textContent = say.matrix;
    $("formula").textContent = result.formula.join("\n");
    $("padding-note").hidden = !result.padding_note;
    $("padding-note").textContent = result.padding_note ?? "";
  }

  function setupMatrixPointer() {
    const canvas = $("matrix");
    canvas.addEventListener("pointermove", (e) => {
      if (e.pointerType !== "mouse") return;
      const at = matrixCellAt(canvas, result?.matrix, e);
      setHover(at ? {row: at.row} : null);
    });
    canvas.addEventListener("pointerleave", (e) => {
      if (e.pointerType === "mouse") setHover(null);
    });
    // A tap (touch or pen) picks the row instead of hovering: tap again elsewhere to change.
    canvas.addEventListener("click", (e) => {
      const at = matrixCellAt(canvas, result?.matrix, e);
      setHover(at ? {row: at.row} : null);
    });
  }

  presets = await api("/api/playground/presets");
  setupControls();
  setupMatrixPointer();
  if (initial) {
    setProblem(initial);
  } else {
    setProblem(presets.start);
    $("input-preset").value = presets.start.input_preset;
  }
  if (initial) $("input-preset").value = "custom";
  await changed();
  root.dataset.ready = "1";
}
