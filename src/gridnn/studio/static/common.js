// Shared by the studio's pages: the JSON API helper, the top navigation, small DOM helpers.
// The pages compute nothing: every number they show comes from the API.

/** POST `body` as JSON to `path` (GET when body is undefined); resolves to the parsed JSON.
 *  A non-2xx answer rejects with an Error whose message is the server's `error` text and
 *  whose `field` names the offending request field (or null). */
export async function api(path, body) {
  const init = body === undefined ? {method: "GET"}
    : {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
  const response = await fetch(path, init);
  let data = null;
  try {
    data = await response.json();
  } catch (_) {
    data = {error: `${response.status} ${response.statusText}`, field: null};
  }
  if (!response.ok) {
    const error = new Error(data.error || `${response.status} ${response.statusText}`);
    error.field = data.field ?? null;
    error.status = response.status;
    throw error;
  }
  return data;
}

/** el("div", {class: "x", "data-testid": "y", onclick: f}, child, "text", ...) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "text") {
      node.textContent = value;
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

/** A number as the pages print it, the rule of the playground's equations (Python's
 *  playground_text.num): integers plainly, others rounded to 3 decimals, trailing zeros dropped. */
export function fmt(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "";
  if (Number.isInteger(value)) return String(value);
  const text = value.toFixed(3).replace(/\.?0+$/, "");
  return text === "-0" ? "0" : text;
}

/** Fill <nav id="nav"> with the studio title, the playground and learn links and one link per
 *  model the server serves (GET /api/models): the one place that builds the top bar. `active`
 *  is "playground", "learn" or a model id. */
export async function renderNav(active) {
  const nav = document.getElementById("nav");
  if (!nav) return;
  nav.replaceChildren(el("span", {class: "brand", text: "gridnn studio"}),
    el("a", {href: "/", class: active === "playground" ? "active" : null,
             text: "Convolution playground"}),
    el("a", {href: "/learn.html", class: active === "learn" ? "active" : null,
             "data-testid": "nav-learn", text: "Learn"}));
  const models = await api("/api/models");
  if (models.length === 0) {
    nav.append(el("span", {class: "muted", text: "no models (gridnn studio RUN_OR_MODEL)"}));
  }
  for (const entry of models) {
    nav.append(el("a", {href: `/model.html?id=${encodeURIComponent(entry.id)}`,
                        class: active === entry.id ? "active" : null,
                        title: entry.kind, text: entry.name}));
  }
}

/** A distinct, readable colour for weight number `index` (0-based): golden-angle hues. */
export function weightColour(index, lightness = 72) {
  return `hsl(${(index * 137.508) % 360}, 62%, ${lightness}%)`;
}
