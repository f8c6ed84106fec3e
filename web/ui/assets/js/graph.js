// The graph page: every component as a node, laid out left to right in
// dependency order by dagre, with an edge from each exporting component to
// each component whose arguments reference it. Nodes are SVG links (so they
// are focusable, open in a new tab with a middle click, and are reachable with
// Tab); edges carry the export used and, on data edges, the live rate.
//
// Layout runs only when the set of components or edges changes; health,
// rates and evaluation counts are patched into the existing SVG, so the
// picture stays put while the pipeline runs.
//
// Paths are followed along the drawn (data-flow) edges. For each unhealthy
// component the graph marks the path it breaks: its transitive sources and
// sinks and the edges between them ("broken"). Clicking an edge, or a
// component's pipeline button (or P on a focused component), focuses the
// pipeline through it: everything off the paths through it is dimmed until
// the focus is cleared (Escape, the Clear button, or a click on the empty
// canvas).

import dagre from "/vendor/dagre/dagre.esm.js";
import { getJSON, onLive, poll } from "./api.js";
import { h, s, componentHref, fmtRate, CAUSE } from "./dom.js";

const NODE_H = 44;
const NODE_MIN_W = 150;
const PAD_L = 16;
const PAD_R = 12;
const LABEL_H = 16;
const HEALTH_WORDS = { healthy: "healthy", unhealthy: "unhealthy", unknown: "unknown", exited: "exited" };
const PULSE_MS = 1600;
const MIN_ZOOM = 0.01;
const POLL_MS = 1000;
const ACT_W = 18; // the pipeline button in a node's top right corner
// ACT_DOTS draws the button's three dots as one path (fewer elements to draw
// for hundreds of components).
const ACT_DOTS = [4, 9, 14].map((x) => `M${x - 1.6},7a1.6,1.6 0 1,0 3.2,0a1.6,1.6 0 1,0 -3.2,0`).join("");

let measureCtx = null;
function measure(text, font) {
  if (!measureCtx) measureCtx = document.createElement("canvas").getContext("2d");
  measureCtx.font = font;
  return measureCtx.measureText(text).width;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// fonts are the node and edge label fonts, for measuring text; read from the
// stylesheet once.
let fontCache = null;
function fonts() {
  if (!fontCache) {
    fontCache = {
      mono: `12px ${cssVar("--mono") || "monospace"}`,
      sansBold: `600 11px ${cssVar("--sans") || "sans-serif"}`,
    };
  }
  return fontCache;
}

// basis draws a smooth path through dagre's edge points (the uniform B-spline
// that d3's curveBasis draws), so edges bend around nodes rather than zigzag.
function basis(pts) {
  let d = "";
  let x0, y0, x1, y1;
  let n = 0;
  const r = (v) => Math.round(v * 10) / 10;
  const bez = (x, y) => {
    d += `C${r((2 * x0 + x1) / 3)},${r((2 * y0 + y1) / 3)} ${r((x0 + 2 * x1) / 3)},${r((y0 + 2 * y1) / 3)} ${r((x0 + 4 * x1 + x) / 6)},${r((y0 + 4 * y1 + y) / 6)}`;
  };
  for (const { x, y } of pts) {
    if (n === 0) { d += `M${r(x)},${r(y)}`; n = 1; }
    else if (n === 1) { n = 2; }
    else {
      if (n === 2) { d += `L${r((5 * x0 + x1) / 6)},${r((5 * y0 + y1) / 6)}`; n = 3; }
      bez(x, y);
    }
    x0 = x1; x1 = x; y0 = y1; y1 = y;
  }
  if (n === 3) { bez(x1, y1); d += `L${r(x1)},${r(y1)}`; }
  else if (n === 2) { d += `L${r(x1)},${r(y1)}`; }
  return d;
}

function edgeKey(e) { return `${e.from}\u0000${e.to}\u0000${e.export}`; }

// A data edge carries either a flow (a receiver: items per second) or a list
// (targets: how many). The API says which with "list"; without it, a
// non-empty count with no rate is taken for a list.
function edgeRateText(e) {
  if (!e.data) return "";
  const list = e.list !== undefined ? e.list : (e.count > 0 && !e.rate);
  if (list) return `${e.count || 0} target${e.count === 1 ? "" : "s"}`;
  return fmtRate(e.rate || 0);
}

function structure(data) {
  const ids = data.components.map((c) => c.id).sort();
  const es = (data.edges || []).map(edgeKey).sort();
  return ids.join("\n") + "\n--\n" + es.join("\n");
}

const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
function esc(v) { return String(v).replace(/[&<>"']/g, (ch) => ESC[ch]); }

function healthOf(c) { return (c.health && c.health.state) || "unknown"; }

function nodeTitle(c) {
  const hs = c.health || {};
  let t = `${c.id}\nhealth: ${healthOf(c)}`;
  if (hs.message) t += `: ${hs.message}`;
  t += `\nevaluations: ${c.evaluations_total || 0}`;
  return t;
}

// ---- the page ----

// graphPage draws the graph page into main and returns its cleanup. The page
// is a view (its DOM and state, see createView) that the steps below act on:
// pan and zoom, hover, search, layout, drawing nodes and edges, and live
// updates.
export function graphPage(main, focusId) {
  const v = createView(main);
  if (focusId) v.st.focus = { node: focusId, center: true };
  installPanZoom(v);
  installHover(v);
  installFocus(v);
  const stopUpdates = startUpdates(v);
  const onResize = () => { if (v.st.rendered && v.st.t.k) applyTransform(v); };
  window.addEventListener("resize", onResize);
  return () => { stopUpdates(); window.removeEventListener("resize", onResize); };
}

// createView builds the page's DOM (toolbar, SVG with its edge and node
// groups, zoom buttons) and the state every step shares.
function createView(main) {
  const v = {
    st: {
      comps: new Map(), edges: [], sig: null,
      nodes: new Map(), edgeEls: new Map(), byNode: new Map(),
      seenEvals: new Map(), lastPulse: new Map(),
      t: { x: 0, y: 0, k: 1 }, size: { w: 0, h: 0 }, rendered: false, filter: "",
      // focus is the pipeline focus: {node: id} or {edge: edgeKey}, or null.
      focus: null,
    },
  };
  v.search = h("input", {
    type: "search", placeholder: "Find components (Enter focuses the first)", "aria-label": "Find components",
    oninput: () => applyFilter(v, v.search.value), onkeydown: (e) => {
      if (e.key === "Enter") { e.preventDefault(); focusFirstMatch(v); }
      if (e.key === "Escape") { v.search.value = ""; applyFilter(v, ""); }
    },
  });
  v.legend = h("span", { class: "legend", "aria-label": "Health counts" });
  v.stats = h("span", { class: "stats", role: "status" });
  v.focusText = h("span", { class: "focus-text" });
  v.focusBar = h("span", { class: "focus-bar", role: "status", hidden: true }, v.focusText,
    h("button", { type: "button", id: "clear-focus", title: "Show the whole graph again (Escape)", onclick: () => setFocus(v, null) }, "Clear"));
  v.brokenNote = h("span", { class: "broken-note", hidden: true }, "red dashes: the path an unhealthy component breaks");
  const toolbar = h("div", { class: "graph-toolbar" }, v.search, v.legend, v.brokenNote, v.focusBar, v.stats);

  const arrow = (id) => s("marker", { id, viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" },
    s("path", { d: "M0,0L10,5L0,10z" }));
  const defs = s("defs", {}, arrow("arrow"), arrow("arrow-data"), arrow("arrow-broken"));
  v.gEdges = s("g", { class: "edges" });
  v.gNodes = s("g", { class: "nodes" });
  v.gActs = s("g", { class: "acts" });
  v.viewport = s("g", { class: "viewport" }, v.gEdges, v.gNodes, v.gActs);
  v.svg = s("svg", {
    class: "graph", tabindex: "0", role: "group",
    "aria-label": "Component graph. Arrow keys pan, plus and minus zoom, 0 fits the graph; Tab moves between components, Enter opens one, P highlights its pipeline and Escape clears that.",
  }, defs, v.viewport);
  const zoom = h("div", { class: "zoom" },
    h("button", { type: "button", title: "Zoom in (+)", "aria-label": "Zoom in", onclick: () => zoomBy(v, 1.25) }, "+"),
    h("button", { type: "button", title: "Zoom out (-)", "aria-label": "Zoom out", onclick: () => zoomBy(v, 0.8) }, "−"),
    h("button", { type: "button", title: "Fit the graph (0)", "aria-label": "Fit the graph", onclick: () => fit(v) }, "⤢"));
  const help = h("div", { class: "graph-help" }, "Drag to pan · wheel to zoom · click a component to open it · click an edge or a component's ⋯ to highlight its pipeline");
  v.empty = h("div", { class: "graph-empty", hidden: true }, "No components are running. Load a config on the ",
    h("a", { href: "#/config" }, "Config"), " page.");
  const wrap = h("div", { class: "graph-wrap" }, v.svg, zoom, help, v.empty);
  main.append(h("div", { class: "graph-page" }, h("h1", { class: "skip" }, "Graph"), toolbar, wrap));
  document.title = "Graph · flow";
  return v;
}

// ---- pan and zoom ----

function applyTransform(v) {
  const { x, y, k } = v.st.t;
  v.viewport.setAttribute("transform", `translate(${x},${y}) scale(${k})`);
}

function zoomAt(v, px, py, f) {
  const t = v.st.t;
  const k = Math.min(4, Math.max(MIN_ZOOM, t.k * f));
  const ratio = k / t.k;
  t.x = px - (px - t.x) * ratio;
  t.y = py - (py - t.y) * ratio;
  t.k = k;
  applyTransform(v);
}

function zoomBy(v, f) {
  const r = v.svg.getBoundingClientRect();
  zoomAt(v, r.width / 2, r.height / 2, f);
}

// fit shows the whole graph. With minScale (the first view), a graph too
// big to read when fitted is shown from its top left at a readable scale
// instead; the fit button and the 0 key still show all of it.
function fit(v, minScale = 0) {
  const st = v.st;
  const r = v.svg.getBoundingClientRect();
  if (!st.size.w || !r.width) return;
  const k = Math.max(MIN_ZOOM, Math.min(1.2, (r.width - 20) / st.size.w, (r.height - 20) / st.size.h));
  if (k < minScale) {
    // Start at the left edge, level with the first (leftmost) component.
    let first = null;
    for (const n of st.nodes.values()) if (!first || n.x < first.x || (n.x === first.x && n.y < first.y)) first = n;
    st.t = { k: minScale, x: 10, y: first ? r.height / 2 - first.y * minScale : 10 };
  } else {
    st.t.k = k;
    st.t.x = (r.width - st.size.w * k) / 2;
    st.t.y = Math.max(10, (r.height - st.size.h * k) / 2);
  }
  applyTransform(v);
}

function centerOn(v, id) {
  const n = v.st.nodes.get(id);
  if (!n) return;
  const r = v.svg.getBoundingClientRect();
  v.st.t.x = r.width / 2 - n.x * v.st.t.k;
  v.st.t.y = r.height / 2 - n.y * v.st.t.k;
  applyTransform(v);
}

// installPanZoom lets the wheel zoom, a drag pan (without opening the node
// it ends on) and the keyboard do both.
function installPanZoom(v) {
  const { svg, st } = v;
  svg.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = svg.getBoundingClientRect();
    zoomAt(v, e.clientX - r.left, e.clientY - r.top, Math.exp(-e.deltaY * 0.0015));
  }, { passive: false });
  let drag = null;
  svg.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    drag = { x: e.clientX, y: e.clientY, tx: st.t.x, ty: st.t.y, moved: false, id: e.pointerId };
  });
  svg.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (!drag.moved && Math.hypot(dx, dy) < 4) return;
    if (!drag.moved) {
      // Capture only once this is a drag, so a plain click still reaches the node's link.
      drag.moved = true;
      svg.setPointerCapture(drag.id);
      svg.classList.add("dragging");
    }
    st.t.x = drag.tx + dx;
    st.t.y = drag.ty + dy;
    applyTransform(v);
  });
  const endDrag = () => {
    if (drag && drag.moved) {
      svg.classList.remove("dragging");
      // Swallow the click that ends a drag over a node.
      const swallow = (ev) => { ev.preventDefault(); ev.stopPropagation(); };
      svg.addEventListener("click", swallow, { capture: true, once: true });
      setTimeout(() => svg.removeEventListener("click", swallow, { capture: true }), 0);
    }
    drag = null;
  };
  svg.addEventListener("pointerup", endDrag);
  svg.addEventListener("pointercancel", endDrag);
  svg.addEventListener("keydown", (e) => {
    const step = 60;
    let handled = true;
    switch (e.key) {
      case "ArrowLeft": st.t.x += step; applyTransform(v); break;
      case "ArrowRight": st.t.x -= step; applyTransform(v); break;
      case "ArrowUp": st.t.y += step; applyTransform(v); break;
      case "ArrowDown": st.t.y -= step; applyTransform(v); break;
      case "+": case "=": zoomBy(v, 1.25); break;
      case "-": case "_": zoomBy(v, 0.8); break;
      case "0": fit(v); break;
      default: handled = false;
    }
    if (handled) e.preventDefault();
  });
  // Keep a node that receives keyboard focus on screen.
  svg.addEventListener("focusin", (e) => {
    const a = e.target.closest && e.target.closest("a.node");
    if (!a) return;
    const nr = a.getBoundingClientRect(), wr = svg.getBoundingClientRect();
    if (nr.left < wr.left || nr.right > wr.right || nr.top < wr.top || nr.bottom > wr.bottom) centerOn(v, a.dataset.id);
  });
}

// ---- hover, search and pulses ----

// installHover lights up a node's edges and neighbours while the pointer is
// on it or it has keyboard focus.
function installHover(v) {
  const nodeOf = (e) => e.target.closest && e.target.closest("a.node");
  v.svg.addEventListener("mouseover", (e) => { const a = nodeOf(e); if (a && !a.contains(e.relatedTarget)) setHl(v, a.dataset.id, true); });
  v.svg.addEventListener("mouseout", (e) => { const a = nodeOf(e); if (a && !a.contains(e.relatedTarget)) setHl(v, a.dataset.id, false); });
  v.svg.addEventListener("focusin", (e) => { const a = nodeOf(e); if (a) setHl(v, a.dataset.id, true); });
  v.svg.addEventListener("focusout", (e) => { const a = nodeOf(e); if (a) setHl(v, a.dataset.id, false); });
}

function setHl(v, id, on) {
  const { nodes, byNode } = v.st;
  const n = nodes.get(id);
  if (n) n.el.classList.toggle("hl", on);
  for (const e of byNode.get(id) || []) {
    e.el.classList.toggle("hl", on);
    const o = nodes.get(e.from === id ? e.to : e.from);
    if (o) o.el.classList.toggle("hl", on);
  }
}

// applyFilter marks the components whose ID contains q and dims the rest.
function applyFilter(v, q) {
  const st = v.st;
  st.filter = q.trim().toLowerCase();
  for (const [id, n] of st.nodes) {
    const m = st.filter !== "" && id.toLowerCase().includes(st.filter);
    n.el.classList.toggle("match", m);
    n.el.classList.toggle("dim", st.filter !== "" && !m);
  }
  for (const e of st.edgeEls.values()) e.el.classList.toggle("dim", st.filter !== "");
}

function focusFirstMatch(v) {
  for (const [id, n] of v.st.nodes) {
    if (n.el.classList.contains("match")) { centerOn(v, id); n.el.focus(); return; }
  }
}

// pulse flashes a node that was evaluated, and the edge from upstream when
// the evaluation was caused by it.
function pulse(v, id, upstream) {
  const n = v.st.nodes.get(id);
  if (!n) return;
  v.st.lastPulse.set(id, Date.now());
  const restart = (el) => {
    el.classList.remove("pulse");
    // Reading layout restarts the CSS animation when one is running.
    void el.getBoundingClientRect();
    el.classList.add("pulse");
    clearTimeout(el._pulseTimer);
    el._pulseTimer = setTimeout(() => el.classList.remove("pulse"), PULSE_MS);
  };
  restart(n.el);
  n.el.dataset.pulses = String((+n.el.dataset.pulses || 0) + 1);
  if (upstream) {
    for (const e of v.st.byNode.get(id) || []) if (e.from === upstream && e.to === id) restart(e.el);
  }
}

// ---- layout ----

function nodeSize(c) {
  const w1 = measure(c.name || c.id, fonts().mono) + ACT_W + 6;
  const w2 = measure(c.label || "", fonts().mono) + 10 + measure("unhealthy", fonts().sansBold);
  return Math.ceil(Math.max(NODE_MIN_W, PAD_L + Math.max(w1, w2) + PAD_R));
}

function edgeLabelWidth(e) {
  // Reserve room for the widest rate text so live rates never overlap.
  const rate = e.data ? " 9999 targets" : "";
  return Math.ceil(measure((e.export || "") + rate, fonts().sansBold) + 10);
}

// layout places the components left to right in data-flow order with dagre
// and returns the laid-out graph, the edges it kept, its size and the time
// it took.
function layout(data) {
  const t0 = performance.now();
  const g = new dagre.graphlib.Graph({ multigraph: true });
  // network-simplex gives the tidiest ranks but grows steeply with the
  // graph (1.3 s and more for 500 components and 750 edges in headless
  // Chromium); longest-path ranks such a graph in about a quarter of that.
  const big = data.components.length > 150;
  g.setGraph({ rankdir: "LR", nodesep: 14, ranksep: 56, edgesep: 8, marginx: 20, marginy: 20, ranker: big ? "longest-path" : "network-simplex" });
  for (const c of data.components) g.setNode(c.id, { width: nodeSize(c), height: NODE_H });
  const edges = [];
  for (const e of data.edges || []) {
    if (!g.hasNode(e.from) || !g.hasNode(e.to)) continue;
    g.setEdge(e.from, e.to, { width: edgeLabelWidth(e), height: LABEL_H, labelpos: "c" }, edgeKey(e));
    edges.push(e);
  }
  // Above 300 components the crossing-reduction sweeps (half the layout
  // time) are skipped: dagre's initial depth-first order already keeps
  // tree-like pipelines uncrossed, and a graph that size is read by
  // searching and zooming rather than at a glance.
  dagre.layout(g, { disableOptimalOrderHeuristic: data.components.length > 300 });
  const gr = g.graph();
  return { g, edges, w: gr.width || 0, h: gr.height || 0, ms: performance.now() - t0 };
}

// ---- drawing nodes ----

// Nodes and edges are drawn as one SVG string per group: for hundreds of
// components that is several times faster than building each element with
// the DOM API. Hover and focus are handled once, on the SVG.
function nodeMarkup(c, pos) {
  const w = pos.width, hgt = pos.height;
  const hs = healthOf(c);
  return `<a class="node h-${hs}" href="${esc(componentHref(c.id))}" data-id="${esc(c.id)}" data-health="${hs}" ` +
    `data-evals="${c.evaluations_total || 0}" transform="translate(${pos.x - w / 2},${pos.y - hgt / 2})" aria-label="${esc(nodeLabel(c))}">` +
    `<title>${esc(nodeTitle(c))}</title><rect class="box" width="${w}" height="${hgt}" rx="6"/>` +
    `<rect class="bar" width="5" height="${hgt - 2}" x="1" y="1" rx="2"/>` +
    `<text class="name" x="${PAD_L}" y="18">${esc(c.name || c.id)}</text>` +
    `<text class="label" x="${PAD_L}" y="35">${esc(c.label || "")}</text>` +
    `<text class="health" x="${w - 8}" y="35" text-anchor="end">${esc(HEALTH_WORDS[hs] || hs)}</text></a>`;
}

function actMarkup(c, pos) {
  const x = pos.x + pos.width / 2 - ACT_W - 4, y = pos.y - pos.height / 2 + 4;
  const t = `Highlight the pipeline through ${c.id}`;
  return `<g class="act" data-id="${esc(c.id)}" role="button" aria-pressed="false" aria-label="${esc(t)}" transform="translate(${x},${y})">` +
    `<title>${esc(t)}</title><rect width="${ACT_W}" height="14" rx="3"/><path d="${ACT_DOTS}"/></g>`;
}

function nodeLabel(c) {
  return `${c.id}, ${healthOf(c)}${c.health && c.health.message ? ": " + c.health.message : ""}`;
}

// renderNodes draws every component in tab order (left to right, then top
// to bottom, as the picture reads) and indexes the drawn elements.
function renderNodes(v, L, comps) {
  const st = v.st;
  const sorted = [...comps].sort((a, b) => {
    const pa = L.g.node(a.id), pb = L.g.node(b.id);
    return pa.x - pb.x || pa.y - pb.y;
  });
  v.gNodes.innerHTML = sorted.map((c) => nodeMarkup(c, L.g.node(c.id))).join("");
  // The pipeline buttons sit over the nodes, outside their links, so a
  // click on one does not open the component.
  v.gActs.innerHTML = sorted.map((c) => actMarkup(c, L.g.node(c.id))).join("");
  st.nodes.clear();
  const acts = v.gActs.children;
  let i = 0;
  for (const a of v.gNodes.children) {
    const pos = L.g.node(a.dataset.id);
    st.nodes.set(a.dataset.id, {
      el: a, title: a.firstElementChild, healthText: a.lastElementChild, act: acts[i++],
      x: pos.x, y: pos.y, health: a.dataset.health, baseTitle: a.firstElementChild.textContent,
    });
  }
}

// updateNode patches a drawn node with new health and evaluation counts.
// It reports whether the health state changed.
function updateNode(v, c) {
  const n = v.st.nodes.get(c.id);
  if (!n) return false;
  const hs = healthOf(c);
  const changed = n.health !== hs;
  if (changed) {
    n.el.classList.remove(`h-${n.health}`);
    n.el.classList.add(`h-${hs}`);
    n.el.dataset.health = hs;
    n.healthText.textContent = HEALTH_WORDS[hs] || hs;
    n.health = hs;
  }
  n.baseTitle = nodeTitle(c);
  n.title.textContent = n.baseTitle + (n.brokenBy ? `\non the path of unhealthy ${n.brokenBy}` : "");
  n.el.setAttribute("aria-label", nodeLabel(c));
  n.el.dataset.evals = String(c.evaluations_total || 0);
  return changed;
}

function updateLegend(v) {
  const counts = { healthy: 0, unhealthy: 0, unknown: 0, exited: 0 };
  for (const c of v.st.comps.values()) counts[healthOf(c)] = (counts[healthOf(c)] || 0) + 1;
  v.legend.replaceChildren(...Object.entries(counts).filter(([, n]) => n > 0).map(([k, n]) =>
    h("span", { class: `badge h-${k}`, "data-health": k }, `${k} ${n}`)));
}

// ---- drawing edges ----

function labelWidth(e) {
  const rate = edgeRateText(e);
  return measure((e.export || "") + (rate ? " " + rate : ""), fonts().sansBold) + 8;
}

function edgeMarkup(e, ge) {
  const rate = edgeRateText(e);
  const w = labelWidth(e);
  const title = `${e.from} → ${e.to} (${e.export})${e.data ? "\nlive: items per second over the last 5 s, or the list's length" : ""}\nclick: highlight the pipeline through this edge`;
  return `<g class="${e.data ? "edge data" : "edge"}" data-from="${esc(e.from)}" data-to="${esc(e.to)}" data-export="${esc(e.export || "")}">` +
    `<title>${esc(title)}</title><path class="line" d="${basis(ge.points)}" marker-end="url(#${e.data ? "arrow-data" : "arrow"})"/>` +
    `<path class="hit" d="${basis(ge.points)}"/>` +
    `<g class="elabel" transform="translate(${ge.x},${ge.y})"><rect class="lbl" y="${-LABEL_H / 2}" height="${LABEL_H}" rx="3" x="${-w / 2}" width="${w}"/>` +
    `<text text-anchor="middle" dy="4">${esc(e.export || "")}${rate ? `<tspan class="rate"> ${esc(rate)}</tspan>` : ""}</text></g></g>`;
}

// renderEdges draws every kept edge (source → sink) and indexes the drawn
// elements by edge and by the nodes at either end.
function renderEdges(v, L) {
  const st = v.st;
  v.gEdges.innerHTML = L.edges.map((e) => edgeMarkup(e, L.g.edge(e.from, e.to, edgeKey(e)))).join("");
  st.edgeEls.clear();
  st.byNode.clear();
  let i = 0;
  for (const el of v.gEdges.children) {
    const e = L.edges[i++];
    const r = { el, tx: el.querySelector("text"), rect: el.querySelector("rect.lbl"), from: e.from, to: e.to, data: e };
    st.edgeEls.set(edgeKey(e), r);
    for (const id of [e.from, e.to]) {
      if (!st.byNode.has(id)) st.byNode.set(id, []);
      st.byNode.get(id).push(r);
    }
  }
}

// updateEdgeLabel patches a drawn edge's label with its new rate or count.
function updateEdgeLabel(r, e) {
  r.data = e;
  const rate = edgeRateText(e);
  r.tx.replaceChildren(e.export || "", rate ? s("tspan", { class: "rate" }, " " + rate) : "");
  const w = labelWidth(e);
  r.rect.setAttribute("x", String(-w / 2));
  r.rect.setAttribute("width", String(w));
}

// render lays the graph out and draws it from scratch, keeping the view's
// search; the first render fits the graph to the window.
function render(v, data) {
  const st = v.st;
  const L = layout(data);
  const t1 = performance.now();
  renderNodes(v, L, data.components);
  renderEdges(v, L);
  st.size = { w: L.w, h: L.h };
  v.empty.hidden = data.components.length !== 0;
  if (!st.rendered) fit(v, 0.5);
  if (st.filter) applyFilter(v, st.filter);
  markBrokenPaths(v);
  applyFocus(v);
  const renderMs = performance.now() - t1;
  v.stats.textContent = `${data.components.length} components · ${L.edges.length} edges · layout ${Math.round(L.ms)} ms · draw ${Math.round(renderMs)} ms`;
  return { layoutMs: L.ms, renderMs };
}

// ---- live updates ----

// applyData takes a fresh /api/v0/components answer: a changed set of
// components or edges is laid out and drawn again, anything else is patched
// into the drawn graph.
function applyData(v, data) {
  const st = v.st;
  data.components = data.components || [];
  // Draw edges in data-flow order (source → sink) as the API gives them;
  // from/to below mean the drawn direction.
  data.edges = (data.edges || []).map((e) => ({ ...e, from: e.source || e.from, to: e.sink || e.to }));
  const prev = st.comps;
  st.comps = new Map(data.components.map((c) => [c.id, c]));
  const sig = structure(data);
  if (sig !== st.sig) {
    const first = !st.rendered;
    const tm = render(v, data);
    st.sig = sig;
    st.rendered = true;
    v.svg.dataset.rendered = "true";
    if (first) publishRenderTiming(v, tm);
  } else {
    let healthChanged = false;
    for (const c of data.components) healthChanged = updateNode(v, c) || healthChanged;
    for (const e of data.edges) {
      const r = st.edgeEls.get(edgeKey(e));
      if (r) updateEdgeLabel(r, e);
    }
    if (healthChanged) markBrokenPaths(v);
  }
  pulseMissedEvaluations(v, data.components, prev);
  updateLegend(v);
}

// publishRenderTiming sets window.__flowGraph once the first render is
// painted: read by the browser tests and benchmark (render time, in ms
// since the navigation started) and handy in the console. The timeout
// inside the frame callback runs once that frame is painted.
function publishRenderTiming(v, tm) {
  const info = { layoutMs: tm.layoutMs, renderMs: tm.renderMs, nodes: v.st.nodes.size, edges: v.st.edgeEls.size };
  requestAnimationFrame(() => setTimeout(() => {
    info.renderedAt = performance.now();
    window.__flowGraph = info;
  }, 0));
}

// pulseMissedEvaluations pulses a component whose evaluation the event
// stream did not announce (it is down, or the event was missed).
function pulseMissedEvaluations(v, comps, prev) {
  const st = v.st;
  for (const c of comps) {
    const seen = st.seenEvals.get(c.id);
    const total = c.evaluations_total || 0;
    if (seen !== undefined && total > seen && prev.has(c.id) && Date.now() - (st.lastPulse.get(c.id) || 0) > PULSE_MS) pulse(v, c.id);
    if (seen === undefined || total > seen) st.seenEvals.set(c.id, total);
  }
}

// startUpdates polls the API and listens to the event stream; it returns
// the function that stops both.
function startUpdates(v) {
  const stopPoll = poll(async () => applyData(v, await getJSON("/api/v0/components")), POLL_MS);
  const offLive = onLive((type, d) => onLiveEvent(v, type, d, stopPoll.kick));
  return () => { stopPoll(); offLive(); };
}

function onLiveEvent(v, type, d, refetch) {
  const st = v.st;
  if (type === "graph") { refetch(); return; }
  if (!d || !d.id) return;
  const c = st.comps.get(d.id);
  if (!c) { refetch(); return; }
  if (type === "health" && d.health) {
    c.health = d.health;
    if (updateNode(v, c)) markBrokenPaths(v);
    updateLegend(v);
  } else if (type === "evaluation") {
    c.evaluations_total = (c.evaluations_total || 0) + 1;
    st.seenEvals.set(c.id, Math.max(st.seenEvals.get(c.id) || 0, c.evaluations_total));
    updateNode(v, c);
    const up = upstreamOf(st.comps, d.cause);
    pulse(v, c.id, up);
    // Light the source of the change too (once per burst), so a change is
    // seen leaving its origin, crossing the edge and reaching each dependant.
    if (up && Date.now() - (st.lastPulse.get(up) || 0) > PULSE_MS / 2) pulse(v, up);
  }
}

// upstreamOf finds the component an evaluation's cause names ("aws.credentials.default
// exports changed", or "x and 2 more exports changed" for a burst): the
// longest known ID the name starts with.
function upstreamOf(comps, cause) {
  const m = CAUSE.exec(cause || "");
  if (!m) return null;
  let name = m[1];
  while (name) {
    if (comps.has(name)) return name;
    const i = name.lastIndexOf(".");
    if (i < 0) break;
    name = name.slice(0, i);
  }
  return null;
}

// ---- paths: broken by unhealthy components, and the pipeline focus ----

// reach returns the components reachable from id along the drawn edges,
// downstream (towards the sinks) or upstream (towards the sources).
function reach(v, id, downstream) {
  const seen = new Set();
  const stack = [id];
  while (stack.length) {
    const cur = stack.pop();
    for (const e of v.st.byNode.get(cur) || []) {
      const next = downstream ? (e.from === cur ? e.to : null) : (e.to === cur ? e.from : null);
      if (next !== null && next !== id && !seen.has(next)) {
        seen.add(next);
        stack.push(next);
      }
    }
  }
  return seen;
}

// pathThrough returns the components and drawn edges on every path through
// a component ({node: id}) or one edge ({edge: r}, a drawn edge): the
// component (or the edge's ends), everything upstream of it, everything
// downstream of it, and the edges that lead along those paths. An edge
// u → w is on one if w is the focus or upstream of it, or u is the focus or
// downstream of it.
function pathThrough(v, target) {
  const from = target.edge ? target.edge.from : target.node;
  const to = target.edge ? target.edge.to : target.node;
  const up = reach(v, from, false).add(from);
  const down = reach(v, to, true).add(to);
  const nodes = new Set([...up, ...down]);
  const edges = new Set();
  for (const r of v.st.edgeEls.values()) {
    if (r === target.edge || up.has(r.to) || down.has(r.from)) edges.add(r);
  }
  return { nodes, edges };
}

// markBrokenPaths marks, for each unhealthy component, the components and
// edges on the paths through it: class "broken", and on components
// data-broken-by with the unhealthy components whose path they are on.
function markBrokenPaths(v) {
  const st = v.st;
  const by = new Map();
  let any = false;
  for (const n of st.nodes.values()) if (n.health === "unhealthy") { any = true; break; }
  // Nothing to mark or unmark (the common case, and every fresh drawing
  // of a healthy graph): skip touching every element.
  if (!any && !st.brokenMarked) { v.brokenNote.hidden = true; return; }
  st.brokenMarked = any;
  const edges = new Set();
  for (const [id, n] of st.nodes) {
    if (n.health !== "unhealthy") continue;
    const p = pathThrough(v, { node: id });
    for (const x of p.nodes) {
      if (!by.has(x)) by.set(x, []);
      by.get(x).push(id);
    }
    for (const r of p.edges) edges.add(r);
  }
  for (const [id, n] of st.nodes) {
    const ids = by.get(id);
    const list = ids ? ids.sort().join(" ") : "";
    n.el.classList.toggle("broken", !!ids);
    if (list !== (n.brokenBy || "")) {
      n.brokenBy = list;
      if (list) n.el.dataset.brokenBy = list;
      else delete n.el.dataset.brokenBy;
      n.title.textContent = n.baseTitle + (list ? `\non the path of unhealthy ${list}` : "");
    }
  }
  for (const r of st.edgeEls.values()) r.el.classList.toggle("broken", edges.has(r));
  v.brokenNote.hidden = by.size === 0;
}

// installFocus makes a click on an edge or a pipeline button, and P on a
// focused component, focus the pipeline through it; Escape, the Clear
// button and a click on the empty canvas clear the focus.
function installFocus(v) {
  v.svg.addEventListener("click", (e) => {
    const t = e.target;
    if (!t.closest) return;
    const act = t.closest("g.act");
    if (act) {
      e.preventDefault();
      toggleFocus(v, { node: act.dataset.id });
      return;
    }
    const edge = t.closest("g.edge");
    if (edge) {
      toggleFocus(v, { edge: edgeKey({ from: edge.dataset.from, to: edge.dataset.to, export: edge.dataset.export }) });
      return;
    }
    if (!t.closest("a.node") && v.st.focus) setFocus(v, null);
  });
  v.svg.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && v.st.focus) { setFocus(v, null); e.preventDefault(); return; }
    if ((e.key === "p" || e.key === "P") && !e.ctrlKey && !e.metaKey && !e.altKey) {
      const a = document.activeElement && document.activeElement.closest && document.activeElement.closest("a.node");
      if (a) { toggleFocus(v, { node: a.dataset.id }); e.preventDefault(); }
    }
  });
}

function toggleFocus(v, f) {
  const cur = v.st.focus;
  const same = cur && ((f.node && cur.node === f.node) || (f.edge && cur.edge === f.edge));
  setFocus(v, same ? null : f);
}

function setFocus(v, f) {
  v.st.focus = f;
  applyFocus(v);
}

// applyFocus dims everything off the paths through the focused component
// or edge (class "unfocused"; the rest gets "focused"), or clears that when
// nothing is focused or the focus is no longer drawn.
function applyFocus(v) {
  const st = v.st;
  let f = st.focus;
  let target = null;
  if (f && f.node && st.nodes.has(f.node)) target = { node: f.node };
  else if (f && f.edge && st.edgeEls.has(f.edge)) target = { edge: st.edgeEls.get(f.edge) };
  if (!target) f = st.focus = null;
  if (!f && !st.focusApplied) { v.focusBar.hidden = true; return; }
  st.focusApplied = !!f;
  const p = target ? pathThrough(v, target) : null;
  for (const [id, n] of st.nodes) {
    const on = !!p && p.nodes.has(id);
    n.el.classList.toggle("focused", on);
    n.el.classList.toggle("unfocused", !!p && !on);
    if (n.act) n.act.classList.toggle("unfocused", !!p && !on);
    if (n.act) n.act.setAttribute("aria-pressed", String(!!f && f.node === id));
  }
  for (const r of st.edgeEls.values()) {
    const on = !!p && p.edges.has(r);
    r.el.classList.toggle("focused", on);
    r.el.classList.toggle("unfocused", !!p && !on);
  }
  if (f) {
    v.svg.dataset.focus = f.node || f.edge.replaceAll("\u0000", "|");
    v.focusText.textContent = target.node ? `Pipeline through ${target.node}` :
      `Pipeline through ${target.edge.from} → ${target.edge.to} (${target.edge.data.export})`;
    if (f.center && target.node) { centerOn(v, target.node); f.center = false; }
  } else {
    delete v.svg.dataset.focus;
  }
  v.focusBar.hidden = !f;
}
