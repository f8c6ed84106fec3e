// The config page: the running config (secrets scrubbed by the server) in an
// editor with line numbers. "Validate" asks flow for a dry run and "Apply"
// reloads with the edited files; diagnostics are marked at their lines, with
// their messages beside them, and listed above the editor as buttons that move
// the caret to the spot.
//
// Secrets show as "(secret)", and URLs with credentials with their password
// and query values as "xxxxx" (https://user:xxxxx@host/path?token=xxxxx).
// flow puts the running value back for any such attribute left as shown
// where the running config has it, so a user can edit other parts and apply
// without retyping credentials.

import { getJSON, postConfig, reloadFromDisk } from "./api.js";
import { h } from "./dom.js";

const LINE_H = 20;

export function configPage(main) {
  document.title = "Config · flow";
  let files = []; // [{name, content}] as edited
  let current = null; // name of the file in the editor
  let allDiags = [];

  const status = h("span", { class: "cfg-status", role: "status", "aria-live": "polite", id: "config-status" });
  const fileSel = h("select", { "aria-label": "Config file", hidden: true, onchange: () => select(fileSel.value) });
  const validateBtn = h("button", { type: "button", id: "validate", onclick: () => send(true) }, "Validate");
  const applyBtn = h("button", { type: "button", id: "apply", class: "primary", onclick: () => send(false) }, "Apply");
  const revertBtn = h("button", { type: "button", id: "revert", onclick: () => load(true) }, "Revert to running config");
  const diskBtn = h("button", {
    type: "button", id: "reload-disk", title: "Re-read the config files flow was started with",
    onclick: async () => {
      busy(true, "Reloading from disk…");
      const r = await reloadFromDisk().catch((err) => ({ ok: false, message: err.message, diagnostics: [] }));
      busy(false);
      result(r, "Reloaded from disk.");
      if (r.ok) await load(false);
    },
  }, "Reload from disk");
  const secretNote = h("p", { class: "note", hidden: true, id: "secret-note" },
    "Secrets are shown as \"(secret)\", and the passwords and query values of URLs as \"xxxxx\". Leave one as it is to keep its running value, or replace it with a new value.");
  const gutter = h("div", { class: "gutter", "aria-hidden": "true" });
  const layer = h("div", { class: "layer" });
  const overlay = h("div", { class: "overlay", "aria-hidden": "true" }, layer);
  const ta = h("textarea", {
    spellcheck: "false", autocomplete: "off", autocapitalize: "off", wrap: "off", id: "config-text",
    "aria-label": "Config text", "aria-describedby": "diagnostics",
  });
  const editor = h("div", { class: "editor" }, gutter, h("div", { class: "body" }, overlay, ta));
  const diagList = h("ul", { class: "diags", id: "diagnostics", "aria-label": "Diagnostics" });
  main.append(h("div", { class: "page" },
    h("h1", {}, "Config"),
    h("p", { class: "muted" }, "The running config. Edit it and apply it, or validate it first: a dry run changes nothing."),
    h("div", { class: "cfg-actions" }, fileSel, validateBtn, applyBtn, revertBtn, diskBtn, status),
    secretNote, diagList, editor));

  function busy(on, msg) {
    for (const b of [validateBtn, applyBtn, revertBtn, diskBtn]) b.disabled = on;
    if (msg) { status.className = "cfg-status"; status.textContent = msg; }
  }
  function result(r, okText) {
    status.className = "cfg-status " + (r.ok ? "ok" : "err");
    status.textContent = r.ok ? okText : `Failed: ${r.message}`;
    setDiags(r.ok ? [] : r.diagnostics || []);
  }
  function file(name) { return files.find((f) => f.name === name); }
  // Diagnostics of the file in the editor (those without a file name belong
  // to the only file there is).
  function editorDiags() {
    return allDiags.filter((d) => d.start && d.start.line &&
      (d.filename ? d.filename === current : files.length === 1));
  }
  function drawGutter() {
    const n = ta.value.split("\n").length;
    const bad = new Map();
    for (const d of editorDiags()) if (!bad.has(d.start.line)) bad.set(d.start.line, d);
    const frag = document.createDocumentFragment();
    for (let i = 1; i <= n; i++) {
      const d = bad.get(i);
      frag.append(h("div", d ? { class: "diag", title: d.summary, "data-line": i } : { "data-line": i }, String(i)));
    }
    gutter.replaceChildren(frag);
    syncScroll();
  }
  function drawOverlay() {
    layer.replaceChildren(...editorDiags().flatMap((d) => {
      const top = (d.start.line - 1) * LINE_H;
      const text = `${d.severity === "warning" ? "warning" : "error"}: ${d.summary}${d.detail ? " — " + d.detail : ""}`;
      return [
        h("div", { class: "diag-line", style: `top:${top}px` }),
        h("div", { class: "diag-msg", style: `top:${top}px`, "data-line": d.start.line, title: text }, `← ${text}`),
      ];
    }));
    syncScroll();
  }
  // The overlay layer sits inside the same padding as the textarea's text and
  // moves with its scroll, so marks stay on their lines.
  function syncScroll() {
    gutter.scrollTop = ta.scrollTop;
    layer.style.transform = `translate(${-ta.scrollLeft}px, ${-ta.scrollTop}px)`;
  }
  function setDiags(ds) {
    allDiags = ds;
    diagList.replaceChildren(...ds.map((d) => {
      const name = d.filename || current || "";
      const where = d.start ? `${name}:${d.start.line}:${d.start.column}` : name;
      return h("li", {}, h("button", {
        type: "button", "data-line": d.start ? d.start.line : "",
        onclick: () => {
          if (d.filename && d.filename !== current && file(d.filename)) select(d.filename);
          if (d.start) goTo(d.start.line, d.start.column);
        },
      }, `${where}: ${d.severity || "error"}: ${d.summary}${d.detail ? " — " + d.detail : ""}`));
    }));
    // Show the file the first diagnostic is in.
    const first = ds.find((d) => d.filename && file(d.filename));
    if (first && first.filename !== current) select(first.filename, true);
    drawGutter();
    drawOverlay();
    // Bring the first mark into view (without taking the focus from the button).
    const firstHere = editorDiags()[0];
    if (firstHere) {
      const top = (firstHere.start.line - 1) * LINE_H;
      if (top < ta.scrollTop || top > ta.scrollTop + ta.clientHeight - 2 * LINE_H) {
        ta.scrollTop = Math.max(0, top - 4 * LINE_H);
        syncScroll();
      }
    }
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
  // A masked URL: a quoted URL with a masked password or query value.
  const maskedURL = /"[a-z][a-z0-9+.-]*:\/\/[^"\s]*(:xxxxx@|=xxxxx)/i;
  function updateNote() { secretNote.hidden = !files.some((f) => f.content.includes('"(secret)"') || maskedURL.test(f.content)); }

  ta.addEventListener("scroll", syncScroll);
  ta.addEventListener("input", () => {
    const f = file(current);
    if (f) f.content = ta.value;
    // Edited text moves lines about: old marks would point at the wrong place.
    if (allDiags.length) { allDiags = []; drawOverlay(); }
    drawGutter();
    updateNote();
  });

  async function send(validate) {
    busy(true, validate ? "Validating…" : "Applying…");
    let r;
    try {
      r = await postConfig(files, validate);
    } catch (err) {
      r = { ok: false, message: `cannot reach flow: ${err.message}`, diagnostics: [] };
    }
    busy(false);
    result(r, validate ? "Config is valid." : "Config applied.");
    if (r.ok && !validate) await load(false);
  }
  function select(name, keepDiags) {
    current = (file(name) || files[0] || { name: null }).name;
    fileSel.value = current || "";
    ta.value = current ? file(current).content : "";
    ta.scrollTop = 0;
    if (!keepDiags) { drawGutter(); drawOverlay(); }
  }
  async function load(resetStatus) {
    const data = await getJSON("/api/v0/config");
    files = (data.files || []).map((f) => ({ name: f.name, content: f.content }));
    fileSel.replaceChildren(...files.map((f) => h("option", { value: f.name }, f.name)));
    fileSel.hidden = files.length < 2;
    select(file(current) ? current : files[0] && files[0].name);
    updateNote();
    if (resetStatus) { status.textContent = ""; setDiags([]); }
  }
  load(true).catch((err) => { status.className = "cfg-status err"; status.textContent = `Cannot load the config: ${err.message}`; });
  return () => {};
}
