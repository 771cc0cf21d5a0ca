// The model page's DOM skeleton, built inside a root element. Parts are found with
// part(root, name) (a data-part attribute), never by document-wide id, so several model pages
// can live on one page; data-testid attributes are the tests' hooks.

const SKELETON = `
<header class="model-head">
  <h1 data-part="model-title">Inside a model</h1>
  <p class="muted" data-part="model-summary"></p>
  <p class="muted numbering">Everything here is counted from 1: samples, channels, kernels,
    rows and columns.</p>
  <p class="error" role="alert" data-part="model-error" data-testid="model-error" hidden></p>
</header>

<div class="model-body">
  <section class="input-panel" aria-label="input">
    <h2>Input</h2>
    <div class="canvas-wrap">
      <canvas data-part="draw-canvas" data-testid="draw-canvas"></canvas>
      <div class="rf-box" data-part="rf-box" data-testid="rf-box" hidden></div>
    </div>
    <p class="hint" data-part="draw-hint">Draw with a mouse, a pen or a finger; the prediction
      updates when a stroke ends.</p>
    <div class="input-tools">
      <button type="button" data-part="clear" data-testid="clear">clear</button>
      <span data-part="sample-tools">
        <label>test sample <input data-part="sample-index" data-testid="sample-index"
          type="number" min="1" value="1" inputmode="numeric"></label>
        <button type="button" data-part="sample-load" data-testid="sample-load">show</button>
      </span>
      <label class="upload">upload <input data-part="upload" data-testid="upload" type="file"
        accept=".png,.jpg,.jpeg,.npy"></label>
    </div>
    <p class="muted" data-part="sample-label" data-testid="sample-label"></p>
    <p class="muted" data-part="upload-note" data-testid="upload-note" hidden></p>

    <h2>Prediction</h2>
    <ol class="prediction" data-part="prediction" data-testid="prediction"></ol>
    <p class="top1">top class:
      <strong data-part="prediction-top1" data-testid="prediction-top1">-</strong>
      <span data-part="verdict" data-testid="verdict"></span></p>

    <h2>Selected unit</h2>
    <div class="details" data-part="details" data-testid="details">
      <p class="muted">Click or tap a pixel of a feature map: its receptive field is outlined
        on the input and the kernel that produced the map is shown here.</p>
    </div>
  </section>

  <div class="model-main">
  <section class="layers-panel" aria-label="layers">
    <h2>Layers <span class="muted">(every layer's output for this input;
      <span data-part="layers-note"></span>colour: low <span class="swatch lo"></span> to high
      <span class="swatch hi"></span>, per layer)</span></h2>
    <div data-part="layers"></div>
  </section>

  <!-- in the right-hand column too, so the sticky input stays in view down to the end -->
  <section aria-label="filters">
    <h2>Filters of each convolution</h2>
    <div data-part="filters"></div>
  </section>

  <section class="run-panel" aria-label="training">
    <div>
      <h2>Training curves</h2>
      <div class="curves" data-part="curves"><p class="muted">-</p></div>
    </div>
    <div>
      <h2>Confusion matrix <span class="muted">(test set; rows: true class)</span></h2>
      <div class="confusion-wrap" data-part="confusion"><p class="muted">-</p></div>
    </div>
  </section>
  </div>
</div>`;

/** Fill `root` with the model page's skeleton (the root gets the class "model-page"). */
export function buildModel(root) {
  root.classList.add("model-page");
  root.innerHTML = SKELETON;
}

/** The element `name` (its data-part) inside `root`. */
export function part(root, name) {
  const node = root.querySelector(`[data-part="${name}"]`);
  if (!node) throw new Error(`model page: no part "${name}"`);
  return node;
}
