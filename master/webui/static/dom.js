// Building the page: the only code that puts anything into the DOM. Every value
// goes in as a text node or an attribute (never parsed as HTML): task names,
// labels and hostnames are whatever a framework or an agent sent.

import { percent } from "./format.js";

export function h(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "onclick") node.addEventListener("click", value);
    else node.setAttribute(key, String(value));
  }
  appendAll(node, children);
  return node;
}

function appendAll(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function link(route, text, className) {
  return h("a", { href: "#/" + route.map(encodeURIComponent).join("/"), class: className }, text);
}

// A link showing an id: long ids break anywhere rather than widen the table.
export function idLink(route, id) {
  return link(route, id, "id");
}

// A link showing the end of a long id (an agent's "...-S0"), the whole id as its tooltip.
export function shortIdLink(route, id) {
  const shown = id.length > 20 ? `…${id.slice(-12)}` : id;
  const anchor = link(route, shown);
  anchor.title = id;
  return anchor;
}

export function table(name, headers, rows, empty) {
  if (rows.length === 0) return h("p", { class: "empty", "data-table": name }, empty);
  return h(
    "table",
    { "data-table": name },
    h("thead", {}, h("tr", {}, headers.map((title) => h("th", {}, title)))),
    h("tbody", {}, rows),
  );
}

export function row(id, cells) {
  return h("tr", { "data-id": id }, cells.map((cell) => h("td", {}, cell)));
}

export function definitions(pairs) {
  return h(
    "dl",
    {},
    pairs.filter(([, value]) => value !== null && value !== undefined && value !== "")
      .map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
  );
}

export function section(title, ...content) {
  return h("section", {}, h("h2", {}, title), content);
}

export function meter(part, whole) {
  const share = percent(part, whole);
  return h(
    "span",
    { class: "meter", title: `${share.toFixed(1)}%` },
    h("span", { class: "fill", style: `width: ${Math.min(100, share).toFixed(1)}%` }),
  );
}

// Text that came from a framework or an agent: it may break anywhere rather than widen a table.
export function free(text) {
  return h("span", { class: "free" }, text);
}

export function healthBadge(healthy) {
  if (typeof healthy !== "boolean") return null;
  return h("span", { class: `badge ${healthy ? "healthy" : "unhealthy"}` }, healthy ? "healthy" : "unhealthy");
}

export function stateBadge(state) {
  const name = String(state || "").replace(/^TASK_/, "");
  return h("span", { class: `badge state-${name.toLowerCase()}` }, name);
}

export function missing(kind, id) {
  return h("div", { "data-view": "missing" }, h("p", { class: "empty" }, `No ${kind} ${id} in the master's state.`));
}
