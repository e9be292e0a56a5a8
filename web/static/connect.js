// The connect form (relay, gateway, user, password or key, jump hosts,
// relay token when the relay asks for one) and the session's life: start,
// loss, disconnect.
// Errors go where they happen: under the field for what the form can check,
// in one message above Connect for what the gateway or relay said, with the
// responsible field marked and the exact text behind "Details".
import { $, setStatus, showFieldError, markField, hostPort, message } from "./dom.js";
import { state } from "./state.js";
import { checkHostKey } from "./hostkeys.js";
import { connectWords, jumpWords, sentence, plain } from "./words.js";
import { initJumps, readHops, jumpOptions, clearHopSecrets, clearHopErrors, jumpArg } from "./jumps.js";
import { clearForwards, onForwardEvent, shownSpecs } from "./forwards.js";
import { updatePreview, addForward } from "./editor.js";
import { reconnectOptions, keepChosen, gaveUp, resetState, stopState, askCredentials, initReconnect } from "./reconnect.js";
import { showBanner, clearBanner } from "./banner.js";

const TOKEN_KEY = "tunnelkit.relayToken"; // only when the person asks to remember it
const FIELDS = ["relay", "token", "host", "port", "user", "password", "keyfile", "passphrase"];
const hooks = { started: [], ended: [] };
// kept holds the credentials for the gave-up view's Reconnect only when the
// person ticked keep-credentials; lastForm is the form without secrets.
let kept = null;
let lastForm = null;

// onSession registers fn(session, target) for each session start, and
// onSessionEnd fn(target, lost) for each end.
export function onSession(fn) { hooks.started.push(fn); }
export function onSessionEnd(fn) { hooks.ended.push(fn); }

// defaultRelay is this page's own server, under the same path prefix
// (a reverse proxy may serve tunnelkit below /some/path/).
export function defaultRelay() {
  return new URL(".", location.href).href.replace(/^http/, "ws").replace(/\/$/, "");
}

export function showTokenField(why) {
  $("token-field").hidden = false;
  if (why) showFieldError("token", why);
}

function clearErrors() {
  clearHopErrors();
  for (const id of FIELDS) { showFieldError(id, ""); markField(id, null); }
  $("connect-error").hidden = true;
  $("connect-error-text").textContent = "";
  $("connect-error-details").hidden = true;
  $("connect-error-details").open = false;
}

function formError(text, detail, field) {
  $("connect-error-text").textContent = text;
  $("connect-error-detail").textContent = detail || "";
  $("connect-error-details").hidden = !detail || detail === text;
  $("connect-error").hidden = false;
  if (field && $(field)) {
    if (field === "token") $("token-field").hidden = false;
    markField(field, "connect-error-text");
    $(field).focus();
  }
}

// readForm checks what the page can check itself; each problem is shown
// under its field.
function readForm() {
  const relay = $("relay").value.trim();
  const host = $("host").value.trim();
  const portText = $("port").value.trim() || "22";
  const user = $("user").value.trim();
  const useKey = $("auth-key").checked;
  const bad = [];
  if (!/^(wss?|https?):\/\/[^\s]+$/.test(relay)) bad.push(["relay", "The relay must be a ws://, wss://, http:// or https:// address."]);
  if (!host) bad.push(["host", "Enter the gateway's host name or address."]);
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) bad.push(["port", "The port is a number from 1 to 65535 (SSH's is 22)."]);
  if (!user) bad.push(["user", "Enter your user name on the gateway."]);
  if (!useKey && !$("password").value) bad.push(["password", "Enter the password, or choose a private key."]);
  if (useKey && !$("keyfile").files.length) bad.push(["keyfile", "Choose your private key file, or sign in with a password."]);
  const jump = readHops(bad);
  for (const [id, msg] of bad) showFieldError(id, msg);
  if (bad.length) {
    $(bad[0][0]).focus();
    return null;
  }
  if (!$("token-field").hidden && !$("token").value) {
    // The same words as the relay's refusal: one message, the field marked.
    formError("This relay needs a token. Enter the token its operator gave you, then connect again.", "", "token");
    return null;
  }
  return { relay, host, port, user, useKey, token: $("token").value, jump };
}

// connectWith connects with the form's values and returns the session, or
// null after showing why not.
export async function connectWith(f) {
  const btn = $("connect-btn");
  btn.disabled = true;
  btn.textContent = "Connecting…";
  const hp = hostPort(f.host, f.port);
  const target = f.user + "@" + hp;
  setStatus("busy", "Connecting to " + hp + "…");
  const mismatch = {};
  const jump = f.jump || [];
  const hopAddrs = new Set(jump.map((h) => hostPort(h.host, h.port)));
  const opts = {
    relay: f.relay, host: f.host, port: f.port, user: f.user,
    // Asked once per host: each jump host's host:port, then the gateway's.
    onHostKey: (arg, hostport) => {
      const where = typeof hostport === "string" && hostport ? hostport : hp;
      const fp = typeof arg === "string" ? arg : (arg && arg.fingerprint) || String(arg);
      return checkHostKey(where, fp, mismatch, hopAddrs.has(where) && where !== hp ? "jump host" : "gateway");
    },
    onEvent,
    ...reconnectOptions(f),
  };
  if (f.token) opts.token = f.token;
  if (jump.length) setStatus("busy", "Connecting to " + hp + " through " + jumpArg(jump) + "…");
  try {
    if (jump.length) opts.jump = await jumpOptions(jump);
    if (f.creds) {
      Object.assign(opts, f.creds);
    } else if (f.useKey) {
      opts.privateKey = await $("keyfile").files[0].text();
      opts.passphrase = $("passphrase").value;
    } else {
      opts.password = $("password").value;
    }
    const s = await window.tunnelkit.connect(opts);
    kept = keepChosen() ? { password: opts.password, privateKey: opts.privateKey, passphrase: opts.passphrase } : null;
    opts.password = opts.privateKey = opts.passphrase = undefined;
    $("password").value = "";
    $("passphrase").value = "";
    clearHopSecrets();
    rememberToken(f.token);
    startSession(s, f);
    return s;
  } catch (e) {
    if (mismatch.hp) {
      formError("Refused: the host key of " + mismatch.hp + " has changed (remembered " + mismatch.known + ", presented " + mismatch.fp + ")." +
        (mismatch.forgotten ? " The remembered key was forgotten: connect again to review the new one." : ""), "", null);
    } else {
      const w = (jump.length && jumpWords(e, jump)) || connectWords(e, target, hp, f.useKey);
      if (w.field === "token") showTokenField();
      formError(w.text, sentence(plain(message(e))), w.field);
    }
    setStatus("error", "Not connected");
    return null;
  } finally {
    btn.disabled = false;
    btn.textContent = "Connect";
  }
}

async function onConnect(ev) {
  ev.preventDefault();
  clearErrors();
  const f = readForm();
  if (f) await connectWith(f);
}

function rememberToken(token) {
  try {
    if (token && $("token-remember").checked) localStorage.setItem(TOKEN_KEY, token);
    else if (!$("token-remember").checked) localStorage.removeItem(TOKEN_KEY);
  } catch (_) { /* storage off: the tab keeps it */ }
}

function onEvent(ev) {
  if (!ev) return;
  if (onForwardEvent(ev)) return;
  // A forward that failed to start reports it where it was added (under
  // the field): its events are not the session's.
  if (ev.forward) return;
  if (ev.error && state.session) showBanner(sentence(plain(ev.error)));
}

function startSession(s, f) {
  state.session = s;
  lastForm = { ...f, creds: undefined };
  resetState();
  const jump = (f.jump || []).map((h) => ({ host: h.host, port: h.port, user: h.user })); // never a secret
  state.target = { host: f.host, port: f.port, user: f.user, relay: f.relay, jump };
  $("session-target").textContent = f.user + "@" + hostPort(f.host, f.port);
  const path = $("session-path");
  path.hidden = !jump.length;
  path.textContent = jump.length
    ? "Path: this page → relay → " + jump.map((h) => h.user + "@" + hostPort(h.host, h.port) + " (jump host)").join(" → ") +
      " → " + f.user + "@" + hostPort(f.host, f.port) + " (gateway)"
    : "";
  $("session-hostkey").textContent = s.hostKey || "";
  clearBanner();
  $("connect-card").hidden = true;
  $("session-card").hidden = false;
  setStatus("ok", "Connected to " + hostPort(f.host, f.port));
  updatePreview();
  $("spec").focus();
  for (const fn of hooks.started) fn(s, state.target);
  Promise.resolve(s.closed).then((why) => endSession(s, why), (e) => endSession(s, e));
}

function endSession(s, why) {
  if (state.session !== s) return;
  const target = state.target;
  state.session = null;
  stopState();
  if (gaveUp() && !state.userClosed) {
    // The session card stays, saying why it gave up, with Reconnect; its
    // forwards stay shown (gave up) to come back with it.
    for (const fn of hooks.ended) fn(target, true);
    $("reconnect-btn").focus();
    return;
  }
  clearForwards();
  $("session-card").hidden = true;
  $("connect-card").hidden = false;
  const lost = !state.userClosed;
  if (lost) {
    const reason = why ? sentence(plain(message(why)).replace(/^session \S+ ended: /, "")) : "";
    setStatus("error", "Connection lost");
    formError("The connection to the gateway has ended. Connect again to continue.", reason, null);
  } else {
    setStatus("idle", "Disconnected");
  }
  state.userClosed = false;
  for (const fn of hooks.ended) fn(target, lost);
  $("connect-btn").focus();
}

// leaveGaveUp goes from a session that gave up back to the connect form.
function leaveGaveUp() {
  kept = null;
  clearForwards();
  $("session-card").hidden = true;
  $("connect-card").hidden = false;
  setStatus("idle", "Disconnected");
  $("connect-btn").focus();
}

// onReconnect is the gave-up view's Reconnect: a new session to the same
// gateway with the same forwards, asking for the password or key again
// unless the person chose to keep them.
async function onReconnect() {
  if (state.session || !lastForm) return;
  const f = lastForm;
  const creds = kept || await askCredentials(f.user + "@" + hostPort(f.host, f.port), f.useKey);
  if (!creds) return;
  const specs = shownSpecs();
  clearForwards();
  clearErrors();
  const s = await connectWith({ ...f, creds });
  if (!s) {
    // Why it failed is shown in the connect form.
    $("session-card").hidden = true;
    $("connect-card").hidden = false;
    return;
  }
  for (const spec of specs) await addForward(spec);
}

async function onDisconnect() {
  const s = state.session;
  if (!s) { if (!$("session-card").hidden) leaveGaveUp(); return; }
  state.userClosed = true;
  setStatus("busy", "Disconnecting…");
  try { await s.close(); } catch (_) { /* closing anyway */ }
  endSession(s, null);
}

// probeRelay asks the relay's /healthz whether it wants a token (a JSON
// answer with {token: true}); the first refusal with 4401 tells too.
async function probeRelay() {
  try {
    const url = new URL("healthz", new URL(".", location.href));
    const resp = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
    if ((resp.headers.get("Content-Type") || "").includes("json")) {
      const h = await resp.json();
      if (h && (h.token === true || h.tokenRequired === true)) showTokenField();
    }
  } catch (_) { /* an old relay: the first refusal will tell */ }
}

export function initConnect() {
  $("relay").value = defaultRelay();
  initJumps();
  for (const r of document.querySelectorAll("input[name=auth]")) {
    r.addEventListener("change", () => {
      const useKey = $("auth-key").checked;
      for (const f of document.querySelectorAll("[data-auth]")) f.hidden = f.dataset.auth !== (useKey ? "key" : "password");
    });
  }
  for (const id of FIELDS) {
    const field = $(id);
    if (field) field.addEventListener("input", () => { showFieldError(id, ""); markField(id, null); });
  }
  try {
    const t = localStorage.getItem(TOKEN_KEY);
    if (t) { $("token").value = t; $("token-remember").checked = true; showTokenField(); }
  } catch (_) { /* no storage */ }
  $("connect-form").addEventListener("submit", onConnect);
  $("disconnect-btn").addEventListener("click", onDisconnect);
  initReconnect(onReconnect);
  probeRelay();
}

// formValues is what connectWith needs, read from the form without checks.
export function formValues() {
  return {
    relay: $("relay").value.trim(), host: $("host").value.trim(), port: Number($("port").value.trim() || "22"),
    user: $("user").value.trim(), useKey: $("auth-key").checked, token: $("token").value, jump: readHops([]),
  };
}
export { readForm, clearErrors };
