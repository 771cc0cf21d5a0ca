// The learn page as a mountable module.
//
// Contract: mountLearn(root, api, openStream) builds the whole page inside the element `root`
// and looks elements up only inside it (data-testid attributes are the tests' hooks). It talks
// to the server only through `api(path, body) -> Promise<json>` (common.js's `api`) and
// `openStream(path)`, which returns an EventSource-like object (`onmessage` receives
// {data: JSON text}; `close()`): the training job's figures arrive there while it trains.
// Resolves once the settings are loaded and the parameter counts drawn.
//
// The server trains (gridnn's train.fit in a worker thread); this file sends the settings and
// the controls and draws the figures it is sent.
import {el} from "./common.js";
import {buildLearn, part} from "./learn_layout.js";
import {
  RUN_COLOURS, drawBackprop, drawCompare, drawCurves, drawKernels, drawSample, drawUpdates, pct,
} from "./learn_view.js";

const LAYER_FIELDS = [["channels", "filters", 1, 32], ["kernel", "kernel", 1, 7],
                      ["stride", "stride", 1, 3], ["padding", "padding", 0, 3],
                      ["dilation", "dilation", 1, 3], ["pool", "pool", 1, 2]];

/** Build the learn page in `root` (see the contract at the top of this file). */
export async function mountLearn(root, api, openStream) {
  buildLearn(root);
  const $ = (name) => part(root, name);
  const options = await api("/api/learn/options");
  const page = {layers: options.default_layers.map((l) => ({...l})), hidden: 0,
                job: null, started: null, runs: [], current: null, snapshot: null};

  // ---- settings --------------------------------------------------------------------------
  $("data").replaceChildren(...options.datasets.map((d) => el("option", {
    value: d.name, disabled: !d.available, text: d.available ? d.name : `${d.name} (missing)`,
    title: d.where})));
  $("model").replaceChildren(...options.models.map((m) => el("option", {
    value: m, text: m === "stack" ? "the stack below" : `zoo: ${m}`})));
  const dataset = () => options.datasets.find((d) => d.name === $("data").value);

  function fillDefaults() {
    const d = dataset().defaults;
    $("optimizer").value = d.optimizer;
    $("schedule").value = d.schedule;
    $("lr").value = d.lr;
    $("batch").value = d.batch_size;
    $("wd").value = d.weight_decay;
    $("epochs").value = d.epochs;
    const missing = options.datasets.filter((x) => !x.available);
    $("data-note").textContent = missing.map((x) => `${x.name}: ${x.where}`).join("; ");
  }
  $("seed").value = 0;
  $("val").value = 0;
  $("dropout").value = "";
  $("dropout").placeholder = "model's";
  fillDefaults();

  function settings() {
    const number = (name) => ($(name).value === "" ? null : Number($(name).value));
    return {
      data: $("data").value, model: $("model").value, connect: $("arch").value,
      layers: page.layers, hidden: page.hidden,
      train_size: $("train-size").value === "all" ? null : Number($("train-size").value),
      optimizer: $("optimizer").value, schedule: $("schedule").value, lr: number("lr"),
      batch_size: number("batch"), weight_decay: number("wd"), dropout: number("dropout"),
      seed: number("seed"), epochs: number("epochs"), val_split: number("val") ?? 0,
    };
  }

  function drawStack() {
    const box = $("stack");
    const isStack = $("model").value === "stack";
    box.hidden = !isStack;
    $("arch").disabled = !isStack;
    const rows = page.layers.map((layer, i) => el("tr", {},
      el("td", {text: `layer ${i + 1}`}),
      ...LAYER_FIELDS.map(([key, , lo, hi]) => el("td", {}, el("input", {
        type: "number", min: lo, max: hi, value: layer[key], "aria-label": `${key} ${i + 1}`,
        "data-testid": `learn-layer-${i}-${key}`,
        onchange: (e) => { layer[key] = Number(e.target.value); changed(); }}))),
      el("td", {}, el("button", {type: "button", text: "×", title: "remove this layer",
        disabled: page.layers.length === 1,
        onclick: () => { page.layers.splice(i, 1); drawStack(); changed(); }}))));
    box.replaceChildren(el("table", {class: "layers"},
      el("thead", {}, el("tr", {}, el("th"), ...LAYER_FIELDS.map(([, text]) =>
        el("th", {text})), el("th"))),
      el("tbody", {}, rows)),
    el("div", {class: "stack-foot"},
      el("button", {type: "button", text: "+ layer", disabled: page.layers.length >= 4,
        onclick: () => { page.layers.push({...page.layers[page.layers.length - 1]});
                         drawStack(); changed(); }}),
      el("label", {}, "then a dense layer of ", el("input", {
        type: "number", min: 0, max: 256, value: page.hidden, "data-testid": "learn-hidden",
        onchange: (e) => { page.hidden = Number(e.target.value); changed(); }}),
      " units (0: none), then the classes")),
    el("p", {class: "hint", text: "Each layer: ReLU after it, then a max pool of the given " +
      "size (1: none)."}));
  }

  let countsRequest = 0;
  async function drawCounts() {
    const id = ++countsRequest;
    try {
      const answer = await api("/api/learn/params", settings());
      if (id !== countsRequest) return;
      const kind = $("model").value === "stack" ? $("arch").value : $("model").value;
      $("params").textContent = answer.counts[kind].params.toLocaleString("en-US");
      $("params").dataset.value = answer.counts[kind].params;
      const each = $("model").value !== "stack" ? [] : ["conv", "local", "mlp"].map((k) =>
        `${k} ${answer.counts[k].params.toLocaleString("en-US")}` +
        (answer.counts[k].fits ? "" : ` (over the ${answer.budget_mib} MiB budget)`));
      $("param-note").textContent = [...each, `${answer.train_images} training images`]
        .join(" · ");
      message("");
    } catch (error) {
      if (id === countsRequest) message(error.message, true);
    }
  }

  function changed() {
    drawCounts();
    if (page.job && page.snapshot && page.snapshot.steps > 0 &&
        JSON.stringify(settings()) !== page.started) {
      message("Settings changed: the next Play, Step or Epoch starts a new run.");
    }
  }
  for (const name of ["data", "train-size", "model", "arch", "optimizer", "schedule", "lr",
                      "batch", "wd", "dropout", "seed", "epochs", "val"]) {
    $(name).addEventListener("change", () => {
      if (name === "data") fillDefaults();
      if (name === "model") drawStack();
      changed();
    });
  }

  function message(text, error = false) {
    $("message").textContent = text;
    $("message").classList.toggle("error", Boolean(error && text));
  }

  // ---- the job --------------------------------------------------------------------------
  const live = () => page.snapshot && ["ready", "playing", "paused"].includes(page.snapshot.status);

  async function ensureJob() {
    const wanted = JSON.stringify(settings());
    if (page.job !== null && live() && wanted === page.started) return;
    // replace only this page's own run: another tab's live run gets the server's 409
    if (page.job !== null) await api("/api/learn/reset", {});
    const snap = await api("/api/learn/start", settings());
    page.job = snap.id;
    page.started = wanted;
    const kind = $("model").value === "stack" ? $("arch").value : $("model").value;
    page.current = {label: `${kind} · ${$("data").value}` +
                           ($("train-size").value === "all" ? "" : ` · ${$("train-size").value}`),
                    colour: RUN_COLOURS[page.runs.length % RUN_COLOURS.length],
                    params: snap.params, epochs: snap.epochs, points: [], history: [],
                    evalName: snap.eval_name};
    show(snap);
  }

  async function act(action) {
    try {
      message("");
      if (action !== "pause") await ensureJob();
      else if (!live()) return message("Nothing is running: press Play, Step or Epoch.");
      await api("/api/learn/control", {action});
    } catch (error) {
      message(error.message, true);
    }
  }
  for (const action of ["play", "pause", "step", "epoch"]) {
    $(action).addEventListener("click", () => act(action));
  }
  $("reset").addEventListener("click", async () => {
    await api("/api/learn/reset", {}).catch((e) => message(e.message, true));
    page.job = null;
    page.current = null;
    page.snapshot = null;
    redrawCurves();
    $("steps").textContent = "0";
    message("Reset: the next Play starts a new run.");
  });
  $("save").addEventListener("click", async () => {
    try {
      if (!page.job) throw new Error("Nothing to save yet: start a run first.");
      const saved = await api("/api/learn/save", {});
      message(`Saved to ${saved.path}: open it with 'gridnn studio ${saved.path}', continue ` +
              `it with 'gridnn train --resume ${saved.path}'.`);
    } catch (error) {
      message(error.message, true);
    }
  });
  $("sample").addEventListener("change", async () => {
    if (!page.job) return;
    try {
      show(await api("/api/learn/sample", {index: Number($("sample").value)}));
    } catch (error) {
      message(error.message, true);
    }
  });

  // ---- the figures ------------------------------------------------------------------------
  function redrawCurves() {
    drawCurves($("curves"), page.runs, page.current);
    drawCompare($("compare"), page.runs, page.current);
  }

  function show(snap) {
    if (!snap || snap.id === null || snap.id === undefined || snap.id !== page.job) return;
    page.snapshot = snap;
    const last = snap.last;
    $("steps").textContent = String(snap.steps);
    $("epoch-now").textContent = `${snap.epoch} / ${snap.epochs}`;
    $("rate").textContent = snap.steps_per_second.toFixed(1);
    const point = snap.points[snap.points.length - 1];
    $("loss").textContent = point ? point.loss.toFixed(4) : "–";
    $("train-acc").textContent = pct(point?.accuracy);
    $("eval-name").textContent = snap.eval_name;
    $("test-acc").textContent = pct(last?.[`${snap.eval_name}_accuracy`]);
    $("test-acc").dataset.value = last ? String(last[`${snap.eval_name}_accuracy`]) : "";
    $("status").textContent = snap.status + (snap.error ? `: ${snap.error}` : "");
    $("status").dataset.status = snap.status;
    if (page.current) {
      page.current.points = mergePoints(page.current.points, snap.points);
      page.current.history = snap.history;
      if (snap.status === "finished" && !page.runs.includes(page.current)) {
        page.runs.push(page.current);
      }
    }
    redrawCurves();
    $("kernel-note").textContent = snap.kernels ? `(${snap.kernels.type} ${snap.kernels.layer}:` +
      ` ${snap.kernels.note})` : "";
    const shared = snap.kernels && snap.kernels.type.startsWith("Conv");
    drawKernels($("kernels"), snap.kernels, shared ? pick : null);
    drawSample($("maps"), $("prediction"), snap.sample);
    drawUpdates($("updates"), snap.updates);
  }

  function pick(k, c, i, j) {
    $("bp-k").value = k; $("bp-c").value = c; $("bp-i").value = i; $("bp-j").value = j;
    explain();
  }

  async function explain() {
    try {
      if (!page.snapshot || page.snapshot.steps === 0) {
        throw new Error("Take at least one step first (Step, or Play then Pause): the panel " +
                        "explains the gradient of the last step.");
      }
      const shape = page.snapshot?.kernels?.shape || [];
      const index = [Number($("bp-k").value), Number($("bp-c").value), Number($("bp-i").value)];
      if (shape.length === 4) index.push(Number($("bp-j").value));
      drawBackprop($("backprop"), await api("/api/learn/backprop", {index}));
      message("");
    } catch (error) {
      $("backprop").replaceChildren(el("p", {class: "error", text: error.message}));
    }
  }
  $("explain").addEventListener("click", explain);

  // the stream: the job's figures each time they change (a few times a second while playing)
  const stream = openStream("/api/learn/stream");
  stream.onmessage = (event) => show(JSON.parse(event.data));

  new ResizeObserver(() => redrawCurves()).observe($("curves"));
  drawStack();
  redrawCurves();
  await drawCounts();
}

/** The live points so far: the server sends the latest few hundred; keep the older ones. */
function mergePoints(old, fresh) {
  if (!fresh.length) return old;
  const first = fresh[0].step;
  return [...old.filter((p) => p.step < first), ...fresh];
}
