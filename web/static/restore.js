// Forwards that survive a reload, and share links. The tab's sessionStorage
// keeps the gateway, user, relay, jump hosts (host, port, user) and the
// forward set (never a password, key or token); after a reload the page offers them back. A share link carries
// the same set in the URL fragment (which never reaches a server), for a
// trainer handing out "this gateway, these forwards". Leaving a page with
// live forwards asks first.
import { $, hostPort } from "./dom.js";
import { state } from "./state.js";
import { liveSet } from "./forwards.js";
import { addForward } from "./editor.js";
import { onSession, onSessionEnd } from "./connect.js";
import { setHops, jumpArg } from "./jumps.js";

const KEY = "tunnelkit.restore";
let pending = null; // forwards to add once the next session starts

function save() {
  const t = state.target;
  if (!t || !state.session) return;
  const set = { relay: t.relay, host: t.host, port: t.port, user: t.user, jump: hopsOf(t), forwards: liveSet() };
  try { sessionStorage.setItem(KEY, JSON.stringify(set)); } catch (_) { /* storage off */ }
}

// hopsOf is the target's jump hosts as kept: host, port and user only.
function hopsOf(t) {
  return ((t && t.jump) || []).map((h) => ({ host: h.host, port: h.port, user: h.user }));
}

function load() {
  try { return JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch (_) { return null; }
}

// The share link's fragment: #share=<base64url of JSON>.
export function shareLink() {
  const t = state.target || {};
  const set = { host: t.host, port: t.port, user: t.user, jump: hopsOf(t), forwards: liveSet() };
  const json = JSON.stringify(set);
  const b64 = btoa(String.fromCharCode(...new TextEncoder().encode(json))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return location.href.replace(/#.*$/, "") + "#share=" + b64;
}

function fromFragment() {
  const m = /[#&]share=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (!m) return null;
  try {
    const bin = atob(m[1].replace(/-/g, "+").replace(/_/g, "/"));
    const set = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
    history.replaceState(null, "", location.href.replace(/#.*$/, ""));
    return clean(set);
  } catch (_) {
    return null;
  }
}

// clean keeps only the fields a set may carry, whatever the link held.
function clean(set) {
  if (!set || typeof set !== "object") return null;
  const str = (v) => (typeof v === "string" ? v : "");
  const forwards = Array.isArray(set.forwards) ? set.forwards.filter((f) => typeof f === "string").slice(0, 50) : [];
  const jump = (Array.isArray(set.jump) ? set.jump : []).slice(0, 8)
    .filter((h) => h && typeof h === "object" && str(h.host))
    .map((h) => ({ host: str(h.host), port: Number(h.port) || 22, user: str(h.user) }));
  return { relay: str(set.relay), host: str(set.host), port: Number(set.port) || 22, user: str(set.user), jump, forwards };
}

function fill(set) {
  if (set.relay) $("relay").value = set.relay;
  if (set.host) $("host").value = set.host;
  if (set.port) $("port").value = String(set.port);
  if (set.user) $("user").value = set.user;
  if (set.jump.length) setHops(set.jump);
}

function offer(set, fromLink) {
  const n = set.forwards.length;
  const where = (set.user ? set.user + "@" : "") + hostPort(set.host, set.port) + (set.jump.length ? " through " + jumpArg(set.jump) : "");
  $("restore-title").textContent = n ? "Reconnect and restore " + n + " forward" + (n === 1 ? "" : "s") + "?" : "Reconnect to " + where + "?";
  $("restore-text").textContent = (fromLink ? "This link sets up " : "Before the reload you were connected to ") + where +
    (n ? " with " + set.forwards.join(", ") + "." : ".") + (set.jump.length ? " Passwords are not kept: you type them again." : " Your password is not kept: you type it again.");
  $("restore-yes").textContent = n ? "Restore " + n + " forward" + (n === 1 ? "" : "s") : "Fill in the form";
  $("restore-box").hidden = false;
  $("restore-yes").onclick = () => {
    fill(set);
    pending = set.forwards;
    $("restore-box").hidden = true;
    const secret = $("auth-key").checked ? $("keyfile") : $("password");
    secret.focus();
  };
  $("restore-no").onclick = () => {
    $("restore-box").hidden = true;
    try { sessionStorage.removeItem(KEY); } catch (_) { /* ignore */ }
  };
}

async function restoreForwards() {
  const list = pending || [];
  pending = null;
  for (const spec of list) await addForward(spec);
}

export function initRestore() {
  const linked = fromFragment();
  const set = linked || clean(load());
  if (set && set.host) offer(set, Boolean(linked));
  onSession(() => {
    $("restore-box").hidden = true;
    save();
    restoreForwards();
  });
  onSessionEnd((_, lost) => {
    if (!lost) { try { sessionStorage.removeItem(KEY); } catch (_) { /* ignore */ } }
  });
  document.addEventListener("tunnelkit:forwards-changed", save);
  window.addEventListener("beforeunload", (ev) => {
    if (state.session && state.forwards.size > 0) {
      save();
      ev.preventDefault();
      ev.returnValue = ""; // older browsers need it to ask
    }
  });
  const btn = $("share-link-btn");
  btn.addEventListener("click", async () => {
    const link = shareLink();
    btn.dataset.link = link;
    try {
      await navigator.clipboard.writeText(link);
      $("share-link-note").textContent = "Link copied: it carries this gateway, user and forwards, never a password or token.";
    } catch (_) {
      $("share-link-note").textContent = "Share link (no password or token in it): " + link;
    }
  });
}
