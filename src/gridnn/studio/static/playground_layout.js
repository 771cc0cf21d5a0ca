// The playground's DOM skeleton, built inside a root element. Parts are found with
// part(root, name) (a data-part attribute), never by document-wide id, so several playgrounds
// can live on one page; data-testid attributes are the tests' hooks.

const SKELETON = `
<section class="controls" aria-label="settings">
  <fieldset>
    <legend>Input</legend>
    <label>preset <select data-part="input-preset" data-testid="input-preset"></select></label>
    <label>dims <select data-part="dims" data-testid="dims">
      <option value="1">1-D</option><option value="2">2-D</option></select></label>
    <label data-part="rows-label">rows <input data-part="rows" data-testid="input-rows"
      type="number" min="1" inputmode="numeric"></label>
    <label><span data-part="cols-name">cols</span> <input data-part="cols"
      data-testid="input-cols" type="number" min="1" inputmode="numeric"></label>
    <label>channels <select data-part="channels" data-testid="channels"></select></label>
    <label class="switch" title="label the cells x1.. and y1.. as the dense matrix does"><input
      data-part="labels" data-testid="index-toggle" type="checkbox" checked> indices</label>
  </fieldset>
  <fieldset>
    <legend>Kernels</legend>
    <label>kernels <select data-part="kernel-count" data-testid="kernel-count"></select></label>
    <label data-part="kh-label">height <select data-part="kh" data-testid="kernel-height">
      </select></label>
    <label><span data-part="kw-name">width</span>
      <select data-part="kw" data-testid="kernel-width"></select></label>
  </fieldset>
  <fieldset class="geometry">
    <legend>Geometry</legend>
    <label>stride <select data-part="stride" data-testid="stride"></select></label>
    <label>padding <select data-part="padding" data-testid="padding"></select></label>
    <label>dilation <select data-part="dilation" data-testid="dilation"></select></label>
    <label class="switch"><input data-part="share" data-testid="share-toggle" type="checkbox"
      checked> share weights <span class="muted" data-part="share-note">(convolution)</span>
      </label>
    <div class="formula" data-part="formula" data-testid="output-formula"></div>
  </fieldset>
</section>
<p class="error" role="alert" data-part="error" data-testid="playground-error" hidden></p>

<section class="stage" data-part="stage">
  <div class="panel input-panel">
    <h2>Input <span class="muted" data-part="input-shape"></span></h2>
    <div class="grids" data-part="input-grids"></div>
    <p class="hint" data-part="padding-note" data-testid="padding-note" hidden></p>
    <p class="hint">Dashed cells are padding (zeros). Hover or tap a cell to see the outputs
      that read it.</p>
  </div>
  <div class="panel kernel-panel">
    <h2>Kernels <span class="muted" data-part="kernel-shape"></span></h2>
    <div class="kernels" data-part="kernel-grids"></div>
  </div>
  <div class="panel output-panel">
    <h2>Output <span class="muted" data-part="output-shape"></span></h2>
    <div class="grids" data-part="output-grids"></div>
    <div class="stepper">
      <button type="button" data-part="step-prev" data-testid="step-prev"
        title="previous position">&#9664;</button>
      <button type="button" data-part="play" data-testid="play">play</button>
      <button type="button" data-part="step-next" data-testid="step-next"
        title="next position">step &#9654;</button>
      <input data-part="scrub" data-testid="scrub" type="range" min="0" max="0" value="0"
        aria-label="output position">
      <button type="button" data-part="show-all" data-testid="show-all">show all</button>
    </div>
    <p class="muted position" data-part="position" data-testid="position">
      Step to follow the window.</p>
  </div>
</section>

<section class="panel window-panel" data-part="window-panel" hidden>
  <h2>This output: each slice of the window &times; kernel, summed, plus bias</h2>
  <div class="grids" data-part="products"></div>
  <ul class="partials" data-part="partials" data-testid="channel-sums"></ul>
  <p class="equation" data-part="equation" data-testid="equation"></p>
  <p class="equation numbers" data-part="numeric" data-testid="equation-numbers"></p>
</section>

<section class="panel mlp-panel" data-part="mlp-panel">
  <h2>The same layer as an MLP: the dense matrix (outputs &times; inputs)</h2>
  <div class="counts">
    <div class="count"><span class="number" data-part="count-mlp" data-testid="count-mlp">
      </span><span class="what"><b>MLP weights</b><br><span class="muted" data-part="say-mlp"
      data-testid="say-mlp"></span></span></div>
    <div class="count"><span class="number" data-part="count-sparse"
      data-testid="count-sparse"></span><span class="what"><b>connections</b><br><span
      class="muted" data-part="say-sparse" data-testid="say-sparse"></span></span></div>
    <div class="count"><span class="number" data-part="count-params"
      data-testid="count-params"></span><span class="what"><b data-part="params-what">shared
      parameters</b><br><span class="muted" data-part="say-params" data-testid="say-params">
      </span></span></div>
  </div>
  <p class="hint" data-part="say-bias" data-testid="say-bias"></p>
  <p class="hint" data-part="matrix-hint"></p>
  <div class="matrix-wrap" data-part="matrix-wrap"><canvas data-part="matrix"
    data-testid="matrix"></canvas></div>
  <p class="muted" data-part="matrix-note" hidden></p>
  <div class="legend" data-part="legend"></div>
</section>`;

/** Fill `root` with the playground's skeleton (the root gets the class "playground"). */
export function buildPlayground(root) {
  root.classList.add("playground");
  root.innerHTML = SKELETON;
}

/** The element `name` (its data-part) inside `root`. */
export function part(root, name) {
  const node = root.querySelector(`[data-part="${name}"]`);
  if (!node) throw new Error(`playground: no part "${name}"`);
  return node;
}
