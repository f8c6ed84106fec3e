// The components list: a sortable table with a text search, a filter by
// component name (prometheus.scrape, loki.write, ...) and a health filter,
// which combine. The search and filters live in the URL-independent page
// state, and the table refreshes in place every two seconds.

import { getJSON, onLive, poll } from "./api.js";
import { h, healthBadge, componentHref, fmtTime } from "./dom.js";

const STATES = ["all", "healthy", "unhealthy", "unknown", "exited"];

export function listPage(main) {
  document.title = "Components · flow";
  let comps = [];
  let sortKey = "id";
  let sortDir = 1;

  const search = h("input", {
    type: "search", placeholder: "Search by ID, name, label or message", "aria-label": "Search components",
    oninput: () => draw(),
  });
  const filter = h("select", { "aria-label": "Filter by health", onchange: () => draw() },
    STATES.map((v) => h("option", { value: v }, v === "all" ? "All health states" : v)));
  const nameFilter = h("select", { "aria-label": "Filter by component name", id: "name-filter", onchange: () => draw() },
    h("option", { value: "" }, "All component names"));
  const count = h("span", { class: "muted", role: "status" });
  const tbody = h("tbody");
  const headers = [["health", "Health"], ["id", "Component"], ["name", "Name"], ["label", "Label"],
    ["evaluations_total", "Evaluations"], ["last_evaluation", "Last evaluation"]];
  const ths = headers.map(([k, t]) => {
    const b = h("button", { type: "button", onclick: () => { sortDir = sortKey === k ? -sortDir : 1; sortKey = k; draw(); } }, t);
    return h("th", { scope: "col", "data-key": k }, b);
  });
  main.append(h("div", { class: "page" },
    h("h1", {}, "Components"),
    h("div", { class: "filters" }, search, filter, nameFilter, count),
    h("table", { class: "grid", id: "components-table" }, h("thead", {}, h("tr", {}, ths)), tbody)));

  function val(c, k) {
    if (k === "health") return (c.health && c.health.state) || "unknown";
    const v = c[k];
    return v === null || v === undefined ? "" : v;
  }
  // updateNames offers each component name running, with how many
  // components have it; a chosen name stays chosen while it is gone.
  function updateNames() {
    const counts = new Map();
    for (const c of comps) counts.set(c.name, (counts.get(c.name) || 0) + 1);
    const chosen = nameFilter.value;
    if (chosen && !counts.has(chosen)) counts.set(chosen, 0);
    const key = JSON.stringify([...counts].sort());
    if (key === updateNames.last) return;
    updateNames.last = key;
    nameFilter.replaceChildren(h("option", { value: "" }, "All component names"),
      ...[...counts.keys()].sort().map((n) => h("option", { value: n }, `${n} (${counts.get(n)})`)));
    nameFilter.value = chosen;
  }
  function draw() {
    const q = search.value.trim().toLowerCase();
    const f = filter.value;
    const name = nameFilter.value;
    const rows = comps.filter((c) => {
      const hs = val(c, "health");
      if (f !== "all" && hs !== f) return false;
      if (name && c.name !== name) return false;
      if (!q) return true;
      const msg = (c.health && c.health.message) || "";
      return [c.id, c.name, c.label, msg].some((x) => (x || "").toLowerCase().includes(q));
    });
    rows.sort((a, b) => {
      const x = val(a, sortKey), y = val(b, sortKey);
      const cmp = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return cmp * sortDir || a.id.localeCompare(b.id);
    });
    for (const th of ths) {
      th.setAttribute("aria-sort", th.dataset.key === sortKey ? (sortDir > 0 ? "ascending" : "descending") : "none");
    }
    count.textContent = `${rows.length} of ${comps.length} components`;
    tbody.replaceChildren(...rows.map((c) => {
      const msg = c.health && c.health.message;
      return h("tr", { "data-id": c.id },
        h("td", {}, healthBadge(val(c, "health"))),
        h("td", {}, h("a", { href: componentHref(c.id), class: "mono" }, c.id),
          msg ? h("div", { class: "muted mono" }, msg) : null),
        h("td", { class: "mono" }, c.name || ""),
        h("td", { class: "mono" }, c.label || ""),
        h("td", { class: "num" }, String(c.evaluations_total || 0)),
        h("td", {}, fmtTime(c.last_evaluation)));
    }));
  }
  const stop = poll(async () => {
    const data = await getJSON("/api/v0/components");
    comps = data.components || [];
    updateNames();
    // Redraw only when the table would change, so keyboard focus on a link survives.
    const key = JSON.stringify(comps.map((c) => [c.id, c.health, c.evaluations_total, c.last_evaluation]));
    if (key !== draw.last) { draw.last = key; draw(); }
  }, 2000);
  const off = onLive(() => stop.kick());
  return () => { stop(); off(); };
}
