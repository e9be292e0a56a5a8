// Errors in a page user's words. The Go client's messages are exact but
// written for a log: this module says what failed, why, and what the person
// at the page can do, and keeps the exact text as the detail. Operators'
// flags never reach the page: a refusal by the relay's policy is something
// to ask its operator about.

import { hostPort } from "./dom.js";

// Relay close codes (relay/PROTOCOL.md), as error.code.
export const CODE = { token: 4401, policy: 4403, limit: 4429, failed: 4502, shutdown: 4503, timeout: 4504 };

// codeOf is the relay's close code of err, from error.code or, where the
// client names the refusal instead, error.kind.
function codeOf(err) {
  if (!err) return 0;
  if (typeof err.code === "number") return err.code;
  return CODE[err.kind] || 0;
}

// plain strips what only an operator can act on: "(see --allow)",
// "use --token-file or TUNNELKIT_TOKEN" and the like.
export function plain(text) {
  return String(text || "")
    .replace(/\s*\((?:see |use |pass )?--[a-z][a-z-]*[^)]*\)/g, "")
    .replace(/[,;:]?\s*(?:see|use|pass) --[a-z][a-z-]*(?: or [A-Z_]+)?/g, "")
    .trim();
}

// sentence makes text start with a capital and end with a full stop.
export function sentence(text) {
  let t = String(text || "").trim();
  if (!t) return "";
  t = t[0].toUpperCase() + t.slice(1);
  return /[.!?]$/.test(t) ? t : t + ".";
}

const has = (text, ...words) => words.some((w) => text.includes(w));

function relayReason(raw) {
  // "relay refused 10.0.0.5:5432: not in allow list (see --allow)" -> "not in allow list"
  const m = /relay(?: refused| could not \w+)?(?: [^\s:]+(?::\d+)?)?: (.*)$/.exec(plain(raw));
  return m ? m[1] : "";
}

// connectWords words a failed tunnelkit.connect: {text, field, detail}.
// target is "user@host:port"; useKey says how the person signed in.
export function connectWords(err, target, hp, useKey) {
  const raw = String((err && err.message) || err || "");
  const low = raw.toLowerCase();
  const detail = plain(raw);
  const code = codeOf(err);
  if (err && err.kind === "declined") {
    return { text: "The host key of " + hp + " was not trusted, so the connection was not made. Connect again to review it.", field: null, detail };
  }
  if (code === CODE.token) {
    return { text: "This relay needs a token. Enter the token its operator gave you, then connect again.", field: "token", detail };
  }
  if (code === CODE.policy) {
    return { text: "This relay does not allow reaching " + hp + ". Ask its operator to allow it, or use another relay.", field: "host", detail };
  }
  if (code === CODE.limit) {
    return { text: "The relay is at its limit of connections. Close something, or try again in a moment.", field: null, detail };
  }
  if (code === CODE.shutdown) {
    return { text: "The relay is restarting. Connect again in a moment.", field: null, detail };
  }
  if (code === CODE.failed || code === CODE.timeout) {
    const why = relayReason(raw);
    return { text: "The relay could not reach " + hp + (why ? " (" + why + ")" : "") + ". Check the gateway's host and port.", field: "host", detail };
  }
  if (has(low, "wrong passphrase", "private key is encrypted")) {
    return { text: "Wrong passphrase for this private key.", field: "passphrase", detail };
  }
  if (has(low, "cannot parse private key", "cannot decrypt private key")) {
    return { text: "This file is not a private key tunnelkit can read (OpenSSH or PEM format).", field: "keyfile", detail };
  }
  if (has(low, "unable to authenticate", "password rejected", "no supported methods remain", "authentication as")) {
    return useKey
      ? { text: "The gateway does not accept this key for " + target + ".", field: "keyfile", detail }
      : { text: "Wrong user name or password for " + target + ".", field: "password", detail };
  }
  if (has(low, "no ssh handshake", "is it an ssh server")) {
    return { text: "No SSH server answered at " + hp + ". Check the host and port.", field: "port", detail };
  }
  if (has(low, "connection refused")) {
    return { text: "Nothing accepts connections at " + hp + ". Check the host and port.", field: "port", detail };
  }
  if (has(low, "no such host", "lookup")) {
    return { text: "The relay cannot find the host " + hp.replace(/:\d+$/, "") + ". Check its name.", field: "host", detail };
  }
  if (has(low, "websocket", "relay")) {
    return { text: "Cannot reach the relay. Check its address, or try again in a moment.", field: "relay", detail };
  }
  return { text: "Could not connect to " + target + ".", field: null, detail };
}

// jumpWords words a failed connect through jump hosts when the failure is
// a hop's ({text, field, detail}), or returns null for the gateway's own
// (connectWords). hops are readHops' rows: {row, host, port, user, hasKey}.
export function jumpWords(err, hops) {
  const raw = String((err && err.message) || err || "");
  const low = raw.toLowerCase();
  const detail = plain(raw);
  const code = codeOf(err);
  const at = hops.map((h, i) => ({ ...h, hp: hostPort(h.host, h.port), n: i + 1, id: "jump-" + h.row + "-" }));
  const first = at[0];
  if (code === CODE.policy) {
    return { text: "This relay does not allow reaching jump host " + first.hp + ". Ask its operator to allow it, or use another relay.", field: first.id + "host", detail };
  }
  if (code === CODE.failed || code === CODE.timeout) {
    const why = relayReason(raw);
    return { text: "The relay could not reach jump host " + first.hp + (why ? " (" + why + ")" : "") + ". Check its host and port.", field: first.id + "host", detail };
  }
  // "jump host A could not reach B: ..." (tunnel.JumpError)
  const m = /jump host (\S+) could not reach (\S+?):/.exec(raw);
  if (m) {
    const next = at.find((h) => h.hp === m[2]);
    const refused = has(low, "prohibited") ? " does not allow forwarding to " : " could not reach ";
    return {
      text: "Jump host " + m[1] + refused + m[2] + ". Check the " + (next ? "next jump host's" : "gateway's") + " host and port" +
        (refused.includes("allow") ? ", or ask the jump host's administrator." : ": the jump host must be able to reach it."),
      field: next ? next.id + "host" : "host", detail,
    };
  }
  const h = at.find((x) => raw.includes(" " + x.hp));
  if (!h) return null;
  const who = h.user + "@" + h.hp + " (jump host " + h.n + ")";
  if (err && err.kind === "declined") return { text: "The host key of jump host " + h.hp + " was not trusted, so the connection was not made.", field: null, detail };
  if (has(low, "wrong passphrase", "private key is encrypted")) return { text: "Wrong passphrase for jump host " + h.n + "'s private key.", field: h.id + "passphrase", detail };
  if (has(low, "cannot parse private key", "cannot decrypt private key")) return { text: "Jump host " + h.n + "'s key file is not a private key tunnelkit can read (OpenSSH or PEM format).", field: h.id + "keyfile", detail };
  if (has(low, "unable to authenticate", "password rejected", "no supported methods remain", "authentication as")) {
    return h.hasKey
      ? { text: "The jump host does not accept this key for " + who + ".", field: h.id + "keyfile", detail }
      : { text: "Wrong user name or password for " + who + ".", field: h.id + "password", detail };
  }
  if (has(low, "no ssh handshake", "is it an ssh server")) return { text: "No SSH server answered at jump host " + h.hp + ". Check its host and port.", field: h.id + "port", detail };
  return { text: "Could not connect through jump host " + h.hp + ".", field: null, detail };
}

// forwardWords words a forward that could not start. f is the parsed spec.
export function forwardWords(err, f) {
  const raw = String((err && err.message) || err || "");
  const low = raw.toLowerCase();
  const detail = plain(raw);
  const code = codeOf(err);
  const entry = f.entry;
  if (code === CODE.token) return { text: "The relay asks for a token: disconnect and enter it in the form.", detail };
  if (code === CODE.policy) {
    return f.kind === "L"
      ? { text: "This relay does not allow listening on " + entry + ". Ask its operator, or pick another entry socket.", detail }
      : { text: "This relay does not allow reaching " + f.exit + ". Ask its operator to allow it.", detail };
  }
  if (code === CODE.limit) return { text: "The relay is at its limit of listeners or connections. Close a forward first.", detail };
  if (has(low, "address already in use", "in use")) {
    return { text: "Entry socket " + entry + " is already in use. Pick another port, or 0 to let the listener choose.", detail };
  }
  if (has(low, "tcpip-forward request denied", "refused to listen")) {
    return { text: "The gateway refused to listen on " + entry + ": the port may be taken, or the gateway does not allow remote forwards there.", detail };
  }
  if (code === CODE.failed) {
    const why = relayReason(raw);
    return { text: "The relay could not listen on " + entry + (why ? ": " + why : "") + ". Pick another entry socket.", detail };
  }
  if (has(low, "closed", "lost")) return { text: "The connection to the gateway has ended. Connect again.", detail };
  return { text: "This forward could not start.", detail };
}

// eventWords words a failed connection of a running forward (an event's error).
export function eventWords(raw, f) {
  // A -D forward's exit is whatever its SOCKS client asked for.
  if (f.kind === "D" && !f.exit) f = { ...f, exit: "the address the SOCKS client asked for" };
  const text = plain(raw);
  const low = text.toLowerCase();
  if (has(low, "relay refused")) {
    return "This relay does not allow reaching " + f.exit + ". Ask its operator to allow it.";
  }
  if (has(low, "gateway refused to open")) {
    if (has(low, "prohibited")) return "The gateway does not allow forwarding to " + f.exit + ". Ask its administrator.";
    return "The gateway could not reach " + f.exit + ": nothing accepts connections there, or the gateway cannot see it. Check the exit host and port.";
  }
  if (has(low, "connection refused")) return "Nothing accepts connections at " + f.exit + ". Check the exit host and port.";
  if (has(low, "relay")) return "The relay could not reach " + f.exit + ". Check the exit host and port.";
  return sentence(text);
}
