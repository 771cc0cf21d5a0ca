// The playground's grids: input (with its padding ring), kernels, outputs and the products of
// one window. Each grid is rebuilt only when its shape changes, so a cell being edited keeps
// the focus; highlights are classes switched on the existing cells.

import {el, fmt, weightColour} from "./common.js";

const key = (idx) => idx.join(",");

/** Background for a value in a grid whose largest magnitude is `scale` (blue < 0 < orange). */
function shade(value, scale) {
  if (!scale || !value) return "";
  const t = Math.min(1, Math.abs(value) / scale);
  return value > 0 ? `rgba(230, 126, 34, ${0.08 + 0.62 * t})` : `rgba(52, 120, 200, ${0.08 + 0.62 * t})`;
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

function number(value) {
  const v = Number(String(value).replace(",", "."));
  return Number.isFinite(v) ? v : null;
}

/** One editable number cell: an <input> that reports a finite number on change. */
function editCell(value, testid, onChange) {
  const input = el("input", {type: "text", inputmode: "decimal", "data-testid": testid,
                             value: fmt(value), "aria-label": testid});
  input.addEventListener("change", () => {
    const v = number(input.value);
    if (v === null) input.classList.add("bad"); else { input.classList.remove("bad"); onChange(v); }
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
export function renderInput(container, state, result, handlers) {
  const shape = result.input_shape.slice(1);
  const k = JSON.stringify([result.input_shape, result.pads]);
  if (container.dataset.key !== k) {
    container.dataset.key = k;
    container.cells = [];
    const {cells, width} = positions(shape, result.pads);
    const size = cellSize(container, width);
    container.replaceChildren(...state.input.map((channel, c) => {
      const map = new Map();
      container.cells.push(map);
      const nodes = cells.map(({idx, inside, row, col}) => {
        const id = `${row}-${col}`;
        const testid = c === 0 ? `input-cell-${id}` : `input-c${c}-cell-${id}`;
        const node = el("div", {class: inside ? "cell" : "cell pad"},
          inside ? editCell(0, testid, (v) => handlers.onCell(c, idx, v))
            : el("span", {class: "v", text: "0"}),
          el("span", {class: "over"}));
        node.addEventListener("mouseenter", () => handlers.onHover(c, inside ? idx : null));
        node.addEventListener("mouseleave", () => handlers.onHover(c, null));
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
    for (const [k2, node] of container.cells[c]) {
      const idx = k2.split(",").map(Number);
      const input = node.querySelector("input");
      if (!input) continue;
      const value = idx.length === 2 ? channel[idx[0]][idx[1]] : channel[idx[0]];
      if (document.activeElement !== input) input.value = fmt(value);
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
export function renderKernels(container, state, handlers) {
  const shape = [state.kernels.length, state.input.length, ...shapeOfKernel(state)];
  const k = JSON.stringify([shape, handlers.presets.map(([n]) => n)]);
  if (container.dataset.key !== k) {
    container.dataset.key = k;
    container.inputs = [];
    container.replaceChildren(...state.kernels.map((kernel, kk) => {
      const select = el("select", {"data-testid": kk === 0 ? "kernel-preset" : `kernel-preset-${kk}`,
                                   "aria-label": `kernel ${kk + 1} preset`},
        el("option", {value: "", text: "preset…"}),
        ...handlers.presets.map(([name, p]) => el("option", {value: name, text: p.label})));
      select.addEventListener("change", () => {
        if (select.value) handlers.onPreset(kk, select.value);
      });
      const bias = editCell(state.bias[kk], kk === 0 ? "bias" : `bias-${kk}`,
                            (v) => handlers.onBias(kk, v));
      container.inputs.push({bias, cells: []});
      const channels = kernel.map((slice, c) => {
        const rows = Array.isArray(slice[0]) ? slice : [slice];
        const width = rows[0].length;
        const nodes = [];
        rows.forEach((row, i) => row.forEach((_, j) => {
          const idx = Array.isArray(slice[0]) ? [i, j] : [j];
          const testid = kk === 0 && c === 0 ? `kernel-cell-${i}-${j}`
            : `kernel-${kk}-c${c}-cell-${i}-${j}`;
          const input = editCell(0, testid, (v) => handlers.onCell(kk, c, idx, v));
          container.inputs[kk].cells.push({c, idx, input});
          nodes.push(el("div", {class: "cell"}, input));
        }));
        return el("figure", {class: "channel"},
          el("figcaption", {text: kernel.length > 1 ? `ch ${c + 1}` : ""}),
          gridBox(width, 40, ...nodes));
      });
      return el("div", {class: "kernel"},
        el("div", {class: "kernel-head"}, el("strong", {text: `kernel ${kk + 1}`}), select),
        el("div", {class: "grids"}, ...channels),
        el("label", {class: "bias"}, "bias ", bias));
    }));
  }
  state.kernels.forEach((kernel, kk) => {
    const scale = maxAbs(kernel.flat(2));
    for (const {c, idx, input} of container.inputs[kk].cells) {
      const value = idx.length === 2 ? kernel[c][idx[0]][idx[1]] : kernel[c][idx[0]];
      if (document.activeElement !== input) input.value = fmt(value);
      input.parentElement.style.background = shade(value, scale);
    }
    const bias = container.inputs[kk].bias;
    if (document.activeElement !== bias) bias.value = fmt(state.bias[kk]);
  });
}

function shapeOfKernel(state) {
  const slice = state.kernels[0][0];
  return Array.isArray(slice[0]) ? [slice.length, slice[0].length] : [slice.length];
}

// ---- outputs -------------------------------------------------------------------------------
export function renderOutput(container, result, handlers) {
  const [kernels, ...shape] = result.output_shape;
  const k = JSON.stringify(result.output_shape);
  if (container.dataset.key !== k) {
    container.dataset.key = k;
    container.cells = new Map();
    const {cells, width} = positions(shape, shape.map(() => [0, 0]));
    const size = cellSize(container, width);
    container.replaceChildren(...Array.from({length: kernels}, (_, kk) => {
      const nodes = cells.map(({idx, row, col}) => {
        const position = [kk, ...idx];
        const node = el("div", {class: "cell out", "data-testid": kk === 0
          ? `output-cell-${row}-${col}` : `output-${kk}-cell-${row}-${col}`});
        node.addEventListener("click", () => handlers.onClick(position));
        node.addEventListener("mouseenter", () => handlers.onHover(position));
        node.addEventListener("mouseleave", () => handlers.onHover(null));
        container.cells.set(key(position), node);
        return node;
      });
      return el("figure", {class: "channel"},
        el("figcaption", {text: kernels > 1 ? `map ${kk + 1}` : ""}),
        gridBox(width, size, ...nodes));
    }));
  }
  const scale = maxAbs(result.output.flat(2));
  for (const [k2, node] of container.cells) {
    const [kk, ...idx] = k2.split(",").map(Number);
    const value = idx.reduce((a, i) => a[i], result.output[kk]);
    node.dataset.value = String(value);
    node.textContent = fmt(value);
    node.style.background = shade(value, scale);
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
      el("span", {text: `${fmt(cell.w)} × ${fmt(cell.x)}`}),
      el("strong", {text: `= ${fmt(cell.product)}`}));
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
