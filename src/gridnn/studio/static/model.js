// The model page as a mountable module.
//
// Contract: mountModel(root, api, modelId) builds the whole "inside a model" page for model
// `modelId` (an id of GET /api/models) inside the element `root`, and looks elements up only
// inside it (no document-wide ids: two can share a page; data-testid attributes are the tests'
// hooks). It talks to the server only through `api(path, body) -> Promise<json>` (common.js's
// `api`: GET when body is undefined, rejects with an Error carrying .field and .status on a
// non-2xx answer). Resolves when the first prediction is drawn.
//
// The page: draw or pick an input, see the prediction and every layer's feature maps, click or
// tap a map pixel for its receptive field and kernel; filters, curves, confusion matrix. Every
// number shown comes from the JSON API (gridnn); this file only draws.
import { el } from "./common.js";
import { buildModel, part } from "./model_layout.js";
import {
  MAX_KERNEL_CHANNELS, diverging, showConfusion, showCurves, showFilters,
} from "./model_run.js";

const INK = 1;           // value a stroke writes into an image input (images are scaled to 0..1)
const SIGNAL_RANGE = 4;  // a drawn 1-D signal spans -4..4 (MNIST-1D samples are standardised)

// ---- colours (display only) ----------------------------------------------------------------
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const LUT = Array.from({ length: 256 }, (_, i) => {
  const t = (i / 255) * (VIRIDIS.length - 1);
  const k = Math.min(Math.floor(t), VIRIDIS.length - 2);
  const f = t - k;
  return VIRIDIS[k].map((a, c) => Math.round(a + f * (VIRIDIS[k + 1][c] - a)));
});


const count = (n) => (n === null || n === undefined ? "-" : Number(n).toLocaleString("en-US"));
const shapeText = (s) => `(${["N", ...s].join(", ")})`;

/** Build the model page for `modelId` in `root` (see the contract at the top of this file). */
export async function mountModel(root, api, modelId) {
  buildModel(root);
  const $ = (name) => part(root, name);
  const state = { info: null, x: null, scale: 1, rf: null, drawing: false, last: null,
                  busy: false, pending: false, selected: null, lastLayers: [] };
  const id = modelId;

  function showError(err) {
    const box = $("model-error");
    box.textContent = err ? String(err.message || err) : "";
    box.hidden = !err;
  }

  // ---- input ----------------------------------------------------------------------------------
  const is1d = () => state.info.input_shape.length === 2;

  function blankInput() {
    const [c, ...sp] = state.info.input_shape;
    const fill = (dims) => (dims.length ? Array.from({ length: dims[0] }, () => fill(dims.slice(1)))
      : 0);
    return Array.from({ length: c }, () => fill(sp));
  }

  function setupCanvas() {
    const canvas = $("draw-canvas");
    const sp = state.info.input_shape.slice(1);
    if (is1d()) {
      state.scale = Math.max(4, Math.floor(340 / sp[0]));
      canvas.width = sp[0] * state.scale;
      canvas.height = 180;
      $("draw-hint").textContent = "Draw the signal left to right with a mouse, a pen or a " +
        "finger; the prediction updates when a stroke ends.";
    } else {
      state.scale = Math.max(2, Math.floor(300 / Math.max(...sp)));
      canvas.width = sp[1] * state.scale;
      canvas.height = sp[0] * state.scale;
    }
    // Pointer events: one code path for mouse, pen and touch (touch-action: none in the CSS
    // keeps a finger's stroke from scrolling the page).
    canvas.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      canvas.setPointerCapture(e.pointerId);
      state.drawing = true;
      state.last = null;
      stroke(e);
    });
    canvas.addEventListener("pointermove", (e) => { if (state.drawing) stroke(e); });
    const end = () => {
      if (!state.drawing) return;
      state.drawing = false;
      predict({ input: state.x });
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
  }

  /** [row, col, y in canvas pixels] under pointer event `e` (the canvas may be scaled). */
  function cellAt(e) {
    const canvas = $("draw-canvas");
    const r = canvas.getBoundingClientRect();
    const y = ((e.clientY - r.top) * canvas.height) / r.height;
    const x = ((e.clientX - r.left) * canvas.width) / r.width;
    return [Math.floor(y / state.scale), Math.floor(x / state.scale), y];
  }

  function stroke(e) {
    const sp = state.info.input_shape.slice(1);
    const [row, col, y] = cellAt(e);
    if (is1d()) {
      const h = $("draw-canvas").height;
      const v = SIGNAL_RANGE - (2 * SIGNAL_RANGE * Math.max(0, Math.min(h, y))) / h;
      const from = state.last === null ? col : state.last;
      for (let i = Math.min(from, col); i <= Math.max(from, col); i++) {
        if (i >= 0 && i < sp[0]) for (const ch of state.x) ch[i] = v;
      }
      state.last = col;
    } else {
      const radius = sp[0] >= 20 ? 1 : 0;
      for (let dr = -radius; dr <= radius; dr++) {
        for (let dc = -radius; dc <= radius; dc++) {
          const r = row + dr, c = col + dc;
          if (r < 0 || c < 0 || r >= sp[0] || c >= sp[1]) continue;
          const ink = dr === 0 && dc === 0 ? INK : INK / 2;
          for (const ch of state.x) ch[r][c] = Math.max(ch[r][c], ink);
        }
      }
    }
    state.rf = null;
    drawInput();
  }

  function drawInput() {
    const canvas = $("draw-canvas");
    const ctx = canvas.getContext("2d");
    const s = state.scale;
    const x = state.x;
    if (is1d()) {
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      const h = canvas.height;
      const yOf = (v) => h / 2 - (v / SIGNAL_RANGE) * (h / 2);
      if (state.rf) {
        ctx.fillStyle = "rgba(255, 140, 0, 0.25)";
        state.rf.mask.forEach((m, i) => { if (m) ctx.fillRect(i * s, 0, s, h); });
      }
      ctx.strokeStyle = "#ccc";
      ctx.beginPath(); ctx.moveTo(0, h / 2); ctx.lineTo(canvas.width, h / 2); ctx.stroke();
      const colours = ["#1f4e9c", "#c0392b", "#27ae60"];
      x.forEach((ch, c) => {
        ctx.strokeStyle = colours[c % 3];
        ctx.lineWidth = 2;
        ctx.beginPath();
        ch.forEach((v, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, i * s + s / 2, yOf(v)));
        ctx.stroke();
      });
    } else {
      const [H, W] = [x[0].length, x[0][0].length];
      for (let r = 0; r < H; r++) {
        for (let c = 0; c < W; c++) {
          const v = x.map((ch) => Math.round(255 * Math.max(0, Math.min(1, ch[r][c]))));
          ctx.fillStyle = v.length === 3 ? `rgb(${v[0]},${v[1]},${v[2]})`
            : `rgb(${v[0]},${v[0]},${v[0]})`;
          ctx.fillRect(c * s, r * s, s, s);
          if (state.rf && state.rf.mask[r][c]) {
            ctx.fillStyle = "rgba(255, 140, 0, 0.2)";
            ctx.fillRect(c * s, r * s, s, s);
          }
        }
      }
    }
    drawRfBox();
  }

  /** The receptive field's outline over the input, in percent of the canvas, so it stays on
   *  its pixels when the canvas is shown smaller (a phone). */
  function drawRfBox() {
    const box = $("rf-box");
    const rf = state.rf;
    if (!rf) { box.hidden = true; return; }
    const sp = state.info.input_shape.slice(1);
    const pct = (n, of) => `${(100 * n) / of}%`;
    if (is1d()) {
      Object.assign(box.style, { left: pct(rf.lo[0], sp[0]), top: "0",
        width: pct(rf.hi[0] - rf.lo[0] + 1, sp[0]), height: "100%" });
      box.dataset.size = `${rf.hi[0] - rf.lo[0] + 1}`;
    } else {
      Object.assign(box.style, { left: pct(rf.lo[1], sp[1]), top: pct(rf.lo[0], sp[0]),
        width: pct(rf.hi[1] - rf.lo[1] + 1, sp[1]),
        height: pct(rf.hi[0] - rf.lo[0] + 1, sp[0]) });
      box.dataset.size = `${rf.hi[0] - rf.lo[0] + 1}x${rf.hi[1] - rf.lo[1] + 1}`;
    }
    box.hidden = false;
  }

  // ---- prediction and feature maps -------------------------------------------------------------
  async function predict(body) {
    if (state.busy) { state.pending = body; return; }
    state.busy = true;
    try {
      const id = state.info.id;
      const out = await api(`/api/models/${encodeURIComponent(id)}/predict`, body);
      showError(null);
      state.x = out.input;
      state.rf = null;
      drawInput();
      showPrediction(out);
      showLayers(out.layers);
      $("sample-label").textContent = out.label === null ? ""
        : `true class: ${state.info.class_names[out.label]} (test sample ${body.sample + 1} ` +
          `of ${state.info.samples})`;
      $("verdict").textContent = out.right === null ? "" : out.right ? "✓ right" : "✗ wrong";
      $("verdict").className = out.right === null ? "" : out.right ? "right" : "wrong";
      $("upload-note").hidden = !out.changes.length;
      $("upload-note").textContent = out.changes.length
        ? `Your picture, made to look like the training images (as gridnn predict does): ` +
          `${out.changes.join("; ")}.` : "";
    } catch (err) {
      showError(err);
    } finally {
      state.busy = false;
      if (state.pending) { const next = state.pending; state.pending = false; predict(next); }
    }
  }

  function showPrediction(out) {
    const list = $("prediction");
    list.replaceChildren(...out.top.map((t) => el("li", {},
      el("span", { class: "cls", text: t.name }),
      el("span", { class: "bar" }, el("span", { class: "fill", style: `width:${t.p * 100}%` })),
      el("span", { class: "p", text: `${(t.p * 100).toFixed(1)}%` }))));
    const top = out.top[0];
    $("prediction-top1").textContent = `${top.name} (${(top.p * 100).toFixed(1)}%)`;
  }

  /** "layer 3: Conv2d" (counted from 1) and the module's own name, as in its state dict. */
  const layerName = (index) => `layer ${index + 1}: ${state.info.layers[index].kind}`;

  function layerHeader(info, index) {
    const rf = info.receptive_field;
    const parts = [`output ${shapeText(info.output_shape)}`, `params ${count(info.params)}`];
    if (info.connections !== null) {
      parts.push(`connections ${count(info.connections)} (as MLP: ${count(info.mlp_weights)})`);
    }
    if (rf && rf.jump.some((j) => j > 0)) parts.push(`receptive field ${rf.size.join("x")}`);
    return el("div", { class: "layer-head" },
      el("strong", { text: layerName(index) }),
      el("span", { class: "muted", text: `(module "${info.name}")` }),
      el("span", { text: parts.join(" · ") }));
  }

  function decode(b64) {
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function showLayers(layers) {
    state.lastLayers = layers;
    state.selected = null;
    const holder = $("layers");
    holder.replaceChildren();
    layers.forEach((layer) => {
      const info = state.info.layers[layer.index];
      const row = el("div", { class: "layer", "data-testid": `layer-${layer.index}` },
        layerHeader(info, layer.index));
      const maps = el("div", { class: "maps" });
      const bytes = decode(layer.data);
      const shape = layer.map_shape;
      const flat = info.output_shape.length === 1;
      const size = shape.reduce((a, b) => a * b, 1);
      const [h, w] = shape.length === 2 ? shape : [1, shape[0]];
      const px = shape.length === 2 ? Math.max(1, Math.floor(44 / Math.max(h, w)))
        : Math.max(1, Math.floor((flat ? 640 : 160) / w));
      const tall = shape.length === 2 ? px : 8;
      for (let m = 0; m < layer.maps; m++) {
        const canvas = el("canvas", { "data-testid": `feature-map-${layer.index}-${m}`,
          class: flat ? "map flat" : "map",
          title: flat ? layerName(layer.index) : `${layerName(layer.index)}, channel ${m + 1}` });
        canvas.width = w * px;
        canvas.height = h * tall;
        const ctx = canvas.getContext("2d");
        for (let i = 0; i < h; i++) {
          for (let j = 0; j < w; j++) {
            const [r, g, b] = LUT[bytes[m * size + i * w + j]];
            ctx.fillStyle = `rgb(${r},${g},${b})`;
            ctx.fillRect(j * px, i * tall, px, tall);
          }
        }
        if (!flat) {
          canvas.addEventListener("click", (e) => {
            const rect = canvas.getBoundingClientRect();
            const j = Math.floor(((e.clientX - rect.left) / rect.width) * w);
            const i = Math.floor(((e.clientY - rect.top) / rect.height) * h);
            const position = shape.length === 2 ? [i * layer.step, j * layer.step]
              : [j * layer.step];
            selectUnit(layer.index, m, position, canvas);
          });
        }
        maps.append(canvas);
      }
      const names = state.info.class_names;
      if (flat && w === names.length) {  // the class scores: each cell named
        const row = el("div", { class: "class-names",
          "data-testid": `class-names-${layer.index}` },
          ...names.map((n) => el("span", { text: n, title: n })));
        row.style.gridTemplateColumns = `repeat(${w}, minmax(0, 1fr))`;
        row.style.width = `${w * px}px`;  // as wide as the strip above, shrinking with it
        maps.append(row);
      }
      if (info.output_shape[0] > layer.maps && !flat) {
        maps.append(el("span", { class: "muted", text: `first ${layer.maps} of ` +
          `${info.output_shape[0]} channels` }));
      }
      row.append(maps);
      holder.append(row);
    });
  }

  function markPixel(canvas, layer, position) {
    // outline the clicked map and the clicked pixel on it; undo the previous mark first
    const prev = state.selected;
    if (prev && prev.canvas.isConnected) {
      prev.canvas.getContext("2d").putImageData(prev.image, 0, 0);
      prev.canvas.classList.remove("selected");
    }
    const ctx = canvas.getContext("2d");
    state.selected = { canvas, image: ctx.getImageData(0, 0, canvas.width, canvas.height) };
    canvas.classList.add("selected");
    const maps = state.lastLayers[layer];
    const shape = maps.map_shape;
    const [h, w] = shape.length === 2 ? shape : [1, shape[0]];
    const [i, j] = shape.length === 2 ? position.map((p) => Math.floor(p / maps.step))
      : [0, Math.floor(position[0] / maps.step)];
    const [pw, ph] = [canvas.width / w, canvas.height / h];
    ctx.strokeStyle = "#ff8c00";
    ctx.lineWidth = 2;
    ctx.strokeRect(j * pw + 1, i * ph + 1, Math.max(pw - 2, 1), Math.max(ph - 2, 1));
  }

  async function selectUnit(layer, channel, position, canvas) {
    try {
      const rf = await api(`/api/models/${encodeURIComponent(state.info.id)}/receptive-field`,
        { layer, channel, position });
      markPixel(canvas, layer, position);
      state.rf = rf;
      drawInput();
      showDetails(rf, channel);
    } catch (err) {
      showError(err);
    }
  }

  function kernelGrid(weights, vmax) {
    // weights: (k) or (kh, kw) for one input channel
    const rows = Array.isArray(weights[0]) ? weights : [weights];
    const table = el("table", { class: "unit-kernel" });
    rows.forEach((r) => table.append(el("tr", {}, ...r.map((v) => el("td",
      { style: `background:${diverging(v, vmax)}`, title: String(v),
        text: (Math.abs(v) < 0.005 ? 0 : v).toFixed(2) })))));
    return table;
  }

  function showDetails(rf, channel) {
    const one = (values) => values.map((v) => v + 1);  // shown counted from 1
    const span = rf.lo.map((lo, d) => `${lo + 1}..${rf.hi[d] + 1}`).join(", ");
    const box = $("details");
    box.replaceChildren(
      el("p", { text: `${layerName(rf.layer)}, channel ${channel + 1}, position ` +
        `(${one(rf.position).join(", ")})` }),
      el("p", { "data-testid": "rf-text", text: `sees ${rf.count} input positions, ` +
        `${rf.lo.length === 2 ? "rows, columns" : "positions"} ${span} (receptive field ` +
        `${rf.size.join("x")}, jump ${rf.jump.join("x")})` }));
    if (rf.note) box.append(el("p", { class: "muted", text: rf.note }));
    const k = rf.kernel;
    if (!k) {
      box.append(el("p", { class: "muted", text: "No single convolution kernel made this map " +
        "(a layer in between mixes channels)." }));
      return;
    }
    const flatW = k.weight.flat(3);
    const vmax = Math.max(...flatW.map(Math.abs));
    box.append(el("p", { text: `made by kernel ${channel + 1} of ${layerName(k.layer)} (shape ` +
      `${k.shape.join("x")})${k.bias === null ? "" : `, bias ${k.bias.toFixed(3)}`}:` }));
    const grids = el("div", { class: "unit-kernels", "data-testid": "kernel" });
    k.weight.slice(0, MAX_KERNEL_CHANNELS).forEach((w, c) => grids.append(
      el("figure", {}, kernelGrid(w, vmax), el("figcaption", { text: `in ${c + 1}` }))));
    box.append(grids);
    if (k.weight.length > MAX_KERNEL_CHANNELS) {
      box.append(el("p", { class: "muted", text: `first ${MAX_KERNEL_CHANNELS} of ` +
        `${k.weight.length} input channels` }));
    }
  }

  // ---- start ------------------------------------------------------------------------------------
  async function optional(path, show, holder, why) {
    try {
      show(await api(path));
    } catch (err) {
      $(holder).replaceChildren(el("p", { class: "muted", text: why(err) }));
    }
  }

  let info;
  try {
    info = await api(`/api/models/${encodeURIComponent(id)}`);
  } catch (err) { showError(err); return; }
  state.info = info;
  $("model-title").textContent = `Inside ${info.name}`;
  $("model-summary").textContent = `${info.kind}, ${info.state}; input ` +
    `${shapeText(info.input_shape)}; ${count(info.total_params)} parameters; ` +
    `${count(info.total_connections)} connections (as fully connected layers: ` +
    `${count(info.total_mlp_weights)} weights)` + (info.metrics.test_accuracy !== undefined
    ? `; test accuracy ${(info.metrics.test_accuracy * 100).toFixed(2)}%` : "");
  setupCanvas();
  if (is1d()) {
    $("layers-note").textContent = "each strip is one channel, positions left to right; ";
  }
  $("sample-tools").hidden = !info.samples;
  $("sample-index").max = String(Math.max(1, info.samples));
  $("clear").addEventListener("click", () => predict({ input: blankInput() }));
  $("sample-load").addEventListener("click",
    () => predict({ sample: Number($("sample-index").value) - 1 }));  // shown from 1
  $("upload").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    const bytes = new Uint8Array(await file.arrayBuffer());
    let bin = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    predict({ upload: btoa(bin), filename: file.name });
  });
  state.x = blankInput();
  drawInput();
  await predict(info.samples ? { sample: 0 } : { input: state.x });
  const why = (err) => String(err.message || err);
  optional(`/api/models/${encodeURIComponent(id)}/filters`,
    (f) => showFilters($("filters"), f.filters, layerName), "filters", why);
  if (info.has_history) {
    optional(`/api/models/${encodeURIComponent(id)}/curves`,
      (c) => showCurves($("curves"), c.columns), "curves", why);
  } else {
    $("curves").replaceChildren(el("p", { class: "muted", text: {
      zoo: "a zoo model: not trained, no curves",
      onnx: "an imported ONNX model: no training history",
    }[info.kind] || "this run has no history.csv" }));
  }
  if (info.samples) {
    optional(`/api/models/${encodeURIComponent(id)}/confusion`,
      (cm) => showConfusion($("confusion"), cm), "confusion", why);
  } else {
    $("confusion").replaceChildren(el("p", { class: "muted", text: info.dataset_error ||
      "a zoo model: no test set" }));
  }
}
