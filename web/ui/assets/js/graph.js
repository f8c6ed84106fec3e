// The graph page: every component as a node, laid out left to right in
// dependency order by dagre, with an edge from each exporting component to
// each component whose arguments reference it. Nodes are SVG links (so they
// are focusable, open in a new tab with a middle click, and are reachable with
// Tab); edges carry the export used and, on data edges, the live rate.
//
// Layout runs only when the set of components or edges changes; health,
// rates and evaluation counts are patched into the existing SVG, so the
// picture stays put while the pipeline runs.

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

let measureCtx = null;
function measure(text, font) {
  if (!measureCtx) measureCtx = document.createElement("canvas").getContext("2d");
  measureCtx.font = font;
  return measureCtx.measureText(text).width;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
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

export function graphPage(main) {
  const st = {
    comps: new Map(), edges: [], sig: null,
    nodes: new Map(), edgeEls: new Map(), byNode: new Map(),
    seenEvals: new Map(), lastPulse: new Map(),
    t: { x: 0, y: 0, k: 1 }, size: { w: 0, h: 0 }, rendered: false, filter: "",
  };
  const monoFont = `12px ${cssVar("--mono") || "monospace"}`;
  const sansFont = `11px ${cssVar("--sans") || "sans-serif"}`;
  const sansBold = `600 11px ${cssVar("--sans") || "sans-serif"}`;

  const search = h("input", {
    type: "search", placeholder: "Find components (Enter focuses the first)", "aria-label": "Find components",
    oninput: () => applyFilter(search.value), onkeydown: (e) => {
      if (e.key === "Enter") { e.preventDefault(); focusFirstMatch(); }
      if (e.key === "Escape") { search.value = ""; applyFilter(""); }
    },
  });
  const legend = h("span", { class: "legend", "aria-label": "Health counts" });
  const stats = h("span", { class: "stats", role: "status" });
  const toolbar = h("div", { class: "graph-toolbar" }, search, legend, stats);

  const defs = s("defs", {},
    s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" },
      s("path", { d: "M0,0L10,5L0,10z" })),
    s("marker", { id: "arrow-data", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" },
      s("path", { d: "M0,0L10,5L0,10z" })));
  const gEdges = s("g", { class: "edges" });
  const gNodes = s("g", { class: "nodes" });
  const viewport = s("g", { class: "viewport" }, gEdges, gNodes);
  const svg = s("svg", {
    class: "graph", tabindex: "0", role: "group",
    "aria-label": "Component graph. Arrow keys pan, plus and minus zoom, 0 fits the graph; Tab moves between components, Enter opens one.",
  }, defs, viewport);
  const zoom = h("div", { class: "zoom" },
    h("button", { type: "button", title: "Zoom in (+)", "aria-label": "Zoom in", onclick: () => zoomBy(1.25) }, "+"),
    h("button", { type: "button", title: "Zoom out (-)", "aria-label": "Zoom out", onclick: () => zoomBy(0.8) }, "−"),
    h("button", { type: "button", title: "Fit the graph (0)", "aria-label": "Fit the graph", onclick: () => fit() }, "⤢"));
  const help = h("div", { class: "graph-help" }, "Drag to pan · wheel to zoom · click a component to open it");
  const empty = h("div", { class: "graph-empty", hidden: true }, "No components are running. Load a config on the ",
    h("a", { href: "#/config" }, "Config"), " page.");
  const wrap = h("div", { class: "graph-wrap" }, svg, zoom, help, empty);
  main.append(h("div", { class: "graph-page" }, h("h1", { class: "skip" }, "Graph"), toolbar, wrap));
  document.title = "Graph · flow";

  // ---- pan and zoom ----
  function applyT() {
    const { x, y, k } = st.t;
    viewport.setAttribute("transform", `translate(${x},${y}) scale(${k})`);
  }
  function zoomAt(px, py, f) {
    const k = Math.min(4, Math.max(MIN_ZOOM, st.t.k * f));
    const ratio = k / st.t.k;
    st.t.x = px - (px - st.t.x) * ratio;
    st.t.y = py - (py - st.t.y) * ratio;
    st.t.k = k;
    applyT();
  }
  function zoomBy(f) {
    const r = svg.getBoundingClientRect();
    zoomAt(r.width / 2, r.height / 2, f);
  }
  // fit shows the whole graph. With minScale (the first view), a graph too
  // big to read when fitted is shown from its top left at a readable scale
  // instead; the fit button and the 0 key still show all of it.
  function fit(minScale = 0) {
    const r = svg.getBoundingClientRect();
    if (!st.size.w || !r.width) return;
    let k = Math.max(MIN_ZOOM, Math.min(1.2, (r.width - 20) / st.size.w, (r.height - 20) / st.size.h));
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
    applyT();
  }
  function centerOn(id) {
    const n = st.nodes.get(id);
    if (!n) return;
    const r = svg.getBoundingClientRect();
    st.t.x = r.width / 2 - n.x * st.t.k;
    st.t.y = r.height / 2 - n.y * st.t.k;
    applyT();
  }
  svg.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = svg.getBoundingClientRect();
    zoomAt(e.clientX - r.left, e.clientY - r.top, Math.exp(-e.deltaY * 0.0015));
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
    applyT();
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
    if (e.target === search) return;
    const step = 60;
    let handled = true;
    switch (e.key) {
      case "ArrowLeft": st.t.x += step; applyT(); break;
      case "ArrowRight": st.t.x -= step; applyT(); break;
      case "ArrowUp": st.t.y += step; applyT(); break;
      case "ArrowDown": st.t.y -= step; applyT(); break;
      case "+": case "=": zoomBy(1.25); break;
      case "-": case "_": zoomBy(0.8); break;
      case "0": fit(); break;
      default: handled = false;
    }
    if (handled) e.preventDefault();
  });
  // Keep a node that receives keyboard focus on screen.
  svg.addEventListener("focusin", (e) => {
    const a = e.target.closest && e.target.closest("a.node");
    if (!a) return;
    const nr = a.getBoundingClientRect(), wr = svg.getBoundingClientRect();
    if (nr.left < wr.left || nr.right > wr.right || nr.top < wr.top || nr.bottom > wr.bottom) centerOn(a.dataset.id);
  });

  // Hover and keyboard focus on a node light up its edges and neighbours.
  const nodeOf = (e) => e.target.closest && e.target.closest("a.node");
  svg.addEventListener("mouseover", (e) => { const a = nodeOf(e); if (a && !a.contains(e.relatedTarget)) setHl(a.dataset.id, true); });
  svg.addEventListener("mouseout", (e) => { const a = nodeOf(e); if (a && !a.contains(e.relatedTarget)) setHl(a.dataset.id, false); });
  svg.addEventListener("focusin", (e) => { const a = nodeOf(e); if (a) setHl(a.dataset.id, true); });
  svg.addEventListener("focusout", (e) => { const a = nodeOf(e); if (a) setHl(a.dataset.id, false); });

  // ---- highlighting ----
  function setHl(id, on) {
    const n = st.nodes.get(id);
    if (n) n.el.classList.toggle("hl", on);
    for (const e of st.byNode.get(id) || []) {
      e.el.classList.toggle("hl", on);
      const other = e.from === id ? e.to : e.from;
      const o = st.nodes.get(other);
      if (o) o.el.classList.toggle("hl", on);
    }
  }
  function applyFilter(q) {
    st.filter = q.trim().toLowerCase();
    for (const [id, n] of st.nodes) {
      const m = st.filter !== "" && id.toLowerCase().includes(st.filter);
      n.el.classList.toggle("match", m);
      n.el.classList.toggle("dim", st.filter !== "" && !m);
    }
    for (const e of st.edgeEls.values()) e.el.classList.toggle("dim", st.filter !== "");
  }
  function focusFirstMatch() {
    for (const [id, n] of st.nodes) {
      if (n.el.classList.contains("match")) { centerOn(id); n.el.focus(); return; }
    }
  }
  function pulse(id, upstream) {
    const n = st.nodes.get(id);
    if (!n) return;
    st.lastPulse.set(id, Date.now());
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
      for (const e of st.byNode.get(id) || []) if (e.from === upstream && e.to === id) restart(e.el);
    }
  }

  // ---- layout and rendering ----
  function nodeSize(c) {
    const name = c.name || c.id;
    const label = c.label || "";
    const w1 = measure(name, monoFont);
    const w2 = measure(label, monoFont) + 10 + measure("unhealthy", sansBold);
    return Math.ceil(Math.max(NODE_MIN_W, PAD_L + Math.max(w1, w2) + PAD_R));
  }
  function edgeLabelWidth(e) {
    // Reserve room for the widest rate text so live rates never overlap.
    const rate = e.data ? " 9999 targets" : "";
    return Math.ceil(measure((e.export || "") + rate, sansBold) + 10);
  }
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
  // Nodes and edges are drawn as one SVG string per group: for hundreds of
  // components that is several times faster than building each element with
  // the DOM API. Hover and focus are handled once, on the SVG (below).
  function nodeMarkup(c, pos) {
    const w = pos.width, hgt = pos.height;
    const hs = healthOf(c);
    const label = `${c.id}, ${hs}${c.health && c.health.message ? ": " + c.health.message : ""}`;
    return `<a class="node h-${hs}" href="${esc(componentHref(c.id))}" data-id="${esc(c.id)}" data-health="${hs}" ` +
      `data-evals="${c.evaluations_total || 0}" transform="translate(${pos.x - w / 2},${pos.y - hgt / 2})" aria-label="${esc(label)}">` +
      `<title>${esc(nodeTitle(c))}</title><rect class="box" width="${w}" height="${hgt}" rx="6"/>` +
      `<rect class="bar" width="5" height="${hgt - 2}" x="1" y="1" rx="2"/>` +
      `<text class="name" x="${PAD_L}" y="18">${esc(c.name || c.id)}</text>` +
      `<text class="label" x="${PAD_L}" y="35">${esc(c.label || "")}</text>` +
      `<text class="health" x="${w - 8}" y="35" text-anchor="end">${esc(HEALTH_WORDS[hs] || hs)}</text></a>`;
  }
  function labelWidth(e) {
    const rate = edgeRateText(e);
    return measure((e.export || "") + (rate ? " " + rate : ""), sansBold) + 8;
  }
  function edgeMarkup(e, ge) {
    const rate = edgeRateText(e);
    const w = labelWidth(e);
    const title = `${e.from} → ${e.to} (${e.export})${e.data ? "\nlive: items per second over the last 5 s, or the list's length" : ""}`;
    return `<g class="${e.data ? "edge data" : "edge"}" data-from="${esc(e.from)}" data-to="${esc(e.to)}" data-export="${esc(e.export || "")}">` +
      `<title>${esc(title)}</title><path d="${basis(ge.points)}" marker-end="url(#${e.data ? "arrow-data" : "arrow"})"/>` +
      `<g class="elabel" transform="translate(${ge.x},${ge.y})"><rect class="lbl" y="${-LABEL_H / 2}" height="${LABEL_H}" rx="3" x="${-w / 2}" width="${w}"/>` +
      `<text text-anchor="middle" dy="4">${esc(e.export || "")}${rate ? `<tspan class="rate"> ${esc(rate)}</tspan>` : ""}</text></g></g>`;
  }
  function renderEdgeLabel(e, tx, rect) {
    const rate = edgeRateText(e);
    tx.replaceChildren(e.export || "", rate ? s("tspan", { class: "rate" }, " " + rate) : "");
    const w = labelWidth(e);
    rect.setAttribute("x", String(-w / 2));
    rect.setAttribute("width", String(w));
  }
  function render(data) {
    const L = layout(data);
    const t1 = performance.now();
    st.nodes.clear(); st.edgeEls.clear(); st.byNode.clear();
    const comps = [...data.components];
    // Tab order follows the picture: left to right, then top to bottom.
    comps.sort((a, b) => {
      const pa = L.g.node(a.id), pb = L.g.node(b.id);
      return pa.x - pb.x || pa.y - pb.y;
    });
    gNodes.innerHTML = comps.map((c) => nodeMarkup(c, L.g.node(c.id))).join("");
    gEdges.innerHTML = L.edges.map((e) => edgeMarkup(e, L.g.edge(e.from, e.to, edgeKey(e)))).join("");
    for (const a of gNodes.children) {
      const pos = L.g.node(a.dataset.id);
      st.nodes.set(a.dataset.id, {
        el: a, title: a.firstElementChild, healthText: a.lastElementChild,
        x: pos.x, y: pos.y, health: a.dataset.health,
      });
    }
    let i = 0;
    for (const el of gEdges.children) {
      const e = L.edges[i++];
      const r = { el, tx: el.querySelector("text"), rect: el.querySelector("rect.lbl"), from: e.from, to: e.to, data: e };
      st.edgeEls.set(edgeKey(e), r);
      for (const id of [e.from, e.to]) {
        if (!st.byNode.has(id)) st.byNode.set(id, []);
        st.byNode.get(id).push(r);
      }
    }
    st.size = { w: L.w, h: L.h };
    empty.hidden = data.components.length !== 0;
    if (!st.rendered) fit(0.5);
    if (st.filter) applyFilter(st.filter);
    const renderMs = performance.now() - t1;
    stats.textContent = `${data.components.length} components · ${L.edges.length} edges · layout ${Math.round(L.ms)} ms · draw ${Math.round(renderMs)} ms`;
    return { layoutMs: L.ms, renderMs };
  }
  function updateNode(c) {
    const n = st.nodes.get(c.id);
    if (!n) return;
    const hs = healthOf(c);
    if (n.health !== hs) {
      n.el.classList.remove(`h-${n.health}`);
      n.el.classList.add(`h-${hs}`);
      n.el.dataset.health = hs;
      n.healthText.textContent = HEALTH_WORDS[hs] || hs;
      n.health = hs;
    }
    n.title.textContent = nodeTitle(c);
    n.el.setAttribute("aria-label", `${c.id}, ${hs}${c.health && c.health.message ? ": " + c.health.message : ""}`);
    n.el.dataset.evals = String(c.evaluations_total || 0);
  }
  function updateLegend() {
    const counts = { healthy: 0, unhealthy: 0, unknown: 0, exited: 0 };
    for (const c of st.comps.values()) counts[healthOf(c)] = (counts[healthOf(c)] || 0) + 1;
    legend.replaceChildren(...Object.entries(counts).filter(([, n]) => n > 0).map(([k, n]) =>
      h("span", { class: `badge h-${k}`, "data-health": k }, `${k} ${n}`)));
  }
  function apply(data) {
    data.components = data.components || [];
    // Draw edges in data-flow order (source → sink) as the API gives them;
    // from/to below mean the drawn direction.
    data.edges = (data.edges || []).map((e) => ({ ...e, from: e.source || e.from, to: e.sink || e.to }));
    const prev = st.comps;
    st.comps = new Map(data.components.map((c) => [c.id, c]));
    const sig = structure(data);
    if (sig !== st.sig) {
      const first = !st.rendered;
      const tm = render(data);
      st.sig = sig;
      st.rendered = true;
      svg.dataset.rendered = "true";
      if (first) {
        // Read by the browser tests (render time, in ms since the navigation
        // started) and handy in the console; the timeout inside the frame
        // callback runs once that frame is painted.
        const info = { layoutMs: tm.layoutMs, renderMs: tm.renderMs, nodes: st.nodes.size, edges: st.edgeEls.size };
        requestAnimationFrame(() => setTimeout(() => {
          info.renderedAt = performance.now();
          window.__flowGraph = info;
        }, 0));
      }
    } else {
      for (const c of data.components) updateNode(c);
      for (const e of data.edges) {
        const r = st.edgeEls.get(edgeKey(e));
        if (r) { r.data = e; renderEdgeLabel(e, r.tx, r.rect); }
      }
    }
    // An evaluation the event stream did not announce (it is down, or the
    // event was missed) still shows as a pulse.
    for (const c of data.components) {
      const seen = st.seenEvals.get(c.id);
      const total = c.evaluations_total || 0;
      if (seen !== undefined && total > seen && prev.has(c.id) && Date.now() - (st.lastPulse.get(c.id) || 0) > PULSE_MS) pulse(c.id);
      if (seen === undefined || total > seen) st.seenEvals.set(c.id, total);
    }
    updateLegend();
  }

  const stopPoll = poll(async () => apply(await getJSON("/api/v0/components")), POLL_MS);
  const offLive = onLive((type, d) => {
    if (type === "graph") { stopPoll.kick(); return; }
    if (!d || !d.id) return;
    const c = st.comps.get(d.id);
    if (!c) { stopPoll.kick(); return; }
    if (type === "health" && d.health) {
      c.health = d.health;
      updateNode(c);
      updateLegend();
    } else if (type === "evaluation") {
      c.evaluations_total = (c.evaluations_total || 0) + 1;
      st.seenEvals.set(c.id, Math.max(st.seenEvals.get(c.id) || 0, c.evaluations_total));
      updateNode(c);
      const up = upstreamOf(d.cause);
      pulse(c.id, up);
      // Light the source of the change too (once per burst), so a change is
      // seen leaving its origin, crossing the edge and reaching each dependant.
      if (up && Date.now() - (st.lastPulse.get(up) || 0) > PULSE_MS / 2) pulse(up);
    }
  });
  // The cause names the upstream component ("aws.credentials.default exports
  // changed", or "x and 2 more exports changed" for a burst); find the
  // longest known id the name starts with.
  function upstreamOf(cause) {
    const m = CAUSE.exec(cause || "");
    if (!m) return null;
    let name = m[1];
    while (name) {
      if (st.comps.has(name)) return name;
      const i = name.lastIndexOf(".");
      if (i < 0) break;
      name = name.slice(0, i);
    }
    return null;
  }
  const onResize = () => { if (st.rendered && st.t.k) applyT(); };
  window.addEventListener("resize", onResize);
  return () => { stopPoll(); offLive(); window.removeEventListener("resize", onResize); };
}
