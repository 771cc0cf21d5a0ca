// The learn page's DOM, built inside a root element (no document ids: `part(root, name)` finds
// an element by its data-part inside that root). data-testid attributes are the tests' hooks.
import {el} from "./common.js";

/** The element of `root` marked data-part=`name`. */
export const part = (root, name) => root.querySelector(`[data-part="${name}"]`);

const field = (label, control, hint) => el("label", {title: hint}, label, control);
const input = (name, attrs) => el("input", {"data-part": name, "data-testid": `learn-${name}`,
                                            type: "number", ...attrs});
const select = (name, options) => el("select", {"data-part": name,
                                                "data-testid": `learn-${name}`},
  options.map(([value, text]) => el("option", {value, text})));
const button = (name, text, title) => el("button", {type: "button", "data-part": name,
                                                    "data-testid": `learn-${name}`, title}, text);

/** Build the page's skeleton in `root`. */
export function buildLearn(root) {
  root.classList.add("learn");
  root.replaceChildren(
    el("header", {class: "page-head"},
      el("h1", {text: "Watch it learn"}),
      el("p", {class: "muted", text: "Press play: gridnn trains a small CNN on the server, " +
        "step by step, with the same loop as `gridnn train`. Watch the curves, the kernels " +
        "and the feature maps change; switch the same stack between a convolution (shared " +
        "weights), a locally connected layer (nothing shared) and a fully connected MLP, and " +
        "compare how well each generalises."})),
    el("section", {class: "setup panel", "aria-label": "set up"},
      el("fieldset", {},
        el("legend", {text: "Data"}),
        field("data ", select("data", [])),
        field("training images ", select("train-size", [["all", "all"], ["1000", "1,000"],
                                                         ["200", "200"]]),
              "how many training images to learn from (a stratified sample)"),
        el("span", {class: "hint", "data-part": "data-note"})),
      el("fieldset", {},
        el("legend", {text: "Model"}),
        field("model ", select("model", [])),
        field("layers are ", select("arch", [["conv", "convolutions (shared)"],
                                             ["local", "locally connected"],
                                             ["mlp", "fully connected (MLP)"]]),
              "the same stack with shared kernels, unshared kernels, or every input " +
              "connected to every unit"),
        el("span", {class: "params"}, el("b", {"data-part": "params",
                                                "data-testid": "learn-params"}), " parameters"),
        el("span", {class: "hint", "data-part": "param-note"})),
      el("div", {class: "stack", "data-part": "stack"}),
      el("fieldset", {},
        el("legend", {text: "Training"}),
        field("optimiser ", select("optimizer", [["adamw", "AdamW"], ["adam", "Adam"],
                                                 ["sgd", "SGD + momentum"]])),
        field("lr ", input("lr", {step: "any", min: "0"})),
        field("schedule ", select("schedule", [["onecycle", "one-cycle"],
                                               ["cosine", "cosine"], ["step", "step"],
                                               ["none", "constant"]])),
        field("batch ", input("batch", {min: "1", max: "512"})),
        field("weight decay ", input("wd", {step: "any", min: "0"})),
        field("dropout ", input("dropout", {step: "0.05", min: "0", max: "0.9"})),
        field("seed ", input("seed", {min: "0"})),
        field("validation share ", input("val", {step: "0.05", min: "0", max: "0.5"}),
              "hold out this share of the training images and evaluate it after each epoch " +
              "(gridnn train --val-split); 0: the test split is evaluated"),
        field("epochs ", input("epochs", {min: "1", max: "100"})))),
    el("section", {class: "run panel", "aria-label": "controls"},
      el("div", {class: "buttons"},
        button("play", "▶ Play", "train until paused or done"),
        button("pause", "❚❚ Pause"),
        button("step", "Step", "one batch"),
        button("epoch", "Epoch", "to the end of this epoch"),
        button("reset", "Reset", "forget this run (the curves of finished runs stay)"),
        button("save", "Save run", "write an ordinary run folder under ./runs")),
      el("div", {class: "meters"},
        el("span", {}, "step ", el("b", {"data-part": "steps", "data-testid": "learn-steps",
                                          text: "0"})),
        el("span", {}, "epoch ", el("b", {"data-part": "epoch-now", text: "0"})),
        el("span", {}, el("b", {"data-part": "rate", text: "0"}), " steps/s"),
        el("span", {}, "loss ", el("b", {"data-part": "loss", "data-testid": "learn-loss"})),
        el("span", {}, "train ", el("b", {"data-part": "train-acc",
                                          "data-testid": "learn-train-acc"})),
        el("span", {}, el("span", {"data-part": "eval-name", text: "test"}), " ",
           el("b", {"data-part": "test-acc", "data-testid": "learn-test-acc"})),
        el("span", {class: "status", "data-part": "status", "data-testid": "learn-status"})),
      el("p", {class: "hint", "data-part": "message", role: "status"})),
    el("div", {class: "figures"},
      el("section", {class: "panel curves-panel"},
        el("h2", {text: "Loss and accuracy"}),
        el("canvas", {"data-part": "curves", width: "640", height: "300"}),
        el("p", {class: "hint", text: "Solid: training accuracy over the epoch so far; " +
          "dots: accuracy on the evaluated split after each epoch; dashed: training loss " +
          "(right axis). Finished runs stay, in their colours."}),
        el("table", {class: "compare", "data-part": "compare"})),
      el("section", {class: "panel"},
        el("h2", {}, "First layer's kernels ", el("span", {class: "muted",
                                                            "data-part": "kernel-note"})),
        el("div", {class: "kernels-grid", "data-part": "kernels"})),
      el("section", {class: "panel"},
        el("h2", {}, "One sample through every layer"),
        el("div", {class: "sample-head"},
          field("test sample ", input("sample", {min: "0", value: "0"})),
          el("div", {class: "prediction", "data-part": "prediction",
                     "data-testid": "learn-prediction"})),
        el("div", {class: "maps", "data-part": "maps"})),
      el("section", {class: "panel"},
        el("h2", {text: "Size of the last update, per layer"}),
        el("p", {class: "hint", text: "|w after − w before| / |w before| of each layer's " +
          "weights at the last step: how much the optimiser moved them."}),
        el("div", {class: "updates", "data-part": "updates"})),
      el("section", {class: "panel backprop-panel"},
        el("h2", {text: "One step of backprop, written out"}),
        el("p", {class: "hint", text: "Pause, then click a weight in a kernel's numbers above " +
          "(or choose it here): its gradient is the sum, over every sample of the batch and " +
          "every window position, of (input value under that weight) × (gradient of the " +
          "output at that position). gridnn recomputes the last step to list the terms."}),
        el("div", {class: "pick"},
          field("kernel ", input("bp-k", {min: "0", value: "0"})),
          field("channel ", input("bp-c", {min: "0", value: "0"})),
          field("row ", input("bp-i", {min: "0", value: "0"})),
          field("col ", input("bp-j", {min: "0", value: "0"})),
          button("explain", "Explain this weight")),
        el("div", {"data-part": "backprop"}))));
}
