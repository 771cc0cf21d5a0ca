// The model page's run panels: each convolution's filters, the training curves and the test
// confusion matrix, drawn from the API's answers into the elements given. Display only.
import { el } from "./common.js";

export const MAX_KERNEL_CHANNELS = 16;  // input channels drawn per kernel

/** Blue (negative) - white - red (positive) for `v` on a scale of +-`vmax`. */
export function diverging(v, vmax) {
  const t = vmax > 0 ? Math.max(-1, Math.min(1, v / vmax)) : 0;
  const w = Math.round(255 * (1 - Math.abs(t)));
  return t >= 0 ? `rgb(255,${w},${w})` : `rgb(${w},${w},255)`;
}

/** Each convolution's kernels as one grid (columns: outputs, rows: inputs) in `holder`;
 *  `layerName(index)` names a layer as the page does. */
export function showFilters(holder, filters, layerName) {
  if (!filters.length) {
    holder.replaceChildren(el("p", { class: "muted", text: "no convolutions" }));
    return;
  }
  holder.replaceChildren(...filters.map((f) => {
    const [cout, cin, ...k] = f.shape;
    const [kh, kw] = k.length === 2 ? k : [1, k[0]];
    const inShown = Math.min(cin, MAX_KERNEL_CHANNELS);
    const px = Math.max(3, Math.floor(18 / Math.max(kh, kw)));
    const [cw, ch] = [kw * px + 2, kh * px + 2];  // one kernel and its 2px gap
    const canvas = el("canvas", { class: "filter-grid", "data-testid": `filters-${f.layer}` });
    canvas.width = f.shown * cw;
    canvas.height = inShown * ch;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#8a939e";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    const vmax = Math.max(Math.abs(f.lo), Math.abs(f.hi));
    f.weight.forEach((out, o) => out.slice(0, inShown).forEach((w, c) => {
      const rows = k.length === 2 ? w : [w];
      rows.forEach((r, i) => r.forEach((v, j) => {
        ctx.fillStyle = diverging(v, vmax);
        ctx.fillRect(o * cw + 1 + j * px, c * ch + 1 + i * px, px, px);
      }));
    }));
    const note = `${layerName(f.layer)} (module "${f.name}"): weight (${f.shape.join(", ")}); ` +
      `columns: ${f.shown} output ` +
      `channels${f.shown < cout ? ` of ${cout}` : ""}, rows: ${inShown} input channels` +
      `${inShown < cin ? ` of ${cin}` : ""}; blue < 0 < red (max |w| ${vmax.toFixed(3)})`;
    return el("figure", { class: "filters" }, el("figcaption", { text: note }), canvas);
  }));
}

function linePlot(title, series, epochs) {
  // The legend sits in its own band above the plot area, so it never covers a line.
  const W = 320, H = 180, L = 44, B = 26, T = 22 + 13 * series.length;
  const values = series.flatMap((s) => s.values).filter((v) => v !== null);
  if (!values.length) return el("p", { class: "muted", text: `${title}: -` });
  let lo = Math.min(...values), hi = Math.max(...values);
  if (hi === lo) { hi += 0.5; lo -= 0.5; }
  const e0 = epochs[0], e1 = epochs[epochs.length - 1];
  const xOf = (e) => L + (e1 === e0 ? (W - L - 10) / 2 : ((e - e0) / (e1 - e0)) * (W - L - 10));
  const yOf = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "plot");
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
  };
  add("text", { x: L, y: 13, class: "title" }, title);
  add("line", { x1: L, y1: H - B, x2: W - 8, y2: H - B, class: "axis" });
  add("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" });
  add("text", { x: L - 4, y: yOf(hi) + 4, class: "tick end" }, hi.toPrecision(3));
  add("text", { x: L - 4, y: yOf(lo) + 4, class: "tick end" }, lo.toPrecision(3));
  add("text", { x: xOf(e0), y: H - 8, class: "tick" }, `epoch ${e0}`);
  if (e1 !== e0) add("text", { x: xOf(e1), y: H - 8, class: "tick end" }, `${e1}`);
  series.forEach((s, k) => {
    const pts = s.values.map((v, i) => (v === null ? null : `${xOf(epochs[i])},${yOf(v)}`))
      .filter(Boolean);
    add("polyline", { points: pts.join(" "), class: `line s${k}` });
    pts.forEach((p) => { const [cx, cy] = p.split(","); add("circle", { cx, cy, r: 2.5,
      class: `dot s${k}` }); });
    add("text", { x: W - 10, y: 13 + 13 * k, class: `tick end s${k}` }, s.name);
  });
  return svg;
}

export function showCurves(holder, columns) {
  const epochs = columns.epoch || [];
  const pick = (names) => names.filter((n) => columns[n]).map((n) => ({ name: n,
    values: columns[n] }));
  holder.replaceChildren(
    linePlot("loss", pick(["train_loss", "val_loss", "test_loss"]), epochs),
    linePlot("accuracy", pick(["train_accuracy", "val_accuracy", "test_accuracy"]), epochs));
}

export function showConfusion(holder, cm) {
  const names = cm.class_names;
  const max = Math.max(1, ...cm.matrix.flat());
  const table = el("table", { class: "confusion", "data-testid": "confusion" });
  table.append(el("tr", {}, el("th", { text: "true \\ pred" }),
    ...names.map((n) => el("th", { text: n }))));
  cm.matrix.forEach((row, i) => table.append(el("tr", {}, el("th", { text: names[i] }),
    ...row.map((v, j) => el("td", { class: i === j ? "diag" : "",
      style: `background:rgba(${i === j ? "31,78,156" : "192,57,43"},${(v / max).toFixed(3)});` +
        `color:${v / max > 0.55 ? "#fff" : "#111"}`, text: String(v) })))));
  holder.replaceChildren(table,
    el("p", { class: "muted", text: `test accuracy ${(cm.accuracy * 100).toFixed(2)}%` }));
}
