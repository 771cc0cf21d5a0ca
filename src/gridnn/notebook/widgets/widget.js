// The anywidget front end of gridnn.notebook's widgets: it runs the studio's own page modules
// (gridnn/studio/static/*.js, sent by the kernel as text) inside the cell, and answers their
// api(path, body) calls by asking the kernel, which runs the studio's API in process.
//
// Model traits: modules {file name: source}, css (the studio's style.css), entry {module,
// export, args, stream}: the mount function to call as mount(root, api, ...args), or as
// mount(root, api, openStream, ...args) when stream is true (the learn page's event stream,
// read by the kernel and forwarded here as messages).

/** Blob URLs for every module, each with its relative imports ("./x.js") pointing at the
 *  blob URL of x.js, built dependencies first. */
function moduleUrls(sources) {
  const urls = new Map();
  const visit = (name, path) => {
    if (urls.has(name)) return urls.get(name);
    if (!(name in sources)) throw new Error(`the studio has no module ${name}`);
    if (path.includes(name)) throw new Error(`import cycle: ${[...path, name].join(" -> ")}`);
    const text = sources[name].replace(
      /(\bfrom\s*|\bimport\s*\(?\s*)(["'])\.\/([\w.-]+\.js)\2/g,
      (_, head, quote, dep) => `${head}${quote}${visit(dep, [...path, name])}${quote}`);
    const url = URL.createObjectURL(new Blob([text], {type: "text/javascript"}));
    urls.set(name, url);
    return url;
  };
  for (const name of Object.keys(sources)) visit(name, []);
  return urls;
}

/** The studio's stylesheet for a shadow root: page-wide selectors apply to the widget only. */
function scopedCss(css) {
  return css.replace(/:root\b/g, ":host").replace(/(^|[\s,}])body(?=\s*[{,])/g, "$1.gridnn-body");
}

function render({model, el}) {
  const host = document.createElement("div");
  host.className = "gridnn-widget";
  // Keys typed into the page's number cells are not notebook shortcuts (JupyterLab's Lumino
  // sees the shadow host as their target: without this, typing "2" makes a heading cell).
  host.setAttribute("data-lm-suppress-shortcuts", "true");
  el.append(host);
  const shadow = host.attachShadow({mode: "open"});
  const style = document.createElement("style");
  style.textContent = scopedCss(model.get("css")) +
    "\n.gridnn-body{padding:0.6rem;background:var(--page);}";
  const root = document.createElement("div");
  root.className = "gridnn-body";
  shadow.append(style, root);

  let next = 0;
  const pending = new Map();
  const streams = new Map();
  const onMessage = (msg) => {
    if (msg && msg.kind === "stream-event" && streams.has(msg.id)) {
      const stream = streams.get(msg.id);
      if (typeof stream.onmessage === "function") stream.onmessage({data: msg.data});
      return;
    }
    if (msg && msg.kind === "stream-error" && streams.has(msg.id)) {
      const stream = streams.get(msg.id);
      if (typeof stream.onerror === "function") stream.onerror(new Error(msg.error));
      return;
    }
    if (!msg || msg.kind !== "api-reply" || !pending.has(msg.id)) return;
    const {resolve, reject} = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.status >= 200 && msg.status < 300) {
      resolve(msg.json);
    } else {
      const error = new Error((msg.json && msg.json.error) || `${msg.status}`);
      error.field = (msg.json && msg.json.field) ?? null;
      error.status = msg.status;
      reject(error);
    }
  };
  model.on("msg:custom", onMessage);
  // The contract of the studio's common.js `api`: GET when body is undefined, a Promise of
  // the JSON answer, an Error with .field and .status on a non-2xx answer.
  const api = (path, body) => new Promise((resolve, reject) => {
    const id = ++next;
    pending.set(id, {resolve, reject});
    model.send({kind: "api", id, path, body: body === undefined ? null : body,
                method: body === undefined ? "GET" : "POST"});
  });

  // An EventSource-like object (onmessage gets {data}, close()) whose events the kernel reads
  // from the studio's own Server-Sent Events route and forwards as messages.
  const openStream = (path) => {
    const id = ++next;
    const stream = {
      onmessage: null, onerror: null, readyState: 1,
      close() {
        if (!streams.has(id)) return;
        streams.delete(id);
        stream.readyState = 2;
        model.send({kind: "stream-close", id});
      },
    };
    streams.set(id, stream);
    model.send({kind: "stream-open", id, path});
    return stream;
  };

  const entry = model.get("entry");
  const urls = moduleUrls(model.get("modules"));
  import(urls.get(entry.module)).then((mod) => {
    const mount = mod[entry.export];
    if (typeof mount !== "function") {
      throw new Error(`the studio's ${entry.module} has no ${entry.export}(root, api, ...)`);
    }
    return entry.stream ? mount(root, api, openStream, ...entry.args)
      : mount(root, api, ...entry.args);
  }).then(() => {
    host.dataset.ready = "1";
  }).catch((error) => {
    const box = document.createElement("pre");
    box.className = "error";
    box.textContent = `gridnn widget: ${error.message || error}`;
    root.append(box);
    host.dataset.ready = "error";
  });
  return () => {
    model.off("msg:custom", onMessage);
    for (const stream of [...streams.values()]) stream.close();
    for (const url of urls.values()) URL.revokeObjectURL(url);
  };
}

export default {render};
