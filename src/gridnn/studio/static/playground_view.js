// The playground's grids: input (with its padding ring), kernels, outputs and the products of
// one window. Each grid is rebuilt only when its shape changes, so a cell being edited keeps
// the focus; highlights are classes switched on the existing cells.

import {el, fmt, weightColour} from "./common.js";

const key = (idx) => idx.join(",");

/** Background for a value in a grid whose largest magnitude is `scale` (blue < 0 < orange). */
function shade(value, scale) {
  if (!scale || !value) return "";
  const t = Math.min(1, Math.abs(value) / scale);
  const alpha = 0.08 + 0.62 * t;
  return value > 0 ? `rgba(230, 126, 34, ${alpha})` : `rgba(52, 120, 200, ${alpha})`;
}
const maxAbs = (values) => values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** Positions of a grid of `shape` ([L] or [H, W]) widened by `pads` ([[lo, hi], ...]). */
function positions(shape, pads) {
  const [rows, cols] = shape.length === 2 ? shape : [1, shape[0]];
  const [[top, bottom], [left, right]] = shape.length === 2 ? pads : [[0, 0], pads[0]];
  const out = [];
  for (let i = -top; i < rows + bottom; i++) {
    for (let j = -left; j < cols + right; j++) {
      const inside = i >= 0 && i < rows && j >= 0 && j < cols;
      out.push({idx: shape.length === 2 ? [i, j] : [j], inside, row: i, col: j});
    }
  }
  return {cells: out, width: cols + left + right};
}

/** Cell side in pixels so that `width` cells fit the container's width (16..44). */
function cellSize(container, width) {
  const room = Math.max(200, container.clientWidth - 4);
  return Math.max(16, Math.min(44, Math.floor(room / width) - 2));
}

/** The number typed in `text`, or null: "1,000", "" and "1.2.3" are refused, never read
 *  as something else. */
function number(text) {
  const t = text.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t)) return null;
  const v = Number(t);
  return Number.isFinite(v) ? v : null;
}

/** Mark `input` as holding an unusable value (`why`, the message) or clear the mark (null). */
export function markBad(input, why) {
  input.classList.toggle("bad", Boolean(why));
  input.setAttribute("aria-invalid", String(Boolean(why)));
  if (why) input.dataset.why = why; else delete input.dataset.why;
}

/** One editable number cell: an <input> that reports a number on change, or stays marked
 *  (and calls onBad) while its text is not a number. */
function editCell(value, testid, label, onChange, onBad) {
  const input = el("input", {type: "text", inputmode: "decimal", "data-testid": testid,
                             value: fmt(value), "aria-label": label});
  input.addEventListener("change", () => {
    const v = number(input.value);
    if (v === null) {
      const shown = input.value.trim() === "" ? "an empty cell" : `"${input.value.trim()}"`;
      markBad(input, `${label}: ${shown} is not a number; type one such as 2, -0.5 or 1e-3`);
      onBad();
    } else {
      markBad(input, null);
      onChange(v);
    }
  });
  return input;
}

function gridBox(width, size, ...cells) {
  const grid = el("div", {class: "grid"}, ...cells);
  grid.style.gridTemplateColumns = `repeat(${width}, ${size}px)`;
  grid.style.setProperty("--cell", `${size}px`);
  return grid;
}

// ---- input ---------------------------------------------------------------------------------
/** The editable input with its padding ring: `shape` (C, *S) and `pads` come from the last
 *  answer (no padding while the settings are refused). Cells are labelled x1.. in the dense
 *  matrix's order (row by row, channel after channel). */
export function renderInput(container, state, shape, pads, handlers) {
  const sp = shape.slice(1);
  const k = JSON.stringify([shape, pads]);
  if (container.dataset.key !== k) {
    container.dataset.key = k;
    container.cells = [];
    const {cells, width} = positions(sp, pads);
    const size = cellSize(container, width);
    container.cellSide = {size, width};
    const plane = sp.reduce((a, b) => a * b, 1);
    container.replaceChildren(...state.input.map((channel, c) => {
      const map = new Map();
      container.cells.push(map);
      const nodes = cells.map(({idx, inside, row, col}) => {
        const id = `${row}-${col}`;
        const testid = c === 0 ? `input-cell-${id}` : `input-c${c}-cell-${id}`;
        const name = inside ? `x${c * plane + idx.reduce((f, i, d) => f * sp[d] + i, 0) + 1}`
          : "";
        const node = el("div", {class: inside ? "cell" : "cell pad"},
          inside ? editCell(0, testid, name, (v) => handlers.onCell(c, idx, v), handlers.onBad)
            : el("span", {class: "v", text: "0"}),
          inside ? el("span", {class: "idx", text: name}) : null,
          el("span", {class: "over"}));
        const at = inside ? idx : null;
        node.addEventListener("pointerenter", (e) => {
          if (e.pointerType === "mouse") handlers.onHover(c, at);
        });
        node.addEventListener("pointerleave", (e) => {
          if (e.pointerType === "mouse") handlers.onHover(c, null);
        });
        node.addEventListener("focusin", () => handlers.onHover(c, at));  // a tap edits
        map.set(key(idx), node);
        return node;
      });
      return el("figure", {class: "channel"},
        el("figcaption", {text: state.input.length > 1 ? `channel ${c + 1}` : ""}),
        gridBox(width, size, ...nodes));
    }));
  }
  const scale = maxAbs(state.input.flat(2));
  state.input.forEach((channel, c) => {
    for (const [k2, node] of container.cells[c] ?? []) {
      const idx = k2.split(",").map(Number);
      const input = node.querySelector("input");
      if (!input) continue;
      const value = idx.length === 2 ? channel[idx[0]][idx[1]] : channel[idx[0]];
      if (document.activeElement !== input && !input.classList.contains("bad")) {
        input.value = fmt(value);
      }
      node.style.background = shade(value, scale);
    }
  });
}

/** Outline `windowInfo`'s cells with the kernel's weights laid over them; light `lit` cells
 *  ([c, ...idx] each). */
export function markInput(container, windowInfo, lit) {
  for (const map of container.cells ?? []) {
    for (const node of map.values()) {
      node.classList.remove("win", "lit");
      node.querySelector(".over").textContent = "";
    }
  }
  for (const cell of windowInfo?.cells ?? []) {
    const node = container.cells[cell.channel]?.get(key(cell.at));
    if (!node) continue;
    node.classList.add("win");
    node.querySelector(".over").textContent = `×${fmt(cell.w)}`;
  }
  for (const [c, ...idx] of lit) container.cells[c]?.get(key(idx))?.classList.add("lit");
}

// ---- kernels -------------------------------------------------------------------------------
/** The kernels' editors: `problem.kernels` (K, C, *k) as shown (with sharing off: those of
 *  one position, which `problem.where` names), `problem.bias` (K,). */
export function renderKernels(container, problem, handlers) {
  const shape = [problem.kernels.length, ...sizeOf(problem.kernels[0])];
  const k = JSON.stringify([shape, handlers.presets.map(([n]) => n)]);
  if (container.dataset.key !== k) {
    container.dataset.key = k;
    container.inputs = [];
    container.replaceChildren(...problem.kernels.map((kernel, kk) => {
      const select = el("select", {"data-testid": kk === 0 ? "kernel-preset"
        : `kernel-preset-${kk}`, "aria-label": `kernel ${kk + 1} preset`},
        el("option", {value: "", text: "preset…"}),
        ...handlers.presets.map(([name, p]) => el("option", {value: name, text: p.label})));
      select.addEventListener("change", () => {
        if (select.value) handlers.onPreset(kk, select.value);
      });
      const bias = editCell(problem.bias[kk], kk === 0 ? "bias" : `bias-${kk}`,
                            `bias of kernel ${kk + 1}`, (v) => handlers.onBias(kk, v),
                            handlers.onBad);
      container.inputs.push({bias, cells: []});
      const channels = kernel.map((slice, c) => {
        const rows = Array.isArray(slice[0]) ? slice : [slice];
        const width = rows[0].length;
        const nodes = [];
        rows.forEach((row, i) => row.forEach((_, j) => {
          const idx = Array.isArray(slice[0]) ? [i, j] : [j];
          const testid = kk === 0 && c === 0 ? `kernel-cell-${i}-${j}`
            : `kernel-${kk}-c${c}-cell-${i}-${j}`;
          const input = editCell(0, testid, `kernel ${kk + 1} weight`,
                                 (v) => handlers.onCell(kk, c, idx, v), handlers.onBad);
          container.inputs[kk].cells.push({c, idx, input});
          nodes.push(el("div", {class: "cell"}, input));
        }));
        return el("figure", {class: "channel"},
          el("figcaption", {text: kernel.length > 1 ? `ch ${c + 1}` : ""}),
          gridBox(width, 40, ...nodes));
      });
      return el("div", {class: "kernel"},
        el("div", {class: "kernel-head"}, el("strong", {text: `kernel ${kk + 1}`}), select),
        el("p", {class: "where muted", "data-testid": kk === 0 ? "kernel-where" : null}),
        el("div", {class: "grids"}, ...channels),
        el("label", {class: "bias"}, "bias ", bias));
    }));
  }
  problem.kernels.forEach((kernel, kk) => {
    const scale = maxAbs(kernel.flat(2));
    for (const {c, idx, input} of container.inputs[kk].cells) {
      const value = idx.length === 2 ? kernel[c][idx[0]][idx[1]] : kernel[c][idx[0]];
      if (document.activeElement !== input && !input.classList.contains("bad")) {
        input.value = fmt(value);
      }
      input.parentElement.style.background = shade(value, scale);
    }
    const bias = container.inputs[kk].bias;
    if (document.activeElement !== bias && !bias.classList.contains("bad")) {
      bias.value = fmt(problem.bias[kk]);
    }
  });
  for (const where of container.querySelectorAll(".where")) {
    where.hidden = !problem.where;
    where.textContent = problem.where ?? "";
  }
}

/** [C, *k] of one kernel (C, *k). */
function sizeOf(kernel) {
  const slice = kernel[0];
  return [kernel.length, ...(Array.isArray(slice[0]) ? [slice.length, slice[0].length]
    : [slice.length])];
}

// ---- outputs -------------------------------------------------------------------------------
/** The outputs, labelled y1.. in the dense matrix's order. A 1-D output sits on the padded
 *  input's columns, each value under the centre of its window (`result.windows`). */
export function renderOutput(container, result, handlers) {
  const [kernels, ...shape] = result.output_shape;
  const inputGrid = container.closest(".playground")?.querySelector('[data-part="input-grids"]');
  const under = shape.length === 1 && inputGrid?.cellSide;
  const k = JSON.stringify([result.output_shape, under ? [result.windows, under] : null]);
  if (container.dataset.key !== k) {
    container.dataset.key = k;
    container.cells = new Map();
    const plane = shape.reduce((a, b) => a * b, 1);
    let {cells, width} = positions(shape, shape.map(() => [0, 0]));
    let size = cellSize(container, width);
    if (under) {  // one column per padded input cell, as in the input grid
      size = under.size;
      width = under.width;
    }
    container.replaceChildren(...Array.from({length: kernels}, (_, kk) => {
      const nodes = cells.map(({idx, row, col}) => {
        const position = [kk, ...idx];
        const n = kk * plane + idx.reduce((f, i, d) => f * shape[d] + i, 0) + 1;
        const node = el("div", {class: "cell out", "data-testid": kk === 0
          ? `output-cell-${row}-${col}` : `output-${kk}-cell-${row}-${col}`},
          el("span", {class: "val"}), el("span", {class: "idx", text: `y${n}`}));
        if (under) node.style.gridColumn = String(result.windows[0][col][2] + 1);
        node.addEventListener("click", () => handlers.onClick(position));
        node.addEventListener("pointerenter", (e) => {
          if (e.pointerType === "mouse") handlers.onHover(position);
        });
        node.addEventListener("pointerleave", (e) => {
          if (e.pointerType === "mouse") handlers.onHover(null);
        });
        container.cells.set(key(position), node);
        return node;
      });
      const grid = gridBox(width, size, ...nodes);
      if (under) grid.classList.add("under");
      return el("figure", {class: "channel"},
        el("figcaption", {text: kernels > 1 ? `map ${kk + 1}` : ""}), grid);
    }));
  }
  const scale = maxAbs(result.output.flat(2));
  for (const [k2, node] of container.cells) {
    const [kk, ...idx] = k2.split(",").map(Number);
    const value = idx.reduce((a, i) => a[i], result.output[kk]);
    node.dataset.value = String(value);
    node.querySelector(".val").textContent = idx.reduce((a, i) => a[i], result.output_text[kk]);
    node.style.background = shade(value, scale);
  }
}

/** No answer to show (the settings were refused): every output cell emptied and greyed. */
export function clearOutput(container) {
  for (const node of container.cells?.values() ?? []) {
    delete node.dataset.value;
    node.querySelector(".val").textContent = "";
    node.style.background = "";
    node.classList.remove("current", "pending", "lit");
  }
}

/** The output being explained (`step`, a flat row) is current, later ones not yet filled in. */
export function markOutput(container, step, lit) {
  let row = 0;
  for (const node of container.cells.values()) {  // insertion order is row order
    node.classList.toggle("current", step === row);
    node.classList.toggle("pending", step !== null && row > step);
    node.classList.remove("lit");
    row += 1;
  }
  for (const position of lit) container.cells.get(key(position))?.classList.add("lit");
}

// ---- the products of one window ------------------------------------------------------------
export function renderProducts(container, windowInfo, kernelShape) {
  const width = kernelShape[kernelShape.length - 1];
  const byChannel = new Map();
  for (const cell of windowInfo.cells) {
    if (!byChannel.has(cell.channel)) byChannel.set(cell.channel, []);
    const label = cell.padding ? `${cell.w_label}·pad` : `${cell.w_label}·${cell.x_label}`;
    const node = el("div", {class: cell.padding ? "product pad" : "product"},
      el("span", {class: "label", text: label}),
      el("span", {text: cell.text}),
      el("strong", {text: `= ${cell.product_text}`}));
    const weight = Number(cell.w_label.slice(1)) - 1;
    node.style.borderColor = weightColour(weight, 50);
    byChannel.get(cell.channel).push(node);
  }
  container.replaceChildren(...[...byChannel].map(([c, nodes]) => {
    const grid = el("div", {class: "grid products"}, ...nodes);
    grid.style.gridTemplateColumns = `repeat(${width}, minmax(6.5em, auto))`;
    return el("figure", {class: "channel"},
      el("figcaption", {text: byChannel.size > 1 ? `channel ${c + 1}` : ""}), grid);
  }));
}
