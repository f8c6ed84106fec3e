// The Clustering page: this agent's view of its cluster (from
// /api/v0/cluster/peers): its own name, address, state and readiness, every
// peer with its state, health and how many targets it owns, and each
// distributing component's split. Every agent computes the same owners, so
// any agent's page shows the whole cluster's distribution.

import { getJSON, poll } from "./api.js";
import { h, componentHref } from "./dom.js";

export function clusterPage(main) {
  document.title = "Clustering · flow";
  const summary = h("dl", { class: "kv", id: "cluster-summary" });
  const peers = h("tbody");
  const comps = h("div", { id: "cluster-components" });
  const off = h("p", { id: "cluster-off", hidden: true },
    "Clustering is off in this agent. Start flow with ", h("code", {}, "--cluster.enabled"),
    " and ", h("code", {}, "--cluster.join-addresses"),
    " so agents sharing a config split the targets of components with ",
    h("code", {}, "clustering { enabled = true }"), ".");
  const body = h("div", { id: "cluster-on" },
    summary,
    h("h2", {}, "Peers"),
    h("table", { class: "grid", id: "peers-table" },
      h("thead", {}, h("tr", {},
        ["Node", "Address", "State", "Health", "Targets owned", "Share"].map((t) => h("th", { scope: "col", class: t === "Targets owned" ? "num" : "" }, t)))),
      peers),
    h("h2", {}, "Distributed targets"),
    comps);
  main.append(h("div", { class: "page" }, h("h1", {}, "Clustering"), off, body));

  function draw(st) {
    off.hidden = st.enabled;
    body.hidden = !st.enabled;
    if (!st.enabled) return;
    const kv = [["Node", st.node], ["Cluster name", st.cluster_name || "(none)"], ["Advertised address", st.advertise_address],
      ["State", st.state], ["Ready", st.ready ? "yes" : `no: ${st.not_ready_reason || ""}`]];
    summary.replaceChildren(...kv.flatMap(([k, v]) => [h("dt", {}, k), h("dd", { "data-key": k }, String(v))]));
    const total = st.peers.reduce((n, p) => n + p.targets, 0);
    peers.replaceChildren(...st.peers.map((p) => {
      const share = total ? p.targets / total : 0;
      return h("tr", { "data-peer": p.name, "data-state": p.state },
        h("td", { class: "mono" }, p.name, p.self ? h("span", { class: "muted" }, " (this agent)") : null),
        h("td", { class: "mono" }, p.address),
        h("td", {}, h("span", { class: `badge peer-${p.state}` }, p.state)),
        h("td", {}, h("span", { class: `badge ${p.health === "alive" ? "h-healthy" : "h-unhealthy"}` }, p.health)),
        h("td", { class: "num", "data-targets": String(p.targets) }, String(p.targets)),
        h("td", {}, h("meter", { min: "0", max: "1", value: String(share), title: `${(share * 100).toFixed(1)}%` }),
          ` ${(share * 100).toFixed(1)}%`));
    }));
    if (!st.components.length) {
      comps.replaceChildren(h("p", { class: "muted" }, "No component distributes targets. Add ",
        h("code", {}, "clustering { enabled = true }"), " to a prometheus.scrape."));
      return;
    }
    const names = st.peers.filter((p) => p.state === "participant").map((p) => p.name);
    comps.replaceChildren(h("table", { class: "grid", id: "cluster-components-table" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Component"), h("th", { scope: "col", class: "num" }, "Targets"),
        names.map((n) => h("th", { scope: "col", class: "mono num" }, n)))),
      h("tbody", {}, st.components.map((c) => h("tr", { "data-id": c.id },
        h("td", {}, h("a", { href: componentHref(c.id), class: "mono" }, c.id)),
        h("td", { class: "num" }, String(c.total)),
        names.map((n) => h("td", { class: "num", "data-peer": n }, String(c.by_peer[n] || 0))))))));
  }

  const stop = poll(async () => {
    const st = await getJSON("/api/v0/cluster/peers");
    const key = JSON.stringify(st);
    if (key !== draw.last) { draw.last = key; draw(st); }
  }, 2000);
  return () => stop();
}
