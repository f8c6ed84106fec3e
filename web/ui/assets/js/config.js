// The config page: the running config (secrets scrubbed by the server) in an
// editor with line numbers. "Validate" asks flow for a dry run and "Apply"
// reloads with the edited text; diagnostics are marked at their lines, with
// their messages beside them and listed below as buttons that move the caret
// to the spot.

import { getJSON, postConfig, reloadFromDisk } from "./api.js";
import { h } from "./dom.js";

const LINE_H = 20;

export function configPage(main) {
  document.title = "Config · flow";
  let files = [];
  let current = null; // the file being edited
  let original = "";
  let diags = [];

  const status = h("span", { class: "cfg-status", role: "status", "aria-live": "polite", id: "config-status" });
  const fileSel = h("select", { "aria-label": "Config file", hidden: true, onchange: () => select(fileSel.value) });
  const validateBtn = h("button", { type: "button", id: "validate", onclick: () => send(true) }, "Validate");
  const applyBtn = h("button", { type: "button", id: "apply", class: "primary", onclick: () => send(false) }, "Apply");
  const revertBtn = h("button", { type: "button", id: "revert", onclick: () => load(true) }, "Revert to running config");
  const diskBtn = h("button", {
    type: "button", id: "reload-disk", title: "Re-read the config file flow was started with",
    onclick: async () => {
      busy(true, "Reloading from disk…");
      const r = await reloadFromDisk().catch((err) => ({ ok: false, message: err.message, diagnostics: [] }));
      busy(false);
      result(r, "Reloaded from disk.");
      if (r.ok) await load(true);
    },
  }, "Reload from disk");
  const secretWarn = h("p", { class: "warn", hidden: true, id: "secret-warning" },
    "This config contains secrets that the server replaced by \"(secret)\". Applying it as is would set those attributes to the text \"(secret)\": put the real values back, or read them with a component such as local.file, before applying.");
  const gutter = h("div", { class: "gutter", "aria-hidden": "true" });
  const overlay = h("div", { class: "overlay", "aria-hidden": "true" });
  const ta = h("textarea", {
    spellcheck: "false", autocomplete: "off", autocapitalize: "off", wrap: "off", id: "config-text",
    "aria-label": "Config text", "aria-describedby": "diagnostics",
  });
  const editor = h("div", { class: "editor" }, gutter, h("div", { class: "body" }, overlay, ta));
  const diagList = h("ul", { class: "diags", id: "diagnostics", "aria-label": "Diagnostics" });
  main.append(h("div", { class: "page" },
    h("h1", {}, "Config"),
    h("p", { class: "muted" }, "The running config, with secrets scrubbed. Edit it and apply it, or validate it first (a dry run changes nothing)."),
    h("div", { class: "cfg-actions" }, fileSel, validateBtn, applyBtn, revertBtn, diskBtn, status),
    secretWarn, diagList, editor));

  function busy(on, msg) {
    for (const b of [validateBtn, applyBtn, revertBtn, diskBtn]) b.disabled = on;
    if (msg) { status.className = "cfg-status"; status.textContent = msg; }
  }
  function result(r, okText) {
    status.className = "cfg-status " + (r.ok ? "ok" : "err");
    status.textContent = r.ok ? okText : `Failed: ${r.message}`;
    setDiags(r.diagnostics || []);
  }
  function lines() { return ta.value.split("\n").length; }
  function drawGutter() {
    const n = lines();
    const bad = new Map();
    for (const d of diags) if (d.start && d.start.line) bad.set(d.start.line, d);
    if (gutter.childElementCount !== n || bad.size || gutter.dataset.diag) {
      const frag = document.createDocumentFragment();
      for (let i = 1; i <= n; i++) {
        const d = bad.get(i);
        frag.append(h("div", d ? { class: "diag", title: d.summary, "data-line": i } : { "data-line": i }, String(i)));
      }
      gutter.replaceChildren(frag);
      gutter.dataset.diag = bad.size ? "1" : "";
    }
    syncScroll();
  }
  // The overlay holds one layer, positioned like the textarea's text (inside
  // the same padding) and moved with the textarea's scroll.
  const layer = h("div", { class: "layer" });
  overlay.append(layer);
  function drawOverlay() {
    layer.replaceChildren(...diags.filter((d) => d.start && d.start.line).flatMap((d) => {
      const top = (d.start.line - 1) * LINE_H;
      const text = `${d.severity === "warning" ? "warning" : "error"}: ${d.summary}${d.detail ? " — " + d.detail : ""}`;
      return [
        h("div", { class: "diag-line", style: `top:${top}px` }),
        h("div", { class: "diag-msg", style: `top:${top}px`, "data-line": d.start.line, title: text }, `← ${text}`),
      ];
    }));
    syncScroll();
  }
  function syncScroll() {
    gutter.scrollTop = ta.scrollTop;
    layer.style.transform = `translate(${-ta.scrollLeft}px, ${-ta.scrollTop}px)`;
  }
  function setDiags(ds) {
    // Only this file's diagnostics are drawn in the editor; others are listed.
    diags = ds.filter((d) => !d.filename || !current || d.filename === current.name || files.length === 1);
    diagList.replaceChildren(...ds.map((d) => {
      const where = d.start ? `${d.filename || current?.name || ""}:${d.start.line}:${d.start.column}` : (d.filename || "");
      return h("li", {}, h("button", {
        type: "button", "data-line": d.start ? d.start.line : "",
        onclick: () => d.start && goTo(d.start.line, d.start.column),
      }, `${where}: ${d.severity || "error"}: ${d.summary}${d.detail ? " — " + d.detail : ""}`));
    }));
    drawGutter();
    drawOverlay();
  }
  function goTo(line, col) {
    const ls = ta.value.split("\n");
    let off = 0;
    for (let i = 0; i < line - 1 && i < ls.length; i++) off += ls[i].length + 1;
    off += Math.max(0, (col || 1) - 1);
    ta.focus();
    ta.setSelectionRange(off, off);
    ta.scrollTop = Math.max(0, (line - 5) * LINE_H);
    syncScroll();
  }
  function updateWarn() { secretWarn.hidden = !ta.value.includes('"(secret)"'); }

  ta.addEventListener("scroll", syncScroll);
  ta.addEventListener("input", () => {
    // Edited text moves lines about: old marks would point at the wrong place.
    if (diags.length) { diags = []; drawOverlay(); }
    drawGutter();
    updateWarn();
  });

  async function send(validate) {
    if (!validate && ta.value.includes('"(secret)"') &&
      !window.confirm("The config still contains \"(secret)\" placeholders; those attributes would be set to that text. Apply anyway?")) return;
    busy(true, validate ? "Validating…" : "Applying…");
    let r;
    try {
      r = await postConfig(ta.value, validate);
    } catch (err) {
      r = { ok: false, message: `cannot reach flow: ${err.message}`, diagnostics: [] };
    }
    busy(false);
    result(r, validate ? "Config is valid." : "Config applied.");
    if (r.ok && !validate) await load(false);
  }
  function select(name) {
    current = files.find((f) => f.name === name) || files[0] || null;
    original = current ? current.content : "";
    ta.value = original;
    ta.readOnly = files.length > 1 && current !== files[0];
    diags = [];
    drawGutter(); drawOverlay(); updateWarn();
  }
  async function load(resetStatus) {
    const data = await getJSON("/api/v0/config");
    files = data.files || [];
    fileSel.replaceChildren(...files.map((f) => h("option", { value: f.name }, f.name)));
    fileSel.hidden = files.length < 2;
    select(current ? current.name : files[0] && files[0].name);
    if (resetStatus) { status.textContent = ""; diagList.replaceChildren(); }
  }
  load(true).catch((err) => { status.className = "cfg-status err"; status.textContent = `Cannot load the config: ${err.message}`; });
  return () => {};
}
