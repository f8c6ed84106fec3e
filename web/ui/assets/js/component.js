// A component's page: its health with message and time, the history of its
// health changes, arguments, exports and debug info as trees, the components
// it references and that reference it, and its last evaluations with time,
// duration and cause. It refreshes on this component's live events and by
// polling.

import { getJSON, onLive, poll } from "./api.js";
import { h, healthBadge, componentHref, fmtTime, fmtDuration, ago, CAUSE } from "./dom.js";
import { renderTree } from "./tree.js";
import { componentTabs } from "./live.js";

function links(ids, none) {
  if (!ids || ids.length === 0) return h("p", { class: "muted" }, none);
  return h("ul", {}, [...ids].sort().map((id) => h("li", {}, h("a", { href: componentHref(id) }, id))));
}

function causeCell(cause, known) {
  // "x.y.z exports changed" links to the upstream component that caused it.
  const m = CAUSE.exec(cause || "");
  if (m) {
    let id = m[1];
    while (id && !known.has(id)) {
      const i = id.lastIndexOf(".");
      if (i < 0) { id = ""; break; }
      id = id.slice(0, i);
    }
    if (id) {
      return h("td", { "data-cause": cause }, h("a", { href: componentHref(id), class: "mono" }, m[1]), cause.slice(m[1].length));
    }
  }
  return h("td", { "data-cause": cause || "" }, cause || "");
}

// relTime renders a time as how long ago (kept current by refreshAgo) with
// the absolute local time beside it.
function relTime(t) {
  const d = new Date(t);
  if (!t || isNaN(d)) return h("span", { class: "muted" }, "unknown time");
  return [h("time", { class: "ago", datetime: t, title: t }, ago(d)), " ", h("span", { class: "muted abs" }, d.toLocaleString())];
}

function refreshAgo(root) {
  for (const el of root.querySelectorAll("time.ago")) el.textContent = ago(new Date(el.getAttribute("datetime")));
}

// healthHistory is the table of the component's last health changes, newest
// first, as the API keeps them (docs/api.md, health_history).
function healthHistory(changes) {
  if (!changes || changes.length === 0) return h("p", { class: "muted" }, "no changes recorded");
  return h("table", { class: "grid", id: "health-history-table" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "When"), h("th", { scope: "col" }, "State"), h("th", { scope: "col" }, "Message"))),
    h("tbody", {}, changes.map((c) => h("tr", { "data-state": c.state },
      h("td", { class: "when" }, relTime(c.time)),
      h("td", {}, healthBadge(c.state)),
      h("td", { class: "mono msg" }, c.message || "")))));
}

export function componentPage(main, id) {
  document.title = `${id} · flow`;
  const page = h("div", { class: "page" }, h("h1", { class: "mono" }, id), h("p", { class: "muted" }, "Loading…"));
  main.append(componentTabs(id, "overview"), page);
  let lastKey = "";

  function draw(c) {
    const hs = c.health || {};
    const known = new Set([...(c.references || []), ...(c.referenced_by || [])]);
    const evals = c.evaluations || [];
    const pos = c.position;
    const section = (sid, title, ...body) => h("section", { id: sid, "aria-labelledby": sid + "-h" }, h("h2", { id: sid + "-h" }, title), ...body);
    const content = h("div", {},
      h("div", { class: "health-line", id: "health" },
        healthBadge(hs.state),
        hs.message ? h("span", { class: "msg", id: "health-message" }, hs.message) : h("span", { class: "muted" }, "no message"),
        h("span", { class: "muted", title: hs.updated_time || "" }, "since ", fmtTime(hs.updated_time))),
      h("dl", { class: "meta" },
        h("dt", {}, "Name"), h("dd", {}, c.name || ""),
        h("dt", {}, "Label"), h("dd", {}, c.label || "(none)"),
        pos ? [h("dt", {}, "Defined at"), h("dd", {}, `${pos.filename || ""}:${pos.line}:${pos.column}`)] : null,
        h("dt", {}, "Evaluations"), h("dd", {}, String(c.evaluations_total || 0)),
        h("dt", {}, "Last evaluation"), h("dd", {}, fmtTime(c.last_evaluation))),
      section("health-history", `Health history (last ${(c.health_history || []).length} changes)`, healthHistory(c.health_history)),
      section("arguments", "Arguments", h("div", { class: "panel" }, renderTree(c.arguments, "no arguments"))),
      section("exports", "Exports", h("div", { class: "panel" }, renderTree(c.exports, "no exports"))),
      section("debug", "Debug info", h("div", { class: "panel" }, renderTree(c.debug_info, "no debug info"))),
      section("evaluations", `Evaluations (last ${evals.length})`,
        evals.length === 0 ? h("p", { class: "muted" }, "none yet") :
          h("table", { class: "grid", id: "evaluations-table" },
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Time"), h("th", { scope: "col" }, "Duration"),
              h("th", { scope: "col" }, "Cause"), h("th", { scope: "col" }, "Error"))),
            h("tbody", {}, evals.map((ev) => h("tr", {},
              h("td", { title: ev.time }, fmtTime(ev.time)),
              h("td", { class: "num" }, fmtDuration(ev.duration_seconds)),
              causeCell(ev.cause, known),
              h("td", { class: ev.error ? "mono" : "muted" }, ev.error || "—")))))));
    const side = h("aside", { class: "comp-side", "aria-label": "Related components" },
      h("h2", {}, "References"), h("div", { id: "references" }, links(c.references, "none")),
      h("h2", {}, "Referenced by"), h("div", { id: "referenced-by" }, links(c.referenced_by, "none")),
      h("h2", {}, "On this page"),
      h("ul", {}, [["health", "Health"], ["health-history", "Health history"], ["arguments", "Arguments"], ["exports", "Exports"], ["debug", "Debug info"], ["evaluations", "Evaluations"]]
        .map(([a, t]) => h("li", {}, h("a", {
          href: "#" + location.hash.slice(1), onclick: (e) => {
            e.preventDefault();
            const t = document.getElementById(a);
            if (t) { t.scrollIntoView(); t.setAttribute("tabindex", "-1"); t.focus({ preventScroll: true }); }
          },
        }, t)))),
      h("p", {}, h("a", { href: "#/graph" }, "← Graph"), " · ", h("a", { href: "#/components" }, "All components")),
      h("p", {}, h("a", { href: "#/graph?focus=" + encodeURIComponent(c.id), id: "highlight-pipeline" }, "Highlight its pipeline in the graph")));
    page.replaceChildren(
      h("div", { class: "comp-head" }, h("h1", {}, c.id)),
      h("div", { class: "comp-layout" }, content, side));
  }

  async function load() {
    let c;
    try {
      c = await getJSON("/api/v0/components/" + encodeURIComponent(id));
    } catch (err) {
      if (err.status === 404) {
        lastKey = "";
        page.replaceChildren(h("h1", { class: "mono" }, id),
          h("p", {}, "There is no component with this ID in the running config. ", h("a", { href: "#/components" }, "All components"), "."));
        return;
      }
      throw err;
    }
    // Redraw only on change: keeps the reader's scroll, focus and open tree nodes.
    const key = JSON.stringify(c);
    if (key === lastKey) return;
    lastKey = key;
    const y = page.scrollTop;
    draw(c);
    page.scrollTop = y;
  }
  const stop = poll(load, 2000);
  const off = onLive((type, d) => {
    if (type === "graph" || (d && d.id === id)) stop.kick();
  });
  const ticker = setInterval(() => refreshAgo(page), 5000);
  return () => { stop(); off(); clearInterval(ticker); };
}
