// Reconnecting sessions in the page: the options tunnelkit.connect takes
// for it (from the connect form's "keep-credentials" choice), the state
// shown on the session header (connected / reconnecting, attempt k, next in
// N s / gave up) and the prompt that asks for the password or key again
// when it was not kept. The rules (backoff, the host key that must match,
// which forwards come back) are Go's (wasm/reconnect.go); this module only
// asks and shows. Forward rows show their part through forwards.js.
import { $, setStatus, hostPort } from "./dom.js";
import { sentence, plain } from "./words.js";
import { setForwardReconnect } from "./forwards.js";

let current = null; // {session, target, st, timer, deadline}

// keepChosen is the connect form's checkbox: unchecked (the default), the
// password, key and passphrase are dropped right after signing in.
export function keepChosen() {
  const box = $("keep-credentials");
  return Boolean(box && box.checked);
}

// reconnectOptions are merged into tunnelkit.connect's options; ask is
// called for a reconnect when the credentials were not kept.
export function reconnectOptions(f) {
  const target = f.user + "@" + hostPort(f.host, f.port);
  const rec = { target, st: null, timer: 0, deadline: 0, gaveUp: false };
  current = rec;
  return {
    reconnect: true,
    keepCredentials: keepChosen(),
    onState: (st) => onState(rec, st),
    onCredentials: () => askCredentials(target, f.useKey),
  };
}

// gaveUp tells whether the session now ending ended by giving up.
export function gaveUp() {
  return Boolean(current && current.gaveUp);
}

// lastError is the reason of the last reconnect state, in a page user's words.
function reason(st) {
  const e = String(st.error || "");
  if (!e) return "";
  if (/not kept for reconnecting|onCredentials/.test(e)) return "you did not sign in again";
  if (/could not be resumed|relay holds no stream/.test(e)) return "the relay restarted";
  if (/dropped without a close|relay stopped|connection refused|ERR_CONNECTION/i.test(e)) return "the relay cannot be reached";
  if (/host key/i.test(e)) return "the gateway's host key has changed";
  if (/unable to authenticate|authentication|permission denied/i.test(e)) return "the gateway refused the password or key";
  return plain(e).replace(/^session \S+ ended: /, "").replace(/[.\s]+$/, "");
}

// describe words st for the session header; secondsLeft is the countdown.
export function describe(st, secondsLeft) {
  switch (st.state) {
    case "connected":
      return "Connected";
    case "reconnecting":
      return "Reconnecting, attempt " + st.attempt + ", next in " + secondsLeft + " s";
    case "gave-up":
      return "Gave up: " + (reason(st) || "the connection could not be made again") + ".";
  }
  return String(st.state);
}

function onState(rec, st) {
  rec.st = st;
  clearInterval(rec.timer);
  rec.timer = 0;
  const box = $("session-state");
  box.dataset.state = st.state;
  $("reconnect-btn").hidden = st.state !== "gave-up";
  if (st.state !== "reconnecting") hideAsk();
  const text = $("session-state-text");
  if (st.state === "reconnecting") {
    rec.deadline = performance.now() + Math.max(0, Number(st.nextInMs) || 0);
    const tick = () => {
      const left = Math.max(0, Math.ceil((rec.deadline - performance.now()) / 1000));
      text.textContent = describe(st, left);
      if (left === 0) { clearInterval(rec.timer); rec.timer = 0; }
    };
    tick();
    rec.timer = setInterval(tick, 250);
    // The status (aria-live) announces each attempt once, not each second.
    setStatus("busy", "Connection lost. Reconnecting, attempt " + st.attempt + "…");
  } else {
    text.textContent = describe(st, 0);
    if (st.state === "connected" && st.forwards) setStatus("ok", "Connected to " + rec.target.replace(/^[^@]*@/, ""));
    if (st.state === "gave-up") {
      rec.gaveUp = true;
      setStatus("error", "Connection lost");
    }
  }
  // The title says where the session is; the form adds forwards only to a live one.
  const title = $("session-title").firstChild;
  if (title && title.nodeType === Node.TEXT_NODE) {
    title.textContent = { connected: "Connected to ", reconnecting: "Reconnecting to ", "gave-up": "Not connected to " }[st.state] || title.textContent;
  }
  $("forward-form").hidden = st.state === "gave-up";
  $("session-state-detail").textContent = st.state === "reconnecting" && st.error ? sentence(plain(String(st.error))) : "";
  $("session-state-details").hidden = !$("session-state-detail").textContent;
  for (const f of st.forwards || []) setForwardReconnect(f.spec, st.state === "gave-up" ? "gave-up" : f.state, f.entry, f.error);
}

// resetState shows a fresh session as connected.
export function resetState() {
  const box = $("session-state");
  box.dataset.state = "connected";
  $("session-state-text").textContent = "Connected";
  $("forward-form").hidden = false;
  const title = $("session-title").firstChild;
  if (title && title.nodeType === Node.TEXT_NODE) title.textContent = "Connected to ";
  $("session-state-detail").textContent = "";
  $("session-state-details").hidden = true;
  $("reconnect-btn").hidden = true;
  hideAsk();
}

// stopState ends the countdown of a session that is gone.
export function stopState() {
  if (current) clearInterval(current.timer);
  hideAsk();
}

let pendingAsk = null;

function hideAsk() {
  $("reauth").hidden = true;
  $("reauth-password").value = "";
  $("reauth-passphrase").value = "";
  $("reauth-keyfile").value = "";
  if (pendingAsk) { const r = pendingAsk; pendingAsk = null; r(null); }
}

// askCredentials asks in the session card for the password (or the key
// file and its passphrase) again; it resolves to what connect takes, or
// null when the person gives up.
export function askCredentials(target, useKey) {
  hideAsk();
  return new Promise((resolve) => {
    pendingAsk = resolve;
    // No countdown while the page waits for the person.
    if (current) { clearInterval(current.timer); current.timer = 0; }
    if ($("session-state").dataset.state === "reconnecting") $("session-state-text").textContent = "Reconnecting: waiting for you to sign in again";
    $("reauth-user").value = target.slice(0, target.lastIndexOf("@"));
    $("reauth-text").textContent = "The connection to " + target + " was lost. Sign in again to reconnect" +
      (useKey ? ": choose your private key file again (and its passphrase, if it has one)." : ": enter the password again.");
    for (const f of document.querySelectorAll("[data-reauth]")) f.hidden = f.dataset.reauth !== (useKey ? "key" : "password");
    $("reauth-error").hidden = true;
    $("reauth").hidden = false;
    $(useKey ? "reauth-keyfile" : "reauth-password").focus();
  });
}

async function onReauthSubmit(ev) {
  ev.preventDefault();
  if (!pendingAsk) return;
  const useKey = !$("reauth-keyfile").closest("[data-reauth]").hidden;
  let creds;
  if (useKey) {
    const file = $("reauth-keyfile").files[0];
    if (!file) return reauthError("Choose your private key file, or give up.");
    creds = { privateKey: await file.text(), passphrase: $("reauth-passphrase").value };
  } else {
    if (!$("reauth-password").value) return reauthError("Enter the password, or give up.");
    creds = { password: $("reauth-password").value };
  }
  const r = pendingAsk;
  pendingAsk = null;
  hideAsk();
  setStatus("busy", "Reconnecting…");
  r(creds);
}

function reauthError(text) {
  $("reauth-error").textContent = text;
  $("reauth-error").hidden = false;
}

// initReconnect wires the prompt; onReconnect is the gave-up view's
// Reconnect button.
export function initReconnect(onReconnect) {
  $("reauth").addEventListener("submit", onReauthSubmit);
  $("reauth-cancel").addEventListener("click", () => hideAsk());
  $("reconnect-btn").addEventListener("click", onReconnect);
}
