// The TCP console: `nc` in the page. mount(container, session) draws a
// form to open a connection to any exit through the gateway
// (session.openTCP), then a live connection view: what comes back as text
// or hex, a line to type (or bytes to paste as hex), half-close, close,
// bytes and state as they change. connectionView is the same view for any
// TCPSocket-shaped object, for the incoming connections of a -R.

import { h, uid } from "./element.js";

const enc = new TextEncoder();

// gatewayText is the gateway as an ssh command names it: user@host, with
// -p for a port other than 22.
export function gatewayText(t) {
  return t && t.user ? t.user + "@" + t.host + (t.port && t.port !== 22 ? " -p " + t.port : "") : "user@gateway";
}

function formatBytes(n) {
  if (n < 1024) return n + " B";
  if (n < 1 << 20) return (n / 1024).toFixed(1) + " KiB";
  return (n / (1 << 20)).toFixed(1) + " MiB";
}

function hexdump(bytes, offset) {
  const lines = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const row = bytes.subarray(i, i + 16);
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = Array.from(row, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
    lines.push((offset + i).toString(16).padStart(8, "0") + "  " + hex.padEnd(48) + "  " + ascii);
  }
  return lines.join("\n");
}

// parseHex turns "de ad be ef" or "deadbeef" into bytes, or throws.
function parseHex(s) {
  const t = s.replace(/0x/gi, "").replace(/[\s,:]/g, "");
  if (t.length % 2 || /[^0-9a-f]/i.test(t)) throw new Error("not hex bytes: write pairs of hex digits, e.g. 48 65 6c 6c 6f");
  const out = new Uint8Array(t.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(t.substr(i * 2, 2), 16);
  return out;
}

// The most a console keeps to show: older output is dropped from view.
const keepBytes = 256 << 10;

// connectionView shows one open socket: sock has .opened and .close() like
// a Direct Sockets TCPSocket. label names it ("10.0.0.5:4444", "from ...").
export function connectionView(sock, label) {
  const root = h("div", { class: "console-conn", "data-console-conn": "" });
  const state = h("span", { class: "console-state", "data-console-state": "connecting" }, "connecting…");
  const bytes = h("span", { class: "console-bytes", "data-console-bytes": "" }, "0 B in · 0 B out");
  const hexId = uid("hex");
  const hexBox = h("input", { type: "checkbox", id: hexId, "data-console-hex": "" });
  const out = h("pre", { class: "console-output", "data-console-output": "", tabIndex: 0, "aria-live": "polite", "aria-label": "Received from " + label });
  const inputId = uid("in");
  const input = h("input", { id: inputId, class: "console-input", autocomplete: "off", autocapitalize: "off", spellcheck: false, "data-console-input": "", placeholder: "type a line, Enter sends it" });
  const asHexId = uid("ashex");
  const asHex = h("input", { type: "checkbox", id: asHexId, "data-console-send-hex": "" });
  const send = h("button", { type: "submit", class: "primary small", "data-console-send": "" }, "Send");
  const halfClose = h("button", { type: "button", class: "secondary small", "data-console-halfclose": "", title: "Half-close: send FIN, keep reading (writable.close())" }, "Half-close");
  const close = h("button", { type: "button", class: "secondary small", "data-console-close": "" }, "Close");
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const form = h("form", { class: "console-send" },
    h("label", { for: inputId, class: "visually-hidden" }, "Send to " + label), input, send);
  root.append(
    h("div", { class: "console-head" }, h("code", { class: "console-label" }, label), state, bytes),
    out,
    h("div", { class: "console-opts" },
      h("label", { class: "check", for: hexId }, hexBox, " Hex view"),
      h("label", { class: "check", for: asHexId }, asHex, " Send as hex bytes")),
    form,
    h("div", { class: "console-actions" }, halfClose, close),
    error);

  const received = []; // chunks kept for the view
  let keptBytes = 0, inBytes = 0, outBytes = 0, dropped = 0, writer = null;
  const dec = new TextDecoder();
  let text = "";

  const setState = (s, words) => { state.dataset.consoleState = s; state.textContent = words || s; };
  const showBytes = () => { bytes.textContent = formatBytes(inBytes) + " in · " + formatBytes(outBytes) + " out"; };
  const render = () => {
    out.classList.toggle("hex", hexBox.checked);
    out.textContent = hexBox.checked ? hexdump(concat(received), dropped) : (dropped ? "…" : "") + text;
    out.scrollTop = out.scrollHeight;
  };
  const concat = (chunks) => {
    const all = new Uint8Array(keptBytes);
    let o = 0;
    for (const c of chunks) { all.set(c, o); o += c.length; }
    return all;
  };
  const fail = (e) => { error.textContent = e && e.message ? e.message : String(e); error.hidden = false; };
  hexBox.addEventListener("change", render);
  const setWritable = (on) => { input.disabled = send.disabled = halfClose.disabled = !on; };
  setWritable(false);
  close.disabled = true;

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!writer) return;
    let data;
    try {
      data = asHex.checked ? parseHex(input.value) : enc.encode(input.value + "\n");
    } catch (e) { fail(e); return; }
    error.hidden = true;
    input.value = "";
    try {
      await writer.write(data);
      outBytes += data.length;
      showBytes();
    } catch (e) { fail(e); }
  });
  // Pasting bytes: in hex mode a paste is sent as it is, without Enter.
  input.addEventListener("paste", (ev) => {
    if (!asHex.checked) return;
    const t = ev.clipboardData && ev.clipboardData.getData("text");
    if (!t) return;
    ev.preventDefault();
    input.value = t;
    form.requestSubmit();
  });
  halfClose.addEventListener("click", async () => {
    if (!writer) return;
    const w = writer;
    writer = null;
    setWritable(false);
    try { await w.close(); setState("half-closed", "half-closed (FIN sent), reading"); } catch (e) { fail(e); }
  });
  close.addEventListener("click", () => { sock.close(); });

  (async () => {
    let opened;
    try {
      opened = await sock.opened;
    } catch (e) {
      setState("refused", "refused");
      fail(e);
      return;
    }
    setState("open", "open");
    writer = opened.writable.getWriter();
    setWritable(true);
    close.disabled = false;
    const reader = opened.readable.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        inBytes += value.length;
        received.push(value);
        keptBytes += value.length;
        text += dec.decode(value, { stream: true });
        while (keptBytes > keepBytes && received.length > 1) {
          const old = received.shift();
          keptBytes -= old.length;
          dropped += old.length;
          text = text.slice(-keepBytes);
        }
        showBytes();
        render();
      }
      if (state.dataset.consoleState !== "closed") setState(writer ? "peer-closed" : "ended", writer ? "exit closed its side · you can still send" : "ended");
    } catch (e) {
      if (state.dataset.consoleState !== "closed") fail(e);
    }
  })();
  Promise.resolve(sock.closed).then(() => { setState("closed", "closed"); setWritable(false); close.disabled = true; },
    (e) => { if (state.dataset.consoleState !== "refused") { setState("closed", "closed with an error"); fail(e); } setWritable(false); close.disabled = true; });
  return root;
}

// mount draws the console: target form, equivalent command, and the
// connections opened from it. It returns {open(host, port), unmount()}.
export function mount(container, session, opts = {}) {
  const target = opts.target || {};
  const hostId = uid("chost");
  const host = h("input", { id: hostId, autocomplete: "off", autocapitalize: "off", spellcheck: false, placeholder: "10.0.0.5:4444", "data-console-target": "", required: true });
  const open = h("button", { type: "submit", class: "primary", "data-console-open": "" }, "Open");
  const command = h("code", { class: "command", "data-console-command": "" }, commandFor(""));
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const list = h("div", { class: "console-list" });
  const form = h("form", { class: "console-form", noValidate: true },
    h("div", { class: "field grow" }, h("label", { for: hostId }, "Exit socket ", h("span", { class: "optional" }, "host:port, reached by the gateway")), host),
    open);
  const card = h("section", { class: "endpoint-panel", "data-panel": "console", "aria-label": "TCP console" },
    h("h2", {}, "TCP console"),
    h("p", { class: "help" }, "Open a connection to any exit through the gateway and talk to it from this page, like nc. Nothing listens anywhere."),
    form,
    h("p", { class: "preview" }, h("span", { class: "preview-label" }, "Equivalent command"), command),
    error, list);
  container.append(card);

  function commandFor(exit) {
    return "ssh -W " + (exit || "host:port") + " " + gatewayText(target);
  }
  host.addEventListener("input", () => { command.textContent = commandFor(host.value.trim()); });

  function openTo(h, p) {
    const sock = session.openTCP(h, p);
    const label = (h.includes(":") ? "[" + h + "]" : h) + ":" + p;
    list.prepend(connectionView(sock, label));
    return sock;
  }
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    error.hidden = true;
    const m = /^\s*(?:\[([^\]]+)\]|([^\s:]+)):(\d{1,5})\s*$/.exec(host.value);
    if (!m || +m[3] < 1 || +m[3] > 65535) {
      error.textContent = "Write the exit socket as host:port (IPv6 in brackets), e.g. 10.0.0.5:4444.";
      error.hidden = false;
      host.focus();
      return;
    }
    openTo(m[1] || m[2], +m[3]);
  });
  return {
    element: card,
    open(h, p) { host.value = (h.includes(":") ? "[" + h + "]" : h) + ":" + p; command.textContent = commandFor(host.value); return openTo(h, p); },
    unmount() { card.remove(); },
  };
}
