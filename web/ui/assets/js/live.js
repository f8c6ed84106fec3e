// The Live tab of a component's page: what passes through the component now
// (live debugging, GET /api/v0/components/{id}/live), with pause/resume, a
// text filter, clear, and a marker wherever the server sampled events out.
//
// The server already bounds each viewer (200 events/s, see docs/api.md);
// the page bounds itself too: it keeps at most MAX_LINES lines, and adds
// lines once per animation frame, at most MAX_PER_FRAME each time, so a
// burst never blocks the page.

import { getJSON } from "./api.js";
import { h, componentHref } from "./dom.js";

const MAX_LINES = 2000;
const MAX_PER_FRAME = 250;

/** componentTabs is the Overview | Live tab bar of a component's page. */
export function componentTabs(id, active) {
  const tab = (name, label, href) => h("a", {
    href, class: "tab", id: "tab-" + name, "aria-current": active === name ? "page" : false,
  }, label);
  return h("nav", { class: "tabs", "aria-label": "Component views" },
    tab("overview", "Overview", componentHref(id)),
    tab("live", "Live", liveHref(id)));
}

/** liveHref is the Live tab of a component. */
export function liveHref(id) {
  return componentHref(id) + "/live";
}

function fmtClock(t) {
  const d = new Date(t);
  if (isNaN(d)) return "";
  return d.toLocaleTimeString(undefined, { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

export function livePage(main, id) {
  document.title = `${id} · live · flow`;
  const body = h("div", { class: "live-body" }, h("p", { class: "muted" }, "Loading…"));
  const page = h("div", { class: "page live-page" },
    h("div", { class: "comp-head" }, h("h1", {}, id)), body);
  main.append(componentTabs(id, "live"), page);

  let source = null;
  let raf = 0;
  let stopped = false;

  function disabledView(msg) {
    body.replaceChildren(h("div", { class: "panel", id: "live-disabled" },
      h("p", {}, msg || "Live debugging is disabled."),
      h("p", {}, "To enable it, add this block to the config and reload:"),
      h("pre", { class: "code" }, "livedebugging {\n  enabled = true\n}"),
      h("p", { class: "muted" }, "It streams what passes through each component to this tab, a few hundred events a second at most per viewer. ",
        h("button", { id: "live-retry", type: "button", onclick: () => start() }, "Try again"))));
  }

  async function start() {
    let c;
    try {
      c = await getJSON("/api/v0/components/" + encodeURIComponent(id));
    } catch (err) {
      if (stopped) return;
      body.replaceChildren(h("p", {}, err.status === 404
        ? ["There is no component with this ID in the running config. ", h("a", { href: "#/components" }, "All components"), "."]
        : "Cannot load the component: " + err.message));
      return;
    }
    if (stopped) return;
    if (!c.live_debugging_enabled) { disabledView(); return; }
    stream();
  }

  function stream() {
    const lines = h("ol", { class: "live-lines", id: "live-lines", "aria-live": "off" });
    const status = h("span", { class: "muted", id: "live-status", role: "status" }, "connecting…");
    const shownCount = h("span", { class: "muted", id: "live-count" }, "");
    const droppedEl = h("span", { class: "live-dropped", id: "live-dropped", hidden: true }, "");
    const filter = h("input", { type: "search", id: "live-filter", placeholder: "Filter (text)", "aria-label": "Filter lines by text" });
    const pauseBtn = h("button", { type: "button", id: "live-pause" }, "Pause");
    const clearBtn = h("button", { type: "button", id: "live-clear" }, "Clear");
    body.replaceChildren(
      h("div", { class: "live-toolbar" }, pauseBtn, clearBtn, filter, status, shownCount, droppedEl),
      h("div", { class: "live-wrap" }, lines));

    let pending = [];  // events not yet drawn (held while paused)
    let paused = false;
    let held = 0;      // events not kept while paused, over MAX_LINES
    let droppedTotal = 0;
    let rate = 0;
    let needle = "";

    const matches = (li) => !needle || li.dataset.text.toLowerCase().includes(needle);
    const updateCount = () => {
      shownCount.textContent = `${lines.childElementCount} lines` + (paused ? ` · paused, ${pending.length + held} new` : "");
    };

    function line(ev) {
      const li = h("li", { class: "live-line", "data-kind": ev.kind || "" },
        h("span", { class: "live-time", title: ev.time || "" }, fmtClock(ev.time)),
        h("span", { class: "live-kind" }, ev.kind || ""),
        h("span", { class: "live-text" }, ev.text || ""));
      li.dataset.text = ev.text || "";
      li.hidden = !matches(li);
      return li;
    }

    function marker(n) {
      const li = h("li", { class: "live-line live-marker", "data-kind": "dropped" },
        h("span", { class: "live-text" }, `… ${n} event${n === 1 ? "" : "s"} dropped here (this view shows at most ${rate} a second)`));
      li.dataset.text = "";
      return li;
    }

    function draw() {
      raf = 0;
      if (paused || pending.length === 0) return;
      const atBottom = lines.parentElement.scrollHeight - lines.parentElement.scrollTop - lines.parentElement.clientHeight < 40;
      const batch = pending.splice(0, MAX_PER_FRAME);
      const frag = document.createDocumentFragment();
      for (const item of batch) frag.append(item.dropped ? marker(item.dropped) : line(item));
      lines.append(frag);
      while (lines.childElementCount > MAX_LINES) lines.firstElementChild.remove();
      if (atBottom) lines.parentElement.scrollTop = lines.parentElement.scrollHeight;
      updateCount();
      if (pending.length) schedule();
    }
    function schedule() { if (!raf && !paused) raf = requestAnimationFrame(draw); }

    function push(item) {
      pending.push(item);
      if (pending.length > MAX_LINES) { held += pending.length - MAX_LINES; pending.splice(0, pending.length - MAX_LINES); }
      if (paused) updateCount(); else schedule();
    }

    pauseBtn.addEventListener("click", () => {
      paused = !paused;
      pauseBtn.textContent = paused ? "Resume" : "Pause";
      pauseBtn.setAttribute("aria-pressed", String(paused));
      if (!paused) {
        if (held) { pending.unshift({ dropped: held }); held = 0; }
        schedule();
      }
      updateCount();
    });
    clearBtn.addEventListener("click", () => { lines.replaceChildren(); pending = []; held = 0; updateCount(); });
    filter.addEventListener("input", () => {
      needle = filter.value.trim().toLowerCase();
      for (const li of lines.children) li.hidden = li.classList.contains("live-marker") ? !!needle : !matches(li);
    });

    source = new EventSource("/api/v0/components/" + encodeURIComponent(id) + "/live");
    source.addEventListener("hello", (ev) => {
      try { rate = JSON.parse(ev.data).rate || 0; } catch { /* keep 0 */ }
      status.textContent = `live · at most ${rate} events/s`;
      status.dataset.state = "live";
    });
    source.addEventListener("live", (ev) => {
      let d;
      try { d = JSON.parse(ev.data); } catch { return; }
      push(d);
    });
    source.addEventListener("dropped", (ev) => {
      let n = 0;
      try { n = JSON.parse(ev.data).dropped || 0; } catch { return; }
      if (!n) return;
      droppedTotal += n;
      droppedEl.hidden = false;
      droppedEl.textContent = `${droppedTotal} dropped (sampled to ${rate}/s)`;
      push({ dropped: n });
    });
    source.addEventListener("closed", (ev) => {
      let reason = "";
      try { reason = JSON.parse(ev.data).reason || ""; } catch { /* none */ }
      source.close();
      source = null;
      status.textContent = "stopped: " + reason;
      status.dataset.state = "closed";
      if (/disabled/.test(reason)) disabledView("Live debugging was switched off: " + reason + ".");
    });
    source.onerror = () => {
      if (!source) return;
      if (source.readyState === EventSource.CLOSED) {
        // A refusal (403 disabled, 404, 503): find out why.
        source = null;
        status.textContent = "not connected; retrying…";
        setTimeout(() => { if (!stopped) start(); }, 2000);
        return;
      }
      status.textContent = "reconnecting…";
      status.dataset.state = "reconnecting";
    };
    updateCount();
  }

  start();
  return () => {
    stopped = true;
    if (source) source.close();
    source = null;
    if (raf) cancelAnimationFrame(raf);
  };
}
