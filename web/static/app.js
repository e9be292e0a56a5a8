// tunnelkit's page: connect form, host-key prompt, forward editor, and the
// live list of forwards with their diagrams. Plain DOM, no framework; the
// SSH work happens in the Go client (window.tunnelkit, see loader.js).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 500;
  const KNOWN_HOSTS_KEY = "tunnelkit.knownHosts"; // host:port -> "SHA256:..."; nothing secret

  const state = {
    session: null, // the tunnelkit session while connected
    target: null, // {host, port, user}
    forwards: new Map(), // id -> view (see addForwardView)
    nextId: 1,
    timer: 0,
    mismatch: null, // set by the host-key check when it refuses a changed key
    userClosed: false, // Disconnect was pressed: the end is not an error
  };

  // ---- status line -------------------------------------------------------

  function setStatus(kind, text) {
    const el = $("status");
    el.dataset.state = kind;
    el.textContent = text;
  }

  function showError(el, msg) {
    el.textContent = msg || "";
    el.hidden = !msg;
  }

  function message(err) {
    if (!err) return "unknown error";
    if (typeof err === "string") return err;
    return err.message || String(err);
  }

  // ---- formatting --------------------------------------------------------

  function formatBytes(n) {
    n = Number(n) || 0;
    if (n < 1024) return n + " B";
    const units = ["KiB", "MiB", "GiB", "TiB"];
    let u = -1;
    do { n /= 1024; u++; } while (n >= 1024 && u < units.length - 1);
    return (n >= 100 ? n.toFixed(0) : n.toFixed(1)) + " " + units[u];
  }

  function bracket(host) {
    return host.includes(":") && !host.startsWith("[") ? "[" + host + "]" : host;
  }

  function hostPort(host, port) {
    return bracket(host) + ":" + port;
  }

  function shorten(s, max) {
    return s.length > max ? s.slice(0, max - 1) + "…" : s;
  }

  // ---- forward specs (OpenSSH syntax) ------------------------------------
  // Mirrors tunnel.ParseSpec for the live preview; the Go client parses
  // again and has the last word.

  function splitColons(s) {
    const parts = [];
    let cur = "", depth = 0;
    for (const ch of s) {
      if (ch === "[") depth++;
      if (ch === "]") depth--;
      if (ch === ":" && depth === 0) { parts.push(cur); cur = ""; } else cur += ch;
    }
    parts.push(cur);
    return parts;
  }

  function unbracket(h, what) {
    if (h.startsWith("[")) {
      if (!h.endsWith("]")) throw new Error(what + " " + h + ": missing ]");
      return h.slice(1, -1);
    }
    if (h.includes("]")) throw new Error(what + " " + h + ": stray ]");
    return h;
  }

  // checkHost accepts names and IP addresses; IPv6 must be written in brackets.
  function checkHost(h, written, what) {
    if (!/^[A-Za-z0-9._%:-]+$/.test(h)) throw new Error(what + " \"" + h + "\" has a character that is not allowed");
    if (h.includes(":") && !written.startsWith("[") && !written.includes("/")) throw new Error("Put IPv6 addresses in brackets: [" + h + "]");
    if (h.includes(":") && !/^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(%[A-Za-z0-9._-]+)?$/.test(h)) throw new Error(what + " \"" + h + "\" is not an IPv6 address");
    return h;
  }

  function parsePort(p, what, allowZero) {
    if (!/^\d{1,5}$/.test(p)) throw new Error(what + " \"" + p + "\" is not a number");
    const n = Number(p);
    if (n > 65535 || (n === 0 && !allowZero)) {
      throw new Error(what + " " + n + " is out of range (" + (allowZero ? "0" : "1") + "-65535)");
    }
    return n;
  }

  // parseForward("L", "-R 0:localhost:80") -> {kind:"R", entryHost:"", entryPort:0, exitHost:"localhost", exitPort:80}
  function parseForward(defaultKind, text) {
    let t = text.trim();
    let kind = defaultKind;
    const flag = /^(?:-([LR])\s*|([LR])(?:\s+|(?=[\d[*:])))/.exec(t);
    if (flag) {
      kind = flag[1] || flag[2];
      t = t.slice(flag[0].length).trim();
    }
    if (t === "") throw new Error("Type a forward, e.g. 8080:db.internal:5432");
    // "entry exit" and "entry -> exit" are accepted as well.
    const arrow = t.split(/\s*(?:->|→|\s)\s*/).filter(Boolean);
    if (arrow.length === 2) t = arrow[0] + ":" + arrow[1];
    else if (arrow.length > 2) throw new Error("Unexpected spaces in \"" + text.trim() + "\"");
    // OpenSSH also accepts "/" as the separator (port/host/hostport).
    const parts = t.includes("/") ? t.split("/") : splitColons(t);
    let bind = null;
    if (parts.length === 4) bind = parts.shift();
    else if (parts.length !== 3) throw new Error("Expected [entry address:]entry port:exit host:exit port, e.g. 8080:db.internal:5432");
    // An empty entry address means all interfaces, as in OpenSSH.
    const entryHost = bind === null ? "" : bind === "" || bind === "*" ? "*" : checkHost(unbracket(bind, "entry address"), bind, "entry address");
    const entryPort = parsePort(parts[0], "entry port", true);
    if (parts[1] === "") throw new Error("The exit host is missing");
    const exitHost = checkHost(unbracket(parts[1], "exit host"), parts[1], "exit host");
    const exitPort = parsePort(parts[2], "exit port", false);
    return { kind, entryHost, entryPort, exitHost, exitPort };
  }

  function specText(f) {
    const entry = (f.entryHost ? bracket(f.entryHost) + ":" : "") + f.entryPort;
    return entry + ":" + bracket(f.exitHost) + ":" + f.exitPort;
  }

  // sshCommand mirrors tunnel.Spec.Command: "ssh -N -L spec [-p port] user@host".
  function sshCommand(f, t, placeholder) {
    let arg = placeholder || specText(f);
    if (!placeholder && /[*[\]?]/.test(arg)) arg = "'" + arg + "'"; // shell globs
    const port = t && t.port && Number(t.port) !== 22 ? " -p " + t.port : "";
    const dest = t ? (t.user ? t.user + "@" : "") + t.host : "USER@GATEWAY";
    return "ssh -N -" + f.kind + " " + arg + port + " " + dest;
  }

  function entryWords(f) {
    const port = f.entryPort === 0 ? "a free port" : "port " + f.entryPort;
    const addr = f.entryHost === "" ? "localhost" : f.entryHost === "*" ? "all interfaces" : f.entryHost;
    return port + " on " + addr;
  }

  function explain(f, t) {
    const gw = t ? hostPort(t.host, t.port) : "the gateway";
    const exit = hostPort(f.exitHost, f.exitPort);
    if (f.kind === "L") {
      return "Local forward: the relay host listens on " + entryWords(f) + "; each connection is carried through " + gw + ", which opens " + exit + ".";
    }
    return "Remote forward: the gateway " + gw + " listens on " + entryWords(f) + "; each connection comes back through this page and the relay opens " + exit + ".";
  }

  // ---- known host keys (localStorage holds fingerprints only) -------------

  function knownHosts() {
    try { return JSON.parse(localStorage.getItem(KNOWN_HOSTS_KEY) || "{}") || {}; } catch (_) { return {}; }
  }

  function rememberHostKey(hp, fp) {
    const all = knownHosts();
    all[hp] = fp;
    try { localStorage.setItem(KNOWN_HOSTS_KEY, JSON.stringify(all)); } catch (_) { /* private mode: ask again next time */ }
  }

  function forgetHostKey(hp) {
    const all = knownHosts();
    delete all[hp];
    try { localStorage.setItem(KNOWN_HOSTS_KEY, JSON.stringify(all)); } catch (_) { /* ignore */ }
  }

  function ask(dialog) {
    return new Promise((resolve) => {
      dialog.returnValue = "";
      dialog.addEventListener("close", () => resolve(dialog.returnValue), { once: true });
      dialog.showModal();
    });
  }

  async function checkHostKey(hp, fp) {
    const known = knownHosts()[hp];
    if (known === fp) return true;
    if (known) {
      state.mismatch = { hp, known, fp };
      $("mismatch-host").textContent = hp;
      $("mismatch-known").textContent = known;
      $("mismatch-got").textContent = fp;
      if ((await ask($("mismatch-dialog"))) === "forget") {
        forgetHostKey(hp);
        state.mismatch.forgotten = true;
      }
      return false;
    }
    $("hostkey-host").textContent = hp;
    $("hostkey-fp").textContent = fp;
    if ((await ask($("hostkey-dialog"))) !== "accept") return false;
    if ($("hostkey-remember").checked) rememberHostKey(hp, fp);
    return true;
  }

  // ---- connect -----------------------------------------------------------

  // defaultRelay is this page's own server, under the same path prefix
  // (a reverse proxy may serve tunnelkit below /some/path/).
  function defaultRelay() {
    return new URL(".", location.href).href.replace(/^http/, "ws").replace(/\/$/, "");
  }

  function readForm() {
    const relay = $("relay").value.trim();
    const host = $("host").value.trim();
    const portText = $("port").value.trim() || "22";
    const user = $("user").value.trim();
    const useKey = $("auth-key").checked;
    if (!/^(wss?|https?):\/\/[^\s]+$/.test(relay)) throw fieldError("relay", "The relay must be a ws://, wss://, http:// or https:// URL.");
    if (!host) throw fieldError("host", "Enter the gateway's host name or address.");
    let port;
    try { port = parsePort(portText, "port", false); } catch (e) { throw fieldError("port", "The gateway " + e.message + "."); }
    if (!user) throw fieldError("user", "Enter the user name on the gateway.");
    if (!useKey && !$("password").value) throw fieldError("password", "Enter the password, or choose a private key.");
    if (useKey && !$("keyfile").files.length) throw fieldError("keyfile", "Choose your private key file, or sign in with a password.");
    return { relay, host, port, user, useKey };
  }

  function fieldError(id, msg) {
    const e = new Error(msg);
    e.field = id;
    return e;
  }

  function markInvalid(id) {
    for (const el of document.querySelectorAll("#connect-form [aria-invalid]")) el.removeAttribute("aria-invalid");
    if (id) {
      const el = $(id);
      el.setAttribute("aria-invalid", "true");
      el.focus();
    }
  }

  async function onConnect(ev) {
    ev.preventDefault();
    const errEl = $("connect-error");
    showError(errEl, "");
    let f;
    try {
      f = readForm();
      markInvalid(null);
    } catch (e) {
      showError(errEl, e.message);
      markInvalid(e.field);
      return;
    }
    const btn = $("connect-btn");
    btn.disabled = true;
    btn.textContent = "Connecting…";
    const hp = hostPort(f.host, f.port);
    setStatus("busy", "Connecting to " + hp + "…");
    state.mismatch = null;
    const opts = {
      relay: f.relay, host: f.host, port: f.port, user: f.user,
      onHostKey: (arg) => checkHostKey(hp, typeof arg === "string" ? arg : (arg && arg.fingerprint) || String(arg)),
      onEvent: onEvent,
    };
    try {
      if (f.useKey) {
        opts.privateKey = await $("keyfile").files[0].text();
        opts.passphrase = $("passphrase").value;
      } else {
        opts.password = $("password").value;
      }
      const s = await window.tunnelkit.connect(opts);
      $("password").value = "";
      $("passphrase").value = "";
      startSession(s, f);
    } catch (e) {
      let msg = message(e);
      if (state.mismatch) {
        msg = "Refused: the host key of " + state.mismatch.hp + " has changed (remembered " + state.mismatch.known + ", presented " + state.mismatch.fp + ")." +
          (state.mismatch.forgotten ? " The remembered key was forgotten: connect again to review the new one." : "");
      }
      showError(errEl, msg);
      setStatus("error", "Not connected");
    } finally {
      btn.disabled = false;
      btn.textContent = "Connect";
    }
  }

  function startSession(s, f) {
    state.session = s;
    state.target = { host: f.host, port: f.port, user: f.user };
    $("session-target").textContent = f.user + "@" + hostPort(f.host, f.port);
    $("session-hostkey").textContent = s.hostKey || "";
    showError($("session-error"), "");
    $("connect-card").hidden = true;
    $("session-card").hidden = false;
    setStatus("ok", "Connected to " + hostPort(f.host, f.port));
    updatePreview();
    $("spec").focus();
    if (!state.timer) state.timer = setInterval(poll, POLL_MS);
    // endpoint hook: endpoint.js mounts the console, viewer and share panels for the session.
    document.dispatchEvent(new CustomEvent("tunnelkit:session", { detail: { session: s, target: state.target } }));
    Promise.resolve(s.closed).then((why) => endSession(s, why), (e) => endSession(s, e));
  }

  function endSession(s, why) {
    if (state.session !== s) return;
    state.session = null;
    document.dispatchEvent(new CustomEvent("tunnelkit:session", { detail: null })); // endpoint hook
    clearInterval(state.timer);
    state.timer = 0;
    for (const v of state.forwards.values()) v.li.remove();
    state.forwards.clear();
    updateCount();
    $("session-card").hidden = true;
    $("connect-card").hidden = false;
    const reason = why ? message(why) : ""; // s.closed resolves with nothing after close()
    if (state.userClosed) {
      setStatus("idle", "Disconnected");
    } else {
      setStatus("error", "Connection lost");
      showError($("connect-error"), "The connection to the gateway ended" + (reason ? ": " + reason : ".") + " Connect again to continue.");
    }
    state.userClosed = false;
    $("connect-btn").focus();
  }

  async function onDisconnect() {
    const s = state.session;
    if (!s) return;
    state.userClosed = true;
    setStatus("busy", "Disconnecting…");
    try { await s.close(); } catch (e) { /* closing anyway */ }
    endSession(s, null);
  }

  // ---- forward editor ----------------------------------------------------

  function currentKind() {
    return $("kind-R").checked ? "R" : "L";
  }

  function updatePreview() {
    const text = $("spec").value;
    const cmd = $("spec-command");
    try {
      const f = parseForward(currentKind(), text.trim() === "" ? "" : text);
      if (f.kind !== currentKind()) $("kind-" + f.kind).checked = true;
      cmd.textContent = sshCommand(f, state.target);
      cmd.classList.remove("invalid");
      $("spec-explain").textContent = explain(f, state.target);
      return f;
    } catch (e) {
      if (text.trim() === "") {
        cmd.textContent = sshCommand({ kind: currentKind() }, state.target, "[entry address:]entry port:exit host:exit port");
        $("spec-explain").textContent = currentKind() === "L"
          ? "Local forward (-L): the entry socket listens on the relay host; the gateway opens the exit socket."
          : "Remote forward (-R): the gateway listens on the entry socket; the relay opens the exit socket.";
      } else {
        cmd.textContent = e.message;
        $("spec-explain").textContent = "";
      }
      cmd.classList.add("invalid");
      return null;
    }
  }

  async function onAddForward(ev) {
    ev.preventDefault();
    const errEl = $("spec-error");
    showError(errEl, "");
    const s = state.session;
    if (!s) return;
    let f;
    try {
      f = parseForward(currentKind(), $("spec").value);
    } catch (e) {
      showError(errEl, e.message);
      $("spec").setAttribute("aria-invalid", "true");
      $("spec").focus();
      return;
    }
    $("spec").removeAttribute("aria-invalid");
    const btn = $("forward-btn");
    btn.disabled = true;
    btn.textContent = "Adding…";
    const spec = "-" + f.kind + " " + specText(f);
    try {
      const fw = await s.forward(spec);
      addForwardView(fw, f);
      $("spec").value = "";
      updatePreview();
      setStatus("ok", "Forward " + spec + " is up: entry " + (fw.entry || ""));
    } catch (e) {
      showError(errEl, spec + ": " + message(e));
      $("spec").focus();
    } finally {
      btn.disabled = false;
      btn.textContent = "Add forward";
    }
  }

  function renderSuggestions(demo) {
    const box = $("suggestions");
    const list = (demo && demo.forwards) || [];
    box.replaceChildren();
    if (!list.length) { box.hidden = true; return; }
    const label = document.createElement("span");
    label.className = "suggest-label";
    label.textContent = "Try:";
    box.append(label);
    for (const s of list) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "chip";
      b.textContent = s.spec;
      b.title = s.label || "";
      const small = document.createElement("span");
      small.className = "chip-note";
      small.textContent = s.label || "";
      b.append(small);
      b.addEventListener("click", () => {
        $("spec").value = s.spec;
        updatePreview();
        $("spec").focus();
      });
      box.append(b);
    }
    box.hidden = false;
  }

  // ---- forwards list -----------------------------------------------------

  const SVGNS = "http://www.w3.org/2000/svg";

  function svgEl(name, attrs, text) {
    const el = document.createElementNS(SVGNS, name);
    for (const k in attrs) el.setAttribute(k, attrs[k]);
    if (text !== undefined) el.textContent = text;
    return el;
  }

  // Nodes left to right: the client side, then the gateway side. -L puts
  // the entry next to the client, -R puts it next to the gateway, like the
  // usual drawings of OpenSSH forwarding.
  function diagramNodes(f, entry, t) {
    const client = { role: "client", title: "tunnelkit", sub: "this page", where: "SSH client" };
    const gateway = { role: "gateway", title: "gateway", sub: t ? hostPort(t.host, t.port) : "", where: "sshd" };
    const exit = { role: "exit", title: "exit socket", sub: hostPort(f.exitHost, f.exitPort) };
    const ent = { role: "entry", title: "entry socket", sub: entry || specText(f).split(":").slice(0, -2).join(":") };
    if (f.kind === "L") {
      ent.where = "on the relay host";
      exit.where = "opened by the gateway";
      return [ent, client, gateway, exit];
    }
    exit.where = "opened by the relay";
    ent.where = "on the gateway";
    return [exit, client, gateway, ent];
  }

  function buildDiagram(f, entry, t, vertical) {
    const nodes = diagramNodes(f, entry, t);
    const W = vertical ? 300 : 720, H = vertical ? 470 : 112;
    const nw = vertical ? 210 : 150, nh = vertical ? 72 : 82;
    const gap = vertical ? (H - 4 * nh - 8) / 3 : (W - 4 * nw - 8) / 3;
    const svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, class: "diagram " + (vertical ? "diagram-v" : "diagram-h"), role: "img" });
    const title = svgEl("title", {}, (f.kind === "L" ? "Local" : "Remote") + " forward: " + nodes.map((n) => n.title + " " + n.sub).join(", "));
    svg.append(title);
    const box = (i) => vertical
      ? { x: (W - nw) / 2, y: 4 + i * (nh + gap), w: nw, h: nh }
      : { x: 4 + i * (nw + gap), y: (H - nh) / 2, w: nw, h: nh };
    // Traffic entry -> exit ("out") runs left to right for -L, right to left for -R.
    const outForward = f.kind === "L";
    for (let i = 0; i < 3; i++) {
      const a = box(i), b = box(i + 1);
      const g = svgEl("g", { class: "link" + (i === 1 ? " link-ssh" : "") });
      if (vertical) {
        const x = W / 2, y1 = a.y + a.h + 3, y2 = b.y - 3;
        if (i === 1) g.append(svgEl("rect", { class: "pipe", x: x - 26, y: y1 - 1, width: 52, height: y2 - y1 + 2, rx: 8 }));
        g.append(arrow(x - 10, y1, x - 10, y2, outForward ? "out" : "in"));
        g.append(arrow(x + 10, y2, x + 10, y1, outForward ? "in" : "out"));
        if (i === 1) g.append(svgEl("text", { class: "pipe-label", x: x + 34, y: (y1 + y2) / 2 + 4 }, "SSH"));
      } else {
        const y = H / 2, x1 = a.x + a.w + 3, x2 = b.x - 3;
        if (i === 1) g.append(svgEl("rect", { class: "pipe", x: x1 - 1, y: y - 24, width: x2 - x1 + 2, height: 48, rx: 10 }));
        g.append(arrow(x1, y - 9, x2, y - 9, outForward ? "out" : "in"));
        g.append(arrow(x2, y + 9, x1, y + 9, outForward ? "in" : "out"));
        if (i === 1) g.append(svgEl("text", { class: "pipe-label", x: (x1 + x2) / 2, y: y - 30, "text-anchor": "middle" }, "SSH"));
      }
      svg.append(g);
    }
    nodes.forEach((n, i) => {
      const b = box(i);
      const g = svgEl("g", { class: "node node-" + n.role });
      g.append(svgEl("rect", { x: b.x, y: b.y, width: b.w, height: b.h, rx: 10 }));
      const cx = b.x + b.w / 2;
      g.append(svgEl("text", { class: "node-title", x: cx, y: b.y + 24, "text-anchor": "middle" }, n.title));
      const sub = svgEl("text", { class: "node-sub", x: cx, y: b.y + 44, "text-anchor": "middle" }, shorten(n.sub, 21));
      if (n.sub.length > 21) sub.append(svgEl("title", {}, n.sub));
      g.append(sub);
      g.append(svgEl("text", { class: "node-where", x: cx, y: b.y + 63, "text-anchor": "middle" }, n.where));
      svg.append(g);
    });
    return svg;
  }

  function arrow(x1, y1, x2, y2, dir) {
    const g = svgEl("g", { class: "arrow arrow-" + dir });
    const len = Math.hypot(x2 - x1, y2 - y1), ux = (x2 - x1) / len, uy = (y2 - y1) / len;
    const hx = x2 - ux * 9, hy = y2 - uy * 9;
    g.append(svgEl("line", { x1, y1, x2: hx, y2: hy }));
    g.append(svgEl("polygon", { points: [x2, y2, hx - uy * 5, hy + ux * 5, hx + uy * 5, hy - ux * 5].join(" ") }));
    return g;
  }

  function relayIsLocal() {
    try {
      const h = new URL($("relay").value.trim().replace(/^ws/, "http")).hostname;
      return h === "localhost" || h === "[::1]" || /^127\./.test(h);
    } catch (_) {
      return false;
    }
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function copyButton(getText, label) {
    const b = el("button", "copy", "Copy");
    b.type = "button";
    b.setAttribute("aria-label", label);
    b.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(getText());
        b.textContent = "Copied";
      } catch (_) {
        b.textContent = "Select and copy";
      }
      setTimeout(() => { b.textContent = "Copy"; }, 1500);
    });
    return b;
  }

  function addForwardView(fw, parsed) {
    const id = state.nextId++;
    let f = parsed;
    try { if (fw.spec) f = parseForward(parsed.kind, String(fw.spec)); } catch (_) { /* keep ours */ }
    const entry = String(fw.entry || "");
    const command = String(fw.command || sshCommand(f, state.target));
    const li = el("li", "forward");
    li.dataset.id = String(id);
    li.dataset.kind = f.kind;
    li.dataset.entry = entry;
    const headId = "fw-" + id + "-title";
    li.setAttribute("aria-labelledby", headId);

    const head = el("div", "forward-head");
    const h3 = el("h3", "forward-title");
    h3.id = headId;
    h3.append(el("span", "badge badge-" + f.kind, "-" + f.kind), el("code", "", specText(f)));
    const closeBtn = el("button", "secondary small", "Close");
    closeBtn.type = "button";
    closeBtn.setAttribute("aria-label", "Close forward -" + f.kind + " " + specText(f));
    head.append(h3, closeBtn);

    const facts = el("dl", "facts");
    const addFact = (label, node) => {
      const d = el("div", "fact");
      d.append(el("dt", "", label));
      const dd = el("dd");
      dd.append(node);
      d.append(dd);
      facts.append(d);
      return dd;
    };
    const entryCode = el("code", "entry", entry || "(pending)");
    const entryDD = addFact(f.kind === "L" ? "Entry socket (relay host)" : "Entry socket (gateway)", entryCode);
    if (f.kind === "L" && entry && relayIsLocal()) {
      // The entry lives on the relay host: this browser reaches it only when
      // that is this machine. A wildcard bind is reached on loopback.
      const url = "http://" + entry.replace(/^0\.0\.0\.0:/, "127.0.0.1:").replace(/^\[::\]:/, "[::1]:") + "/";
      const a = el("a", "open-link", "open as " + url);
      a.href = url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      entryDD.append(" ", a);
    }
    addFact("Exit socket", el("code", "", hostPort(f.exitHost, f.exitPort)));
    const cmdWrap = el("span", "cmd");
    cmdWrap.append(el("code", "command", command), copyButton(() => command, "Copy the ssh command"));
    addFact("Same with OpenSSH", cmdWrap);

    const stats = el("div", "stats");
    const stat = (label, cls) => {
      const s = el("div", "stat " + cls);
      const v = el("span", "stat-value", "0");
      s.append(v, el("span", "stat-label", label));
      stats.append(s);
      return v;
    };
    const v = {
      id, fw, li, f, entry,
      active: stat("active", "stat-active"),
      conns: stat("connections", "stat-conns"),
      out: stat("entry → exit", "stat-out"),
      in: stat("exit → entry", "stat-in"),
      last: { bytesIn: 0, bytesOut: 0 },
      errEl: null, actEl: null,
    };
    v.active.parentElement.setAttribute("data-stat", "active");
    v.conns.parentElement.setAttribute("data-stat", "connections");
    v.out.parentElement.setAttribute("data-stat", "bytesOut");
    v.in.parentElement.setAttribute("data-stat", "bytesIn");
    v.out.textContent = formatBytes(0);
    v.in.textContent = formatBytes(0);

    const figure = el("figure", "diagram-wrap");
    v.svgs = [buildDiagram(f, entry, state.target, false), buildDiagram(f, entry, state.target, true)];
    figure.append(...v.svgs);

    v.actEl = el("p", "activity");
    v.actEl.setAttribute("aria-live", "polite");
    v.errEl = el("p", "error");
    v.errEl.setAttribute("role", "alert");
    v.errEl.hidden = true;

    li.append(head, figure, stats, facts, v.actEl, v.errEl);
    closeBtn.addEventListener("click", () => closeForward(v, closeBtn));
    state.forwards.set(id, v);
    $("forwards").prepend(li);
    updateCount();
    // endpoint hook: endpoint.js adds "Open in browser", console and share actions to the forward.
    document.dispatchEvent(new CustomEvent("tunnelkit:forward", { detail: { forward: fw, spec: f, element: li } }));
  }

  async function closeForward(v, btn) {
    btn.disabled = true;
    btn.textContent = "Closing…";
    try {
      await v.fw.close();
      v.li.remove();
      state.forwards.delete(v.id);
      updateCount();
      setStatus("ok", "Closed forward -" + v.f.kind + " " + specText(v.f));
      $("spec").focus();
    } catch (e) {
      showError(v.errEl, "Could not close: " + message(e));
      btn.disabled = false;
      btn.textContent = "Close";
    }
  }

  function updateCount() {
    $("forward-count").textContent = String(state.forwards.size);
    $("forwards-empty").hidden = state.forwards.size > 0;
  }

  async function poll() {
    for (const v of state.forwards.values()) {
      let st;
      try { st = await Promise.resolve(v.fw.stats()); } catch (_) { continue; }
      if (!st) continue;
      const bin = Number(st.bytesIn) || 0, bout = Number(st.bytesOut) || 0;
      v.active.textContent = String(st.active || 0);
      v.conns.textContent = String(st.connections || 0);
      v.out.textContent = formatBytes(bout);
      v.in.textContent = formatBytes(bin);
      v.li.dataset.bytesIn = String(bin);
      v.li.dataset.bytesOut = String(bout);
      v.li.dataset.connections = String(st.connections || 0);
      const flowOut = bout > v.last.bytesOut, flowIn = bin > v.last.bytesIn;
      v.last = { bytesIn: bin, bytesOut: bout };
      for (const svg of v.svgs) {
        svg.classList.toggle("flow-out", flowOut);
        svg.classList.toggle("flow-in", flowIn);
        svg.classList.toggle("has-active", (st.active || 0) > 0);
      }
    }
  }

  // ---- events from the Go client ----------------------------------------

  function findView(ev) {
    const entry = ev.entry || "";
    for (const v of state.forwards.values()) if (entry && v.entry === entry) return v;
    const spec = String(ev.forward || ev.spec || "");
    for (const v of state.forwards.values()) {
      try {
        const p = parseForward(v.f.kind, spec);
        if (specText(p) === specText(v.f) && p.kind === v.f.kind) return v;
      } catch (_) { /* not a spec */ }
    }
    return null;
  }

  function onEvent(ev) {
    if (!ev) return;
    const kind = ev.kind || ev.type || "";
    const err = ev.error || ev.err || "";
    const v = findView(ev);
    if (!v) {
      if (err && state.session) showError($("session-error"), message(err));
      return;
    }
    const who = ev.remote ? " from " + ev.remote : "";
    const n = ev.conn ? "#" + ev.conn : "";
    if (kind === "opened") v.actEl.textContent = "Connection " + n + who + " opened.";
    else if (kind === "closed") v.actEl.textContent = "Connection " + n + who + " closed after " + formatBytes(ev.bytesOut) + " out, " + formatBytes(ev.bytesIn) + " back.";
    else if (kind === "forward-down") {
      v.li.classList.add("down");
      showError(v.errEl, "This forward stopped" + (err ? ": " + message(err) : "."));
    }
    if (kind === "error" && err) showError(v.errEl, "Connection " + n + who + " failed: " + message(err));
  }

  // ---- start-up ----------------------------------------------------------

  async function loadDemo() {
    try {
      const resp = await fetch("demo.json", { cache: "no-store" });
      if (!resp.ok) return;
      const d = await resp.json();
      if (d.host && !$("host").value) $("host").value = d.host;
      if (d.port) $("port").value = String(d.port);
      if (d.user && !$("user").value) $("user").value = d.user;
      if (d.relay) $("relay").value = d.relay;
      renderSuggestions(d);
      if (d.note) $("connect-title").nextElementSibling.textContent = d.note;
    } catch (_) { /* not the demo */ }
  }

  function init() {
    $("relay").value = defaultRelay();
    for (const r of document.querySelectorAll("input[name=auth]")) {
      r.addEventListener("change", () => {
        const useKey = $("auth-key").checked;
        for (const f of document.querySelectorAll("[data-auth]")) f.hidden = f.dataset.auth !== (useKey ? "key" : "password");
      });
    }
    $("connect-form").addEventListener("submit", onConnect);
    $("forward-form").addEventListener("submit", onAddForward);
    $("disconnect-btn").addEventListener("click", onDisconnect);
    $("spec").addEventListener("input", () => {
      showError($("spec-error"), "");
      $("spec").removeAttribute("aria-invalid");
      updatePreview();
    });
    for (const r of document.querySelectorAll("input[name=kind]")) {
      r.addEventListener("change", () => {
        // The selector wins over a flag typed in the box.
        const spec = $("spec");
        spec.value = spec.value.replace(/^\s*-?[LR]\s*(?=[\d[*:]|\s)/, "").trimStart();
        updatePreview();
      });
    }
    updatePreview();
    loadDemo();
    setStatus("loading", "Loading the SSH client…");
    const tk = window.tunnelkit;
    if (!tk || !tk.ready) {
      failLoad(new Error("The SSH client loader did not run. Run make build, then restart tunnelkit."));
      return;
    }
    tk.ready.then(() => {
      $("connect-btn").disabled = false;
      setStatus("idle", "Ready: not connected");
    }, failLoad);
  }

  function failLoad(e) {
    const b = $("load-error");
    b.textContent = message(e);
    b.hidden = false;
    setStatus("error", "SSH client unavailable");
  }

  init();
})();
