// tunnelkit's page: wires the modules together and waits for the SSH
// client (window.tunnelkit, see loader.js and wasm/tunnelkit.d.ts).
//
//   connect.js   connect form, relay token, session start and end
//   jumps.js     the connect form's jump hosts (ssh -J)
//   hostkeys.js  known host keys, the trust prompt, the changed-key warning
//   editor.js    the forward field, its live command (Go parses), suggestions
//   forwards.js  the list of forwards: rows, cards, states, live numbers
//   diagram.js   the path of a forward or chain, the sparkline
//   reconnect.js a reconnecting session: keep-credentials, its state on the
//                header and rows, the prompt asking for the password again
//   restore.js   forwards kept across a reload, share links, leave prompt
//   words.js     errors in a page user's words
//   banner.js    session errors that belong to no field
//   dom.js, state.js  helpers and the shared state
//
// Mount points for tools built on a session (console, viewer, shares):
//   mountTool(node)           appends node to the session's #tools section
//   onForwardAdded(fn)        fn({id, forward, parsed, actions}) for each new
//                             forward; `actions` is its card's actions area
//   onSession / onSessionEnd  (connect.js) a session's start and end
import { $, setStatus, message, hostPort } from "./dom.js";
import { state } from "./state.js";
import { initConnect, onSession, onSessionEnd } from "./connect.js";
import { initEditor, renderSuggestions, updatePreview } from "./editor.js";
import { markWebExit } from "./forwards.js";
import { initRestore } from "./restore.js";
import { initBanner } from "./banner.js";
import { knownHosts, forgetHostKey } from "./hostkeys.js";

export { onSession, onSessionEnd, state };

export function mountTool(node) {
  const tools = $("tools");
  tools.append(node);
  tools.hidden = false;
  return node;
}

export function onForwardAdded(fn) {
  document.addEventListener("tunnelkit:forward-added", (ev) => fn(ev.detail));
}

async function loadDemo() {
  try {
    const resp = await fetch("demo.json", { cache: "no-store" });
    if (!resp.ok || resp.status === 204) return;
    const d = await resp.json();
    if (d.host && !$("host").value) $("host").value = d.host;
    if (d.port) $("port").value = String(d.port);
    if (d.user && !$("user").value) $("user").value = d.user;
    if (d.relay) $("relay").value = d.relay;
    if (d.host && d.port && d.hostKey) {
      // Each demo run makes a fresh key for the same gateway:22: one kept
      // from an earlier run is not this gateway's. The page still asks.
      const hp = hostPort(d.host, d.port);
      const known = knownHosts()[hp];
      if (known && known !== d.hostKey) forgetHostKey(hp);
    }
    const list = Array.isArray(d.forwards) ? d.forwards : [];
    for (const s of list) {
      // The demo names its web exits; "open as http://" is offered for those.
      if (/\bweb\b|http/i.test(s.label || "")) {
        const m = /(\S+:\d+)\s*$/.exec(s.spec || "");
        if (m) markWebExit(m[1].split(":").slice(-2).join(":"));
      }
    }
    // One SOCKS example beside the demo's own (a -D reaches every exit).
    if (list.length && !list.some((s) => /^\s*-D/.test(s.spec || ""))) list.push({ label: "SOCKS proxy", spec: "-D 127.0.0.1:0" });
    renderSuggestions(list);
    if (d.note) {
      const note = $("demo-note");
      note.textContent = d.note;
      note.hidden = false;
    }
  } catch (_) { /* not the demo */ }
}

// loadPageConfig fills the connect form from the relay's preset
// (`tunnelkit serve --page-gateway HOST:PORT --page-user USER`), asked for
// relative to the page so a --path-prefix is kept. It fills only what is
// empty: a value restored or typed wins. The port belongs to the host: it
// is filled with the host, unless someone changed it from its default.
async function loadPageConfig() {
  try {
    const resp = await fetch("page-config.json", { cache: "no-store" });
    if (!resp.ok || resp.status === 204) return;
    const pc = await resp.json();
    const host = $("host"), port = $("port"), user = $("user");
    if (typeof pc.host === "string" && pc.host && !host.value) {
      host.value = pc.host;
      const portPreset = Number(pc.port);
      if (Number.isInteger(portPreset) && portPreset > 0 && (!port.value || port.value === port.defaultValue)) port.value = String(portPreset);
    }
    if (typeof pc.user === "string" && pc.user && !user.value) user.value = pc.user;
  } catch (_) { /* no preset */ }
}

function failLoad(e) {
  const b = $("load-error");
  b.textContent = message(e);
  b.hidden = false;
  setStatus("error", "SSH client unavailable");
}

function init() {
  initBanner();
  initConnect();
  initEditor();
  initRestore();
  loadDemo();
  loadPageConfig();
  setStatus("loading", "Loading the SSH client…");
  const tk = window.tunnelkit;
  if (!tk || !tk.ready) {
    failLoad(new Error("The SSH client loader did not run. Run make build, then restart tunnelkit."));
    return;
  }
  tk.ready.then(() => {
    $("connect-btn").disabled = false;
    setStatus("idle", "Ready: not connected");
    updatePreview();
  }, failLoad);
}

init();
