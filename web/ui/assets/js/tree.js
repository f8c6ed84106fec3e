// Renders API Values (docs/api.md: JSON renderings of River values) as
// readable, collapsible trees. Secrets arrive already scrubbed as the string
// "(secret)" and are shown as a marker, never as a quoted string, so nobody
// mistakes the placeholder for a real value.

import { h } from "./dom.js";

const SECRET = "(secret)";
const CAPSULE = /^capsule\(.*\)$/;

// Objects or arrays with more entries than this start collapsed.
const OPEN_LIMIT = 30;

function scalar(v) {
  if (v === null || v === undefined) return h("span", { class: "null" }, "null");
  switch (typeof v) {
    case "string":
      if (v === SECRET) return h("span", { class: "secret", title: "Secret: its value is never shown" }, "(secret)");
      if (CAPSULE.test(v)) return h("span", { class: "capsule", title: "A Go value passed between components as is" }, v);
      return h("span", { class: "s" }, JSON.stringify(v));
    case "number": return h("span", { class: "n" }, String(v));
    case "boolean": return h("span", { class: "b" }, String(v));
    default: return h("span", {}, String(v));
  }
}

function isContainer(v) { return v !== null && typeof v === "object"; }

function entries(v) {
  return Array.isArray(v) ? v.map((x, i) => [String(i), x]) : Object.entries(v);
}

function summaryText(v) {
  const n = Array.isArray(v) ? v.length : Object.keys(v).length;
  return Array.isArray(v) ? `[${n} item${n === 1 ? "" : "s"}]` : `{${n} field${n === 1 ? "" : "s"}}`;
}

function item(key, v, isIndex) {
  const k = isIndex ? h("span", { class: "muted" }, `[${key}]`) : h("span", { class: "k" }, key);
  if (!isContainer(v)) return h("li", {}, k, " = ", scalar(v));
  const es = entries(v);
  if (es.length === 0) return h("li", {}, k, " = ", h("span", { class: "empty" }, Array.isArray(v) ? "[]" : "{}"));
  const d = h("details", { open: es.length <= OPEN_LIMIT },
    h("summary", {}, k, " ", h("span", { class: "muted" }, summaryText(v))),
    list(v));
  return h("li", {}, d);
}

function list(v) {
  const isArr = Array.isArray(v);
  return h("ul", {}, entries(v).map(([k, x]) => item(k, x, isArr)));
}

/** renderTree renders a Value; empty or null values render as a muted note. */
export function renderTree(v, emptyText = "none") {
  if (v === null || v === undefined) return h("p", { class: "muted" }, emptyText);
  if (!isContainer(v)) return h("div", { class: "tree" }, scalar(v));
  if (entries(v).length === 0) return h("p", { class: "muted" }, emptyText);
  const ul = list(v);
  ul.className = "tree";
  return ul;
}
