// Small DOM helpers shared by every page: element builders for HTML and SVG,
// and formatting of times, durations and rates.

const SVGNS = "http://www.w3.org/2000/svg";

function build(el, attrs, children) {
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") {
        el.addEventListener(k.slice(2), v);
      } else if (k === "dataset") {
        Object.assign(el.dataset, v);
      } else if (k === "style") {
        // Through the CSSOM: the Content-Security-Policy (style-src 'self')
        // refuses style attributes.
        el.style.cssText = v;
      } else if (k === "text") {
        el.textContent = v;
      } else if (k === "value" && "value" in el && el.namespaceURI !== SVGNS) {
        el.value = v;
      } else {
        el.setAttribute(k, v === true ? "" : String(v));
      }
    }
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** h builds an HTML element: h("a", {href: "#"}, "text", child). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** s builds an SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVGNS, tag), attrs, children);
}

/** healthBadge renders a health state as a coloured badge with its name. */
export function healthBadge(state) {
  const st = state || "unknown";
  return h("span", { class: `badge h-${st}`, "data-health": st }, st);
}

/** componentHref is the page of a component. */
export function componentHref(id) {
  return "#/component/" + encodeURIComponent(id);
}

/** fmtTime renders an RFC 3339 time as local time, with how long ago. */
export function fmtTime(t) {
  if (!t) return "never";
  const d = new Date(t);
  if (isNaN(d) || d.getFullYear() < 1971) return "never";
  return `${d.toLocaleString()} (${ago(d)})`;
}

/** ago renders the time since d ("3s ago"). */
export function ago(d) {
  const sec = Math.round((Date.now() - d.getTime()) / 1000);
  if (sec < 1) return "just now";
  if (sec < 60) return `${sec}s ago`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m ago`;
  if (sec < 86400) return `${Math.floor(sec / 3600)}h ago`;
  return `${Math.floor(sec / 86400)}d ago`;
}

/** fmtDuration renders seconds with a unit that keeps 2-3 significant digits. */
export function fmtDuration(sec) {
  if (sec === undefined || sec === null) return "";
  if (sec < 1e-3) return `${(sec * 1e6).toFixed(0)}µs`;
  if (sec < 1) return `${(sec * 1e3).toFixed(sec < 0.01 ? 2 : 1)}ms`;
  return `${sec.toFixed(2)}s`;
}

/** fmtRate renders items per second compactly: 0.5/s, 12/s, 3.4k/s. */
export function fmtRate(r) {
  if (!r) return "0/s";
  if (r < 10) return `${r.toFixed(1)}/s`;
  if (r < 1000) return `${Math.round(r)}/s`;
  if (r < 1e6) return `${(r / 1e3).toFixed(1)}k/s`;
  return `${(r / 1e6).toFixed(1)}M/s`;
}

/**
 * CAUSE matches an evaluation's cause when an upstream export changed
 * ("x.y exports changed", "x.y and 2 more exports changed"); group 1 is the
 * upstream component's ID.
 */
export const CAUSE = /^(\S+?)( and \d+ more)? (?:exports )?changed$/;
