// The learn page's drawings: curves, kernels, feature maps, prediction, update sizes and the
// backprop sum. They draw numbers the server computed (gridnn); nothing is computed here.
import {el, fmt} from "./common.js";

export const RUN_COLOURS = ["#2f6fd0", "#d9480f", "#2b8a3e", "#9c36b5", "#e67700", "#0b7285"];
const pct = (v) => (v === null || v === undefined ? "–" : `${(100 * v).toFixed(2)}%`);
export {pct};

/** Blue (negative) – white – red (positive) for v in [-vmax, vmax]. */
function diverging(v, vmax) {
  const t = vmax > 0 ? Math.max(-1, Math.min(1, v / vmax)) : 0;
  const w = Math.round(255 * (1 - Math.abs(t)));
  return t >= 0 ? [255, w, w] : [w, w, 255];
}

/** Draw a 2-D array (a 1-D one as one row) on `canvas`, each value a `cell`-pixel square. */
export function heat(canvas, rows, {cell = 8, vmax = null, grey = false} = {}) {
  const grid = Array.isArray(rows[0]) ? rows : [rows];
  const h = grid.length, w = grid[0].length;
  const flat = grid.flat();
  const lo = Math.min(...flat), hi = Math.max(...flat);
  const scale = vmax ?? Math.max(Math.abs(lo), Math.abs(hi), 1e-12);
  canvas.width = w * cell;
  canvas.height = h * cell;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(w, h);
  grid.forEach((row, i) => row.forEach((v, j) => {
    const g = Math.round(255 * (hi > lo ? (v - lo) / (hi - lo) : 0));
    const [r, gg, b] = grey ? [g, g, g] : diverging(v, scale);
    image.data.set([r, gg, b, 255], 4 * (i * w + j));
  }));
  const small = new OffscreenCanvas(w, h);
  small.getContext("2d").putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, 0, 0, w * cell, h * cell);
  return canvas;
}

// ---- curves ------------------------------------------------------------------------------
/** Accuracy (solid: train while it trains, dots: the evaluated split per epoch) and train
 *  loss (dashed, right axis) against epochs, for `runs` (finished, overlaid) and `current`. */
export function drawCurves(canvas, runs, current) {
  const width = canvas.clientWidth || 640;
  canvas.width = width;
  const height = canvas.height;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  const pad = {l: 44, r: 44, t: 10, b: 28};
  const all = [...runs, ...(current ? [current] : [])];
  const epochs = Math.max(1, ...all.map((r) => r.epochs));
  const maxLoss = Math.max(0.5, ...all.flatMap((r) => r.points.map((p) => p.loss))
    .filter(Number.isFinite).slice(0, 1e5));
  const x = (e) => pad.l + (width - pad.l - pad.r) * e / epochs;
  const yAcc = (a) => height - pad.b - (height - pad.t - pad.b) * a;
  const yLoss = (l) => height - pad.b - (height - pad.t - pad.b) * Math.min(l / maxLoss, 1);
  ctx.strokeStyle = "#d5dce4";
  ctx.fillStyle = "#66758a";
  ctx.font = "11px system-ui, sans-serif";
  ctx.lineWidth = 1;
  for (const a of [0, 0.25, 0.5, 0.75, 1]) {
    ctx.beginPath(); ctx.moveTo(pad.l, yAcc(a)); ctx.lineTo(width - pad.r, yAcc(a)); ctx.stroke();
    ctx.fillText(`${a * 100}%`, 6, yAcc(a) + 4);
    ctx.fillText(fmt(+(maxLoss * a).toPrecision(2)), width - pad.r + 6, yAcc(a) + 4);
  }
  ctx.fillText("epoch", width / 2 - 14, height - 6);
  for (let e = 0; e <= epochs; e += Math.max(1, Math.ceil(epochs / 10))) {
    ctx.fillText(String(e), x(e) - 3, height - pad.b + 13);
  }
  all.forEach((run) => {
    ctx.strokeStyle = ctx.fillStyle = run.colour;
    ctx.lineWidth = run === current ? 2 : 1.3;
    line(ctx, run.points.map((p) => [x(p.epoch), yAcc(p.accuracy)]));
    ctx.setLineDash([4, 3]);
    line(ctx, run.points.map((p) => [x(p.epoch), yLoss(p.loss)]));
    ctx.setLineDash([]);
    const key = `${run.evalName}_accuracy`;
    line(ctx, run.history.map((h) => [x(h.epoch), yAcc(h[key])]));
    for (const h of run.history) {
      ctx.beginPath(); ctx.arc(x(h.epoch), yAcc(h[key]), 3, 0, 2 * Math.PI); ctx.fill();
    }
  });
}

function line(ctx, pts) {
  if (pts.length < 2) return;
  ctx.beginPath();
  pts.forEach(([px, py], i) => (i ? ctx.lineTo(px, py) : ctx.moveTo(px, py)));
  ctx.stroke();
}

/** The comparison table: per run, its layers, parameters, train and evaluated accuracy and
 *  the gap between them (the generalisation the three-way switch is about). */
export function drawCompare(table, runs, current) {
  const rows = [...runs, ...(current ? [current] : [])];
  table.replaceChildren(
    el("thead", {}, el("tr", {}, ["", "run", "parameters", "train acc", "eval acc", "gap"]
      .map((h) => el("th", {text: h})))),
    el("tbody", {}, rows.map((r) => {
      const last = r.history[r.history.length - 1];
      const train = last?.train_accuracy, test = last?.[`${r.evalName}_accuracy`];
      return el("tr", {"data-testid": "learn-compare-row"},
        el("td", {}, el("span", {class: "swatch", style: `background:${r.colour}`})),
        el("td", {text: r.label + (r === current ? " (now)" : "")}),
        el("td", {text: r.params.toLocaleString("en-US")}),
        el("td", {text: pct(train)}), el("td", {text: `${pct(test)} ${r.evalName}`}),
        el("td", {text: last ? `${(100 * (train - test)).toFixed(1)} pts` : "–"}));
    })));
}

// ---- kernels, maps, prediction, updates ----------------------------------------------------
/** The first layer's kernels: each as an enlarged image and, when small, as its numbers
 *  (with `onPick`, clicking a number picks that weight for the backprop panel). */
export function drawKernels(box, info, onPick) {
  if (!info) {
    box.replaceChildren(el("p", {class: "hint", text: "This model has no weighted layer."}));
    return;
  }
  const [, channels, ...k] = info.shape;
  const small = k.reduce((a, b) => a * b, 1) <= 25;
  box.replaceChildren(...info.kernels.map((kernel, index) => {
    const rows = k.length === 1 ? [kernel[0]] : kernel[0];  // input channel 0
    const cell = Math.max(3, Math.floor(64 / Math.max(rows.length, rows[0].length)));
    const figure = el("figure", {class: "kernel-fig"},
      heat(el("canvas", {"data-testid": `learn-kernel-${info.layer}-${index}`,
                         title: `kernel ${index}`}), rows, {cell, vmax: info.scale}),
      el("figcaption", {text: `k${index}${channels > 1 ? " (channel 0)" : ""}`}));
    if (small) {
      figure.append(el("table", {class: "numbers"}, rows.map((row, i) => el("tr", {},
        row.map((v, j) => el("td", onPick ? {text: fmt(+v.toFixed(3)), class: "pickable",
                                             title: "explain this weight's gradient",
                                             onclick: () => onPick(index, 0, i, j)}
          : {text: fmt(+v.toFixed(3))}))))));
    }
    return figure;
  }));
}

/** The sample's input, every layer's first maps, and the prediction. */
export function drawSample(mapsBox, predictionBox, sample) {
  const image = sample.image[0];  // channel 0: (H, W) or (L,)
  const input = el("div", {class: "map-row"}, el("span", {class: "map-name", text: "input"}),
                   heat(el("canvas"), image, {cell: cellFor(image, 96), grey: true}));
  mapsBox.replaceChildren(input, ...sample.maps.map((layer) => el("div", {class: "map-row"},
    el("span", {class: "map-name", text: `${layer.layer} ${layer.type}`,
                title: `output (${layer.shape.join(", ")})`}),
    ...layer.maps.map((m) => heat(el("canvas", {class: "map"}), m, {cell: cellFor(m, 48)})))));
  predictionBox.replaceChildren(
    el("span", {text: `label ${sample.label}: `}),
    ...sample.top.map((t, i) => el("span", {class: i === 0 ? "top" : "muted",
                                            text: `${t.label} ${(100 * t.p).toFixed(1)}%  `})));
}

/** Pixels per value so that map `m` spans about `target` pixels (2 at least). */
function cellFor(m, target) {
  const rows = Array.isArray(m[0]) ? m.length : 1;
  const cols = Array.isArray(m[0]) ? m[0].length : m.length;
  return Math.max(2, Math.min(12, Math.floor(target / Math.max(rows, cols))));
}

/** One bar per weighted layer: the relative size of its last update (log scale). */
export function drawUpdates(box, updates) {
  box.replaceChildren(...updates.map((u) => {
    const width = Math.max(2, Math.min(100, 100 + 20 * Math.log10(u.relative || 1e-9)));
    return el("div", {class: "update"},
      el("span", {class: "map-name", text: `${u.layer} ${u.type}`}),
      el("span", {class: "bar", style: `width:${width}%`}),
      el("span", {text: u.relative.toExponential(2)}));
  }));
}

/** The backprop panel: the terms, their sum, autograd's number, and the update. */
export function drawBackprop(box, b) {
  const [k, c, ...tap] = b.index;
  const w = `w[${k}, ${c}, ${tap.join(", ")}]`;
  const pos = (t) => `(${t.position.join(", ")})`;
  const terms = b.terms.map((t) => el("li", {"data-testid": "learn-grad-term",
                                              "data-product": String(t.product)},
    `n${t.sample} at ${pos(t)}: ${fmt(+t.input.toPrecision(4))} × ` +
    `${t.grad.toExponential(3)} = ${t.product.toExponential(3)}`));
  const rule = {
    SGD: `v ← ${b.momentum}·v + (g + ${b.weight_decay}·w);  w ← w − lr·(g + ${b.weight_decay}·w + ` +
         `${b.momentum}·v)  (Nesterov)`,
    Adam: "m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  w ← w − lr·m̂ / (√v̂ + ε)",
    AdamW: "w ← w·(1 − lr·λ);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  " +
           "w ← w − lr·m̂ / (√v̂ + ε)",
  }[b.optimizer] || b.optimizer;
  const state = Object.entries(b.state).map(([key, v]) =>
    `${key} = ${Number.isInteger(v) ? v : v.toExponential(3)}`);
  box.replaceChildren(
    el("p", {class: "equation"}, `∂L/∂${w} = Σ over samples n and window positions p of ` +
       `x[n, ${c}, window p, tap (${tap.join(", ")})] × ∂L/∂y[n, ${k}, p]`),
    el("p", {class: "hint", text: `${b.batch} samples × ${b.positions} positions = ` +
      `${b.batch * b.positions} terms; ${b.zero_terms} are 0 (a zero input or a unit ReLU ` +
      `switched off) and left out. Step ${b.step}, batch loss ${fmt(b.loss)}.`}),
    el("ol", {class: "terms"}, terms),
    el("p", {class: "equation"}, "sum = ",
       el("b", {"data-testid": "learn-grad-total", "data-value": String(b.total),
                text: b.total.toExponential(6)}),
       el("span", {class: "muted", text: `   (autograd through the layer: ` +
         `${b.autograd.toExponential(6)}; the gradient the optimiser used: ` +
         `${b.used.toExponential(6)})`})),
    el("p", {class: "equation"}, `${b.optimizer}, lr = ${b.lr.toExponential(3)}: ${rule}`),
    el("p", {class: "equation numbers", text: (state.length ? state.join(", ") + ";  " : "") +
      `${w}: ${fmt(+b.before.toPrecision(6))} → ${fmt(+b.after.toPrecision(6))} ` +
      `(change ${(b.after - b.before).toExponential(3)})`}));
}
