// Access to flow's JSON API (docs/api.md) and its live event stream.
//
// Pages always poll as well as listen to server-sent events: events make
// health changes and evaluations appear at once, and polling keeps edge rates
// current and covers for an event stream that is down (a proxy that buffers
// it, or a server restarting), so the page never goes stale for long.

const banner = () => document.getElementById("banner");

function showError(msg) {
  const b = banner();
  if (!b) return;
  if (msg) {
    b.textContent = msg;
    b.hidden = false;
  } else {
    b.hidden = true;
    b.textContent = "";
  }
}

/** getJSON fetches an API path and parses it; it throws with the server's message. */
export async function getJSON(path) {
  let resp;
  try {
    resp = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
  } catch (err) {
    showError(`Cannot reach flow at ${location.host} (${err.message}). Retrying…`);
    throw err;
  }
  if (!resp.ok) {
    const text = (await resp.text()).trim();
    const err = new Error(`${path}: ${resp.status} ${text || resp.statusText}`);
    err.status = resp.status;
    if (resp.status >= 500) showError(err.message);
    throw err;
  }
  showError(null);
  return resp.json();
}

/**
 * postConfig sends config files ([{name, content}]) to /-/reload, as a dry run
 * when validate is set. It resolves to {ok, message, diagnostics}, with
 * diagnostics as docs/api.md describes.
 */
export async function postConfig(files, validate) {
  const url = "/-/reload" + (validate ? "?dry_run=1" : "");
  const resp = await fetch(url, {
    method: "POST",
    // X-Flow-Reload: flow applies a posted config only with this header,
    // which a page of another site cannot send (docs/security.md).
    headers: { Accept: "application/json", "Content-Type": "application/json", "X-Flow-Reload": "1" },
    body: JSON.stringify({ files }),
  });
  return reloadResult(resp);
}

async function reloadResult(resp) {
  const text = await resp.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* a plain-text answer */ }
  if (resp.ok) {
    return { ok: true, message: (body && body.message) || text.trim() || "ok", diagnostics: (body && body.diagnostics) || [] };
  }
  if (body && typeof body === "object") {
    return { ok: false, message: body.error || `${resp.status} ${resp.statusText}`, diagnostics: body.diagnostics || [] };
  }
  return { ok: false, message: text.trim() || `${resp.status} ${resp.statusText}`, diagnostics: [] };
}

/** reloadFromDisk asks flow to re-read its config files. */
export async function reloadFromDisk() {
  const resp = await fetch("/-/reload", { method: "POST", headers: { Accept: "application/json" } });
  return reloadResult(resp);
}

// The one event stream shared by all pages.
const listeners = new Set();
let source = null;
let state = "connecting";

function setState(st) {
  state = st;
  const el = document.getElementById("live");
  if (!el) return;
  el.dataset.state = st;
  el.textContent = st === "live" ? "live" : st === "polling" ? "polling (event stream down)" : "connecting…";
}

function emit(type, ev) {
  let data = {};
  try { data = JSON.parse(ev.data || "{}"); } catch { return; }
  for (const fn of listeners) {
    try { fn(type, data); } catch (err) { console.error("live listener", err); }
  }
}

/** connectLive opens the event stream; EventSource reconnects by itself. */
export function connectLive() {
  if (source) return;
  if (!("EventSource" in window)) { setState("polling"); return; }
  source = new EventSource("/api/v0/events");
  source.onopen = () => setState("live");
  source.onerror = () => setState("polling");
  for (const t of ["health", "evaluation", "graph"]) {
    source.addEventListener(t, (ev) => emit(t, ev));
  }
}

/** onLive subscribes to live events (type, data); it returns the unsubscribe function. */
export function onLive(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** liveState is "live", "polling" or "connecting". */
export function liveState() { return state; }

/**
 * poll calls fn now and then every ms milliseconds while the tab is visible,
 * never overlapping calls; it returns a stop function. kick() runs it at once.
 */
export function poll(fn, ms) {
  let stopped = false;
  let timer = null;
  let running = false;
  let again = false;
  const run = async () => {
    if (stopped) return;
    if (running) { again = true; return; }
    clearTimeout(timer);
    running = true;
    try { await fn(); } catch (err) { /* shown by getJSON; try again next tick */ }
    running = false;
    if (stopped) return;
    if (again) { again = false; run(); return; }
    timer = setTimeout(run, document.hidden ? ms * 5 : ms);
  };
  run();
  const stop = () => { stopped = true; clearTimeout(timer); };
  stop.kick = run;
  return stop;
}
