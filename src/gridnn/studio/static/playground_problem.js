// The playground's editable problem (input, kernels, biases, geometry, sharing) and the shape
// helpers it needs: resizing, presets loaded into cells, the request body. Arrays are only
// reshaped and copied here; every number shown is computed by the server.

// ---- small array helpers (shapes of the editable state, not maths) ----------------------
export const shapeOf = (a) => Array.isArray(a) ? [a.length, ...shapeOf(a[0])] : [];
/** `a` resized to `shape`: kept where it overlaps, zeros elsewhere. */
export function resize(a, shape) {
  if (shape.length === 0) return typeof a === "number" ? a : 0;
  return Array.from({length: shape[0]}, (_, i) =>
    resize(Array.isArray(a) && i < a.length ? a[i] : undefined, shape.slice(1)));
}
/** Flat row-major index -> index tuple of `shape`, and back. */
export function unravel(index, shape) {
  const out = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    out.unshift(index % shape[d]);
    index = Math.floor(index / shape[d]);
  }
  return out;
}
export const ravel = (idx, shape) => idx.reduce((flat, i, d) => flat * shape[d] + i, 0);
export const range = (lo, hi) => Array.from({length: hi - lo + 1}, (_, i) => lo + i);
export function setAt(array, idx, value) {
  let a = array;
  for (const i of idx.slice(0, -1)) a = a[i];
  a[idx[idx.length - 1]] = value;
}

/** The problem being edited, with the server's presets (GET /api/playground/presets). */
export class Problem {
  constructor(presets) {
    this.presets = presets;
    Object.assign(this, {dims: 2, input: [], kernels: [], bias: [], stride: 1,
                         padding: "valid", dilation: 1, share: true, local: null,
                         localShape: null});
  }

  spatial() { return shapeOf(this.input).slice(1); }
  kernelSize() { return shapeOf(this.kernels).slice(2); }
  kernelNames() {
    return Object.keys(this.presets.kernels)
      .filter((n) => this.presets.kernels[n].dims === this.dims);
  }
  /** The input preset whose channels (and kernel slices) differ, for new channels. */
  channelExample() { return this.presets.inputs[this.presets.channel_example[this.dims]]; }

  /** A named kernel as (C, *size): its slice on channel 0, the multi-channel example's
   *  slices (different per channel) on the others, so channels never copy channel 1. */
  kernelFromPreset(name, size) {
    const example = this.channelExample().kernel;
    return this.input.map((_, c) => resize(c === 0 ? this.presets.kernels[name].data
      : example[c], size));
  }

  /** The i-th new kernel: the first named preset of `size` whose weights no kernel among
   *  `existing` has yet, else any preset resized. */
  newKernel(i, size, existing) {
    const names = this.kernelNames();
    const all = this.presets.kernels;
    const fits = names.filter((n) => shapeOf(all[n].data).join() === size.join());
    const pool = [...fits, ...names.filter((n) => !fits.includes(n))];
    const taken = new Set(existing.map((k) => JSON.stringify(k[0])));
    const name = pool.find((n) => !taken.has(JSON.stringify(resize(all[n].data, size))))
      ?? pool[i % pool.length];
    return {data: this.kernelFromPreset(name, size), bias: all[name].bias ?? 0};
  }

  /** Start from `problem` ({input, kernels, bias, stride, padding, dilation}). */
  set(problem) {
    this.input = structuredClone(problem.input);
    this.dims = shapeOf(this.input).length - 1;
    this.kernels = structuredClone(problem.kernels);
    this.bias = structuredClone(problem.bias ?? this.kernels.map(() => 0));
    this.stride = problem.stride ?? 1;
    this.padding = problem.padding ?? "valid";
    this.dilation = problem.dilation ?? 1;
    this.local = null;
  }

  loadInputPreset(name) {
    const preset = this.presets.inputs[name];
    const dimsChanged = preset.dims !== this.dims;
    this.dims = preset.dims;
    this.input = structuredClone(preset.data);
    this.local = null;
    if (preset.kernel) {  // a preset that brings its own kernel (one slice per channel)
      this.kernels = [structuredClone(preset.kernel)];
      this.bias = [preset.bias ?? 0];
      return;
    }
    const size = dimsChanged ? shapeOf(this.presets.kernels[this.kernelNames()[0]].data)
      : this.kernelSize();
    const k = dimsChanged ? 1 : this.kernels.length;
    this.kernels = [];
    this.bias = [];
    this.setKernelCount(k, size);
  }

  setKernelCount(k, size = this.kernelSize()) {
    const kernels = [], bias = [];
    for (let i = 0; i < k; i++) {
      const made = i < this.kernels.length ? {data: this.kernels[i], bias: this.bias[i]}
        : this.newKernel(i, size, kernels);
      kernels.push(made.data);
      bias.push(made.bias);
    }
    this.kernels = kernels;
    this.bias = bias;
    this.local = null;
  }

  /** `c` channels: new ones are the multi-channel example's channels of those numbers. */
  setChannels(c) {
    const example = this.channelExample();
    this.input = range(0, c - 1).map((i) => this.input[i] ?? resize(example.data[i],
                                                                     this.spatial()));
    this.kernels = this.kernels.map((k) => range(0, c - 1).map(
      (i) => k[i] ?? resize(example.kernel[i], this.kernelSize())));
    this.local = null;
  }

  /** Every channel resized to `size` (spatial), kept where it overlaps, zeros elsewhere. */
  resizeInput(size) {
    this.input = this.input.map((ch) => resize(ch, size));
    this.local = null;
  }

  resizeKernels(size) {
    this.kernels = this.kernels.map((k) => k.map((ch) => resize(ch, size)));
    this.local = null;
  }

  /** Kernel `k` set to preset `name`; the first kernel's preset sets the size of all. */
  setKernelPreset(k, name) {
    const size = k === 0 ? shapeOf(this.presets.kernels[name].data) : this.kernelSize();
    this.kernels = this.kernels.map((kk, i) => i === k ? this.kernelFromPreset(name, size)
      : kk.map((ch) => resize(ch, size)));
    this.bias[k] = this.presets.kernels[name].bias ?? 0;
    this.local = null;
  }

  /** The (C, *k) weights edited for kernel `k`: shared, or without sharing those of output
   *  row `row` (the stepped one). */
  editedKernel(k, row) {
    if (this.share || !this.local) return this.kernels[k];
    return unravel(row, this.localShape).slice(1).reduce((a, i) => a[i], this.local)[k];
  }

  /** The /api/playground/conv request. */
  body() {
    const b = {input: this.input, kernels: this.kernels, bias: this.bias, stride: this.stride,
               padding: this.padding, dilation: this.dilation, share: this.share};
    if (!this.share && this.local) b.local_kernels = this.local;
    return b;
  }
}
