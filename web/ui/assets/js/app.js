// flow UI entry point: hash routing between the pages. Each page is a
// function (container, ...params) returning a cleanup function that stops its
// polling and event listeners when the user navigates away.

import { connectLive } from "./api.js";
import { graphPage } from "./graph.js";
import { listPage } from "./list.js";
import { componentPage } from "./component.js";
import { livePage } from "./live.js";
import { configPage } from "./config.js";
import { clusterPage } from "./cluster.js";
import { h } from "./dom.js";

const routes = [
  // #/graph?focus=ID opens the graph with the pipeline through ID focused.
  [/^\/graph(?:\?focus=(.+))?$/, "graph", (el, m) => graphPage(el, m[1] ? safeDecode(m[1]) : null)],
  [/^\/components$/, "components", (el) => listPage(el)],
  [/^\/component\/([^/]+)\/live$/, "components", (el, m) => livePage(el, safeDecode(m[1]))],
  [/^\/component\/(.+)$/, "components", (el, m) => componentPage(el, safeDecode(m[1]))],
  [/^\/config$/, "config", (el) => configPage(el)],
  [/^\/clustering$/, "clustering", (el) => clusterPage(el)],
];

function safeDecode(s) {
  try { return decodeURIComponent(s); } catch { return s; }
}

let cleanup = null;
let first = true;

function route() {
  const path = location.hash.replace(/^#/, "") || "/graph";
  if (path === "/" || path === "") { location.replace("#/graph"); return; }
  const main = document.getElementById("main");
  if (cleanup) { try { cleanup(); } catch (err) { console.error(err); } cleanup = null; }
  main.replaceChildren();
  let nav = "";
  let matched = false;
  for (const [re, name, page] of routes) {
    const m = path.match(re);
    if (!m) continue;
    nav = name;
    matched = true;
    cleanup = page(main, m) || null;
    break;
  }
  if (!matched) {
    main.append(h("div", { class: "page" },
      h("h1", {}, "Page not found"),
      h("p", {}, "No page at ", h("code", {}, path), ". Go to the ", h("a", { href: "#/graph" }, "graph"), ".")));
  }
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === nav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  // Move focus to the new page for keyboard and screen-reader users, but not
  // on the first load, where the browser's own focus order should start.
  if (!first) main.focus({ preventScroll: true });
  first = false;
}

// A deep link served by the index fallback (/component/x) becomes its hash route.
if (location.pathname !== "/" && location.pathname !== "/index.html" && !location.hash) {
  location.replace("/#" + location.pathname);
} else {
  connectLive();
  window.addEventListener("hashchange", route);
  route();
}
