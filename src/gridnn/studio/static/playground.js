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
import {Problem, ravel, range, setAt, shapeOf, unravel} from "./playground_problem.js";
import {
  clearOutput, markBad, markInput, markOutput, renderInput, renderKernels, renderOutput,
  renderProducts,
} from "./playground_view.js";

function options(select, values, labels = values) {
  select.replaceChildren(...values.map((v, i) => el("option", {value: v, text: labels[i]})));
}

/** Build the playground in `root` (see the contract at the top of this file). */
export async function mountPlayground(root, api, initial) {
  buildPlayground(root);
  const $ = (name) => part(root, name);
  let state = null;     // the Problem being edited
  let labels = true;    // cells labelled x1.., y1..
  let presets = null;   // GET /api/playground/presets
  let result = null;    // last /conv answer, null while the settings are refused
  let step = null;      // output row being explained, or null: every output shown
  let windowInfo = null;
  let hover = null;     // {row} or {col}: what the pointer points at (or a tap picked)
  let timer = null;     // play
  let requestId = 0;
  let inputShown = null;  // the shape the input's editors show

  // ---- controls ------------------------------------------------------------------------------
  function syncControls() {
    const [rows, cols] = state.dims === 2 ? state.spatial() : [1, state.spatial()[0]];
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
    const ks = state.kernelSize();
    $("kh").value = String(state.dims === 2 ? ks[0] : 1);
    $("kw").value = String(ks[ks.length - 1]);
    $("stride").value = String(state.stride);
    $("padding").value = String(state.padding);
    $("dilation").value = String(state.dilation);
    $("share").checked = state.share;
    $("share-note").textContent = state.share ? "(convolution)" : "(locally connected layer)";
    $("labels").checked = labels;
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
      state.loadInputPreset(e.target.value);
      restart();
    });
    $("dims").addEventListener("change", (e) => {
      const name = Object.keys(presets.inputs).find(
        (n) => presets.inputs[n].dims === +e.target.value);
      $("input-preset").value = name;
      state.loadInputPreset(name);
      restart();
    });
    const resizeInput = () => {
      const cols = wholeNumber("cols", state.dims === 1 ? "length" : "cols");
      const rows = state.dims === 2 ? wholeNumber("rows", "rows") : 1;
      if (rows === null || cols === null) { changed(); return; }
      state.resizeInput(state.dims === 2 ? [rows, cols] : [cols]);
      edited(true);
    };
    $("rows").addEventListener("change", resizeInput);
    $("cols").addEventListener("change", resizeInput);
    $("channels").addEventListener("change", (e) => {
      state.setChannels(+e.target.value);  // new channels differ from channel 1
      edited(true);
    });
    $("kernel-count").addEventListener("change", (e) => {
      state.setKernelCount(+e.target.value);
      restart();
    });
    const resizeKernels = () => {
      const size = state.dims === 2 ? [+$("kh").value, +$("kw").value] : [+$("kw").value];
      state.resizeKernels(size);
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
      labels = e.target.checked;
      root.classList.toggle("no-labels", !labels);
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
      const answer = await api("/api/playground/conv", state.body());
      if (id !== requestId) return;
      result = answer;
      if (!state.share) {
        state.local = answer.local_kernels;
        state.localShape = answer.output_shape;
      }
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
        const answer = await api("/api/playground/window", {...state.body(), position});
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
    // The input's editors follow a new shape (without padding: none was computed); a grid of
    // the same shape is kept as it is, with any cell still marked as not a number.
    const lim = presets.limits;
    const shape = shapeOf(state.input).slice(0, state.dims + 1);
    if (JSON.stringify(shape) !== inputShown
        && Math.max(...state.spatial()) <= Math.max(lim.side_2d, lim.length_1d[1])) {
      drawInput(state.spatial().map(() => [0, 0]));
    }
    markInput($("input-grids"), null, []);
    clearOutput($("output-grids"));
    $("window-panel").hidden = true;
    for (const name of ["count-mlp", "count-sparse", "count-params", "say-mlp", "say-sparse",
                        "say-params", "say-bias", "matrix-hint", "formula", "position",
                        "output-shape", "input-shape"]) {
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
  const editedKernel = (k) => state.editedKernel(k, step ?? 0);
  function drawEditors() {
    const here = !state.share && state.local
      ? `y${ravel([0, ...unravel(step ?? 0, state.localShape).slice(1)],
                  state.localShape) + 1}` : null;
    renderKernels($("kernel-grids"), {
      kernels: state.kernels.map((_, k) => editedKernel(k)), bias: state.bias,
      where: here ? `at the position of ${here} only (step to edit another)` : null,
    }, {
      onCell: (k, c, idx, value) => { setAt(editedKernel(k)[c], idx, value); changed(); },
      onBias: (k, value) => { state.bias[k] = value; changed(); },
      onPreset: (k, name) => { state.setKernelPreset(k, name); restart(); },
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
    $("stage").classList.toggle("one-d", state.dims === 1);
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
      renderProducts($("products"), windowInfo, state.kernelSize());
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
    inputShown = JSON.stringify(shape);
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
    // Kernel sides that cannot fit the (padded, dilated) input are not offered.
    const fits = result.kernel_fits;
    const [hFit, wFit] = fits.length === 2 ? fits : [1, fits[0]];
    for (const [name, fit] of [["kh", hFit], ["kw", wFit]]) {
      for (const option of $(name).options) option.disabled = +option.value > fit;
    }
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
  state = new Problem(presets);
  setupControls();
  setupMatrixPointer();
  if (initial) {
    state.set(initial);
  } else {
    state.set(presets.start);
    $("input-preset").value = presets.start.input_preset;
  }
  if (initial) $("input-preset").value = "custom";
  await changed();
  root.dataset.ready = "1";
}
