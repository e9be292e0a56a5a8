// The list of running forwards: one compact row each (kind, entry -> exit,
// state, live rate, connections) that expands to the full card with the
// diagram, counters, sparkline, open connections and recent events.
import { $, el, svgEl, formatBytes, formatRate, formatAge, hostPort, copyButton, setStatus, message } from "./dom.js";
import { state } from "./state.js";
import { pathOf, chainPath, buildDiagram, sparkline } from "./diagram.js";
import { eventWords, sentence } from "./words.js";

const POLL_MS = 500;
const SAMPLES = 30; // sparkline: the last 15 s
const EVENTS_SHOWN = 5;
const CLOSED_SHOWN = 3;
let timer = 0;

// webExits are exits the demo names as web servers: their link shows at
// once. Other -L exits are asked with a HEAD through the session
// (probeHTTP). httpVerdicts keeps, per exit and for this session only (another
// gateway may reach another host by the same name), a probe in flight or a
// yes; a no is asked again for the next forward, the server may have started.
const webExits = new Set();
const httpVerdicts = new Map();
let verdictsOf = null; // the session httpVerdicts belong to
const PROBE_MS = 3000;
const PROBE_BYTES = 64;
export function markWebExit(exit) { webExits.add(exit); }

// speaksHTTP answers with a Promise of a boolean: the demo's hint, or the exit's own reply.
function speaksHTTP(f) {
  if (webExits.has(f.exit)) return Promise.resolve(true);
  if (verdictsOf !== state.session) { httpVerdicts.clear(); verdictsOf = state.session; }
  let verdict = httpVerdicts.get(f.exit);
  if (!verdict) {
    verdict = probeHTTP(state.session, f.exitHost, f.exitPort, f.exit);
    httpVerdicts.set(f.exit, verdict);
    verdict.then((yes) => { if (!yes && httpVerdicts.get(f.exit) === verdict) httpVerdicts.delete(f.exit); });
  }
  return verdict;
}

// probeHTTP opens the exit through the gateway, sends a HEAD and reads at
// most PROBE_BYTES for at most PROBE_MS: an exit that answers "HTTP/" speaks
// HTTP. Anything else (silence, another protocol, a refusal) is a no.
async function probeHTTP(s, host, port, exit) {
  if (!s || typeof s.openTCP !== "function" || !host || !port) return false;
  let sock = null, timer = 0;
  const talk = (async () => {
    sock = s.openTCP(host, port);
    const info = await sock.opened;
    const w = info.writable.getWriter();
    await w.write(new TextEncoder().encode("HEAD / HTTP/1.0\r\nHost: " + exit + "\r\n\r\n"));
    w.releaseLock();
    const r = info.readable.getReader();
    const dec = new TextDecoder();
    let got = "";
    while (got.length < 5) {
      const { value, done } = await r.read();
      if (done) break;
      got += dec.decode(value.subarray(0, PROBE_BYTES - got.length), { stream: true });
      if (got.length >= PROBE_BYTES) break;
    }
    return got.startsWith("HTTP/");
  })().catch(() => false);
  const late = new Promise((resolve) => { timer = setTimeout(() => resolve(false), PROBE_MS); });
  try {
    return await Promise.race([talk, late]);
  } finally {
    clearTimeout(timer);
    if (sock) Promise.resolve().then(() => sock.close()).catch(() => {});
  }
}

// offerLink adds "open as http://ENTRY/" to dd once the exit is known to speak HTTP.
function offerLink(v, f, entry, dd) {
  // The entry lives on the relay host: this browser reaches it only when
  // that is this machine. A wildcard bind is reached on loopback.
  const url = "http://" + entry.replace(/^0\.0\.0\.0:/, "127.0.0.1:").replace(/^\[::\]:/, "[::1]:") + "/";
  v.li.dataset.http = "probing";
  speaksHTTP(f).then((yes) => {
    v.li.dataset.http = yes ? "yes" : "no";
    if (!yes) return;
    const a = el("a", "open-link", "open as " + url);
    a.href = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    dd.append(" ", a);
  });
}

function relayIsLocal() {
  try {
    const h = new URL((state.target && state.target.relay || "").replace(/^ws/, "http")).hostname;
    return h === "localhost" || h === "[::1]" || /^127\./.test(h);
  } catch (_) {
    return false;
  }
}

// socketKey makes "localhost:80" and "127.0.0.1:80" the same socket.
function socketKey(s) {
  return String(s || "").replace(/^localhost:/, "127.0.0.1:").replace(/^\[::1\]:/, "127.0.0.1:");
}

// socksAddress is the address a SOCKS client on the relay host uses for
// entry: a wildcard bind is reached on loopback.
function socksAddress(entry) {
  return entry.replace(/^0\.0\.0\.0:/, "127.0.0.1:").replace(/^\[::\]:/, "[::1]:").replace(/^localhost:/, "127.0.0.1:");
}

// addSocksHelp says what to point at a -D entry: a browser's or curl's
// SOCKS5 proxy setting, with a curl line to copy.
function addSocksHelp(body, entry, addFact) {
  const at = socksAddress(entry || "127.0.0.1:PORT");
  const how = el("span", "socks-help");
  how.append("Set your browser's or curl's SOCKS5 proxy to ", el("code", "socks-addr", at),
    "; host names are resolved by the gateway" + (relayIsLocal() ? "." : ". The proxy listens on the relay host, so point programs there at it."));
  addFact("Use it", how);
  const curl = "curl --socks5-hostname " + at + " http://…";
  const line = el("span", "cmd");
  line.append(el("code", "command socks-curl", curl), copyButton(() => curl, "Copy the curl command"));
  addFact("Try it with curl", line);
}

// addForwardView shows fw (from s.forward), parsed as f (tunnelkit.parseForward).
export function addForwardView(fw, f) {
  const id = state.nextId++;
  const entry = String(fw.entry || "");
  const command = String(fw.command || f.command);
  const v = {
    id, fw, f, entry, state: "up", auto: true,
    last: { bytesIn: 0, bytesOut: 0, t: performance.now() },
    rates: [], open: new Map(), closedConns: [], events: [],
  };
  const li = el("li", "forward");
  v.li = li;
  li.dataset.id = String(id);
  li.dataset.kind = f.kind;
  li.dataset.entry = entry;
  li.dataset.state = "up";
  li.dataset.spec = fw.spec || f.spec;
  const headId = "fw-" + id + "-title";
  const bodyId = "fw-" + id + "-body";
  li.setAttribute("aria-labelledby", headId);

  // The row: always visible.
  const head = el("div", "forward-head");
  const closeBtn = el("button", "secondary small close-btn", "Close");
  closeBtn.type = "button";
  closeBtn.setAttribute("aria-label", "Close forward " + (fw.spec || f.spec));
  v.toggle = el("button", "row-toggle");
  v.toggle.type = "button";
  v.toggle.setAttribute("aria-controls", bodyId);
  const h3 = el("h3", "forward-title");
  h3.id = headId;
  const name = el("span", "row-name");
  name.append(el("span", "badge badge-" + f.kind, "-" + f.kind), el("code", "entry", entry || f.entry), el("span", "arrow-text", " → "),
    f.kind === "D" ? el("span", "exit exit-any", "SOCKS: any exit") : el("code", "exit", f.exit));
  v.badge = el("span", "state-badge", "up");
  v.badge.dataset.state = "up";
  v.rowRate = el("span", "row-rate", "idle");
  v.rowConns = el("span", "row-conns", "0 open");
  const summary = el("span", "row-summary");
  summary.append(v.badge, v.rowRate, v.rowConns);
  v.toggle.append(name, summary);
  h3.append(v.toggle);
  head.append(closeBtn, h3);
  // The close button comes first in the DOM for the keyboard order of a
  // row (its own actions before the details); CSS puts it on the right.

  // The card: shown when expanded.
  const body = el("div", "forward-body");
  body.id = bodyId;
  v.body = body;
  const figure = el("figure", "diagram-wrap");
  v.figure = figure;
  v.svgs = [];

  const stats = el("div", "stats");
  const stat = (label, key) => {
    const s = el("div", "stat");
    s.dataset.stat = key;
    const val = el("span", "stat-value", "0");
    s.append(val, el("span", "stat-label", label));
    stats.append(s);
    return val;
  };
  v.rate = stat("now", "rate");
  v.rate.textContent = formatRate(0);
  v.spark = svgEl("svg", { class: "spark", viewBox: "0 0 120 28", "aria-hidden": "true", preserveAspectRatio: "none" });
  v.rate.parentElement.append(v.spark);
  v.active = stat("open now", "active");
  v.conns = stat("connections", "connections");
  v.out = stat("entry → exit", "bytesOut");
  v.in = stat("exit → entry", "bytesIn");
  v.out.textContent = formatBytes(0);
  v.in.textContent = formatBytes(0);

  const facts = el("dl", "facts");
  const addFact = (label, node) => {
    const d = el("div", "fact");
    const dd = el("dd");
    dd.append(node);
    d.append(el("dt", "", label), dd);
    facts.append(d);
    return dd;
  };
  const entryDD = addFact(f.kind === "R" ? "Entry socket (gateway)" : f.kind === "D" ? "SOCKS entry socket (relay host)" : "Entry socket (relay host)", el("code", "entry-fact", entry || "(pending)"));
  if (f.kind === "L" && entry && relayIsLocal()) offerLink(v, f, entry, entryDD);
  if (f.kind === "D") {
    addFact("Exit sockets", el("span", "", "any host and port the SOCKS client asks for, opened by the gateway"));
    addSocksHelp(body, entry, addFact);
  } else {
    addFact("Exit socket", el("code", "", f.exit));
  }
  const cmdWrap = el("span", "cmd");
  cmdWrap.append(el("code", "command", command), copyButton(() => command, "Copy the ssh command"));
  addFact("Same with OpenSSH", cmdWrap);

  const connsBox = el("div", "conns");
  connsBox.append(el("h4", "", "Connections"));
  // Lists inside a card are divs with list roles: "#forwards li" stays one item per forward.
  v.connList = el("div", "conn-list");
  v.connList.setAttribute("role", "list");
  connsBox.append(v.connList);
  const evBox = el("div", "events");
  evBox.append(el("h4", "", "Recent events"));
  v.evList = el("div", "event-list");
  v.evList.setAttribute("role", "list");
  v.evList.append(item("event event-none", "Nothing yet."));
  v.evList.setAttribute("aria-live", "polite");
  evBox.append(v.evList);
  const live = el("div", "live");
  live.append(connsBox, evBox);

  v.errEl = el("p", "error forward-error");
  v.errEl.setAttribute("role", "alert");
  v.errEl.hidden = true;
  // Mount point: tools for one forward (open in browser, console, share) go here.
  v.actions = el("div", "forward-actions");
  v.actions.dataset.forwardId = String(id);

  body.append(v.errEl, figure, stats, facts, live, v.actions);
  li.append(head, body);
  closeBtn.addEventListener("click", () => closeForward(v, closeBtn));
  v.toggle.addEventListener("click", () => { v.auto = false; expand(v, body.hidden); });

  // A new forward is the one to look at: open it, fold the previous new one.
  for (const o of state.forwards.values()) if (o.auto) expand(o, false);
  state.forwards.set(id, v);
  $("forwards").prepend(li);
  expand(v, true);
  refreshChains();
  renderConns(v);
  updateCount();
  if (!timer) timer = setInterval(poll, POLL_MS);
  li.scrollIntoView({ block: "nearest", behavior: "smooth" });
  v.toggle.focus({ preventScroll: true });
  document.dispatchEvent(new CustomEvent("tunnelkit:forward-added", { detail: { id, forward: fw, parsed: f, actions: v.actions } }));
  return v;
}

function expand(v, open) {
  v.body.hidden = !open;
  v.li.classList.toggle("open", open);
  v.toggle.setAttribute("aria-expanded", String(open));
}

// setState is up, failing, reconnecting or closed, shown as the row's
// badge (label, when given, is the badge's words).
function setState(v, s, why, label) {
  if (s !== v.state && s !== "failing") { v.errEl.hidden = true; v.errEl.textContent = ""; }
  v.state = s;
  v.li.dataset.state = s;
  v.badge.dataset.state = s;
  v.badge.textContent = label || s;
  if (s === "up") { v.errEl.hidden = true; v.errEl.textContent = ""; }
  if (why) { v.errEl.textContent = why; v.errEl.hidden = false; }
}

// setForwardReconnect shows a reconnecting session's state on the forward
// spec (see reconnect.js): reconnecting, up again (on entry, which may be
// new for a -R or a port 0), down (not restored: why), closed, gave-up.
export function setForwardReconnect(spec, st, entry, error) {
  let v = null;
  for (const o of state.forwards.values()) if (o.fw.spec === spec || o.f.spec === spec) v = o;
  if (!v) return;
  if (st === "up") {
    if (entry && entry !== v.entry) setEntry(v, entry);
    if (v.state !== "up") { setState(v, "up"); logEvent(v, "Back up on " + (entry || v.entry) + ".", "opened"); }
  } else if (st === "reconnecting") {
    if (v.state !== "reconnecting") { setState(v, "reconnecting"); logEvent(v, "Waiting for the connection to come back.", "down"); }
    v.errEl.hidden = true;
    v.open.clear();
    renderConns(v);
  } else if (st === "down") {
    setState(v, "failing", "This forward did not come back" + (error ? ": " + eventWords(error, v.f) : "."));
  } else if (st === "gave-up") {
    setState(v, "closed", "This forward stopped with the session. Reconnect to bring it back.", "gave up");
  } else if (st === "closed") {
    setState(v, "closed");
  }
}

// setEntry shows the entry a restored forward is bound to now.
function setEntry(v, entry) {
  v.entry = entry;
  v.li.dataset.entry = entry;
  for (const c of v.li.querySelectorAll("code.entry, code.entry-fact")) c.textContent = entry;
  v.chainKey = "";
  refreshChains();
}

// refreshChains draws forwards whose exit is another one's entry as one path.
function refreshChains() {
  const views = [...state.forwards.values()];
  const byEntry = new Map(views.map((v) => [socketKey(v.entry), v]));
  const byExit = new Map(views.filter((v) => v.f.kind !== "D").map((v) => [socketKey(v.f.exit), v]));
  for (const v of views) {
    let first = v;
    for (let i = 0; i < views.length; i++) {
      const prev = byExit.get(socketKey(first.entry));
      if (!prev || prev === v) break;
      first = prev;
    }
    const chain = [first];
    for (let i = 0; i < views.length; i++) {
      const next = byEntry.get(socketKey(chain[chain.length - 1].f.exit));
      if (!next || chain.includes(next)) break;
      chain.push(next);
    }
    const key = chain.map((c) => c.id).join(",");
    if (v.chainKey === key && v.svgs.length) continue;
    v.chainKey = key;
    v.li.dataset.chain = chain.length > 1 ? key : "";
    const path = chain.length > 1 ? chainPath(chain, state.target) : (() => { const p = pathOf(v, state.target); return { ...p, owners: p.links.map(() => v.id) }; })();
    const label = chain.length > 1 ? "Chain of " + chain.length + " forwards" : { L: "Local forward", R: "Remote forward", D: "Dynamic forward (SOCKS proxy)" }[v.f.kind];
    v.svgs = [buildDiagram(path, false, label), buildDiagram(path, true, label)];
    v.figure.replaceChildren(...v.svgs);
    if (chain.length > 1) v.figure.append(el("figcaption", "chain-note", "One path: " + chain.map((c) => c.f.spec).join(", then ")));
  }
}

async function closeForward(v, btn) {
  btn.disabled = true;
  btn.textContent = "Closing…";
  try {
    await v.fw.close();
    v.li.remove();
    state.forwards.delete(v.id);
    refreshChains();
    updateCount();
    setStatus("ok", "Closed forward " + v.f.spec);
    $("spec").focus();
    document.dispatchEvent(new CustomEvent("tunnelkit:forwards-changed"));
  } catch (e) {
    setState(v, v.state, "Could not close this forward: " + sentence(message(e)));
    btn.disabled = false;
    btn.textContent = "Close";
  }
}

function updateCount() {
  $("forward-count").textContent = String(state.forwards.size);
  $("forwards-empty").hidden = state.forwards.size > 0;
}

// clearForwards drops every view (the session ended).
export function clearForwards() {
  for (const v of state.forwards.values()) v.li.remove();
  state.forwards.clear();
  clearInterval(timer);
  timer = 0;
  updateCount();
}

function poll() {
  const now = performance.now();
  for (const v of state.forwards.values()) {
    let st;
    try { st = v.fw.stats(); } catch (_) { continue; }
    if (!st) continue;
    const bin = Number(st.bytesIn) || 0, bout = Number(st.bytesOut) || 0;
    const dt = Math.max(0.001, (now - v.last.t) / 1000);
    const rate = (bin - v.last.bytesIn + bout - v.last.bytesOut) / dt;
    v.rates.push(rate);
    if (v.rates.length > SAMPLES) v.rates.shift();
    const active = Number(st.active) || 0;
    v.active.textContent = String(active);
    v.conns.textContent = String(st.connections || 0);
    v.out.textContent = formatBytes(bout);
    v.in.textContent = formatBytes(bin);
    v.rate.textContent = formatRate(rate);
    v.rowRate.textContent = rate > 0 ? formatRate(rate) : "idle";
    v.rowConns.textContent = active + " open";
    v.li.dataset.bytesIn = String(bin);
    v.li.dataset.bytesOut = String(bout);
    v.li.dataset.connections = String(st.connections || 0);
    v.li.dataset.rate = String(Math.round(rate));
    sparkline(v.spark, v.rates);
    const flowOut = bout > v.last.bytesOut, flowIn = bin > v.last.bytesIn;
    v.last = { bytesIn: bin, bytesOut: bout, t: now };
    for (const svg of v.svgs) {
      svg.classList.toggle("flow-out", flowOut);
      svg.classList.toggle("flow-in", flowIn);
      svg.classList.toggle("has-active", active > 0);
    }
    if (pollConns(v) || v.open.size) renderConns(v);
  }
}

// pollConns takes each open connection's live bytes from f.conns(); it adds
// a connection whose "opened" event has not arrived yet. True if any is open.
function pollConns(v) {
  if (typeof v.fw.conns !== "function") return false;
  let list;
  try { list = v.fw.conns(); } catch (_) { return false; }
  for (const c of list || []) {
    const n = Number(c.id);
    let o = v.open.get(n);
    if (!o) v.open.set(n, o = { since: Number(c.opened) || Date.now(), remote: c.remote || "" });
    o.bytesIn = Number(c.bytesIn) || 0;
    o.bytesOut = Number(c.bytesOut) || 0;
  }
  return v.open.size > 0;
}

function item(cls, text) {
  const d = el("div", cls, text);
  d.setAttribute("role", "listitem");
  return d;
}

function renderConns(v) {
  const now = Date.now();
  const items = [];
  for (const [n, c] of v.open) {
    const li = item("conn conn-open");
    li.dataset.conn = String(n);
    const age = el("span", "conn-age", "open " + formatAge(now - c.since));
    if (c.bytesIn !== undefined) {
      li.dataset.bytesIn = String(c.bytesIn);
      li.dataset.bytesOut = String(c.bytesOut);
      age.append(", ", el("span", "conn-bytes", formatBytes(c.bytesOut) + " out, " + formatBytes(c.bytesIn) + " back"));
    }
    li.append(el("span", "conn-name", "#" + n + (c.remote ? " from " + c.remote : "")), age);
    items.push(li);
  }
  for (const c of v.closedConns) {
    const li = item("conn conn-closed");
    li.append(el("span", "conn-name", "#" + c.n + (c.remote ? " from " + c.remote : "")),
      el("span", "conn-age", "closed after " + formatAge(c.age) + ": " + formatBytes(c.bytesOut) + " out, " + formatBytes(c.bytesIn) + " back"));
    items.push(li);
  }
  if (!items.length) items.push(item("conn conn-none", "No connections yet."));
  v.connList.replaceChildren(...items);
}

function logEvent(v, text, kind) {
  v.events.unshift({ text, kind, time: Date.now() });
  v.events.length = Math.min(v.events.length, EVENTS_SHOWN);
  v.evList.replaceChildren(...v.events.map((e) => {
    const li = item("event event-" + e.kind);
    const t = el("time", "", new Date(e.time).toLocaleTimeString());
    t.dateTime = new Date(e.time).toISOString();
    li.append(t, " ", e.text);
    return li;
  }));
}

function findView(ev) {
  const entry = ev.entry || "";
  for (const v of state.forwards.values()) if (entry && v.entry === entry) return v;
  const spec = String(ev.forward || "");
  for (const v of state.forwards.values()) if (spec && (v.fw.spec === spec || v.f.spec === spec)) return v;
  return null;
}

// onEvent takes the Go client's events; it returns false for those that
// belong to no forward on the page.
export function onForwardEvent(ev) {
  const v = findView(ev);
  if (!v) return false;
  const kind = ev.kind || "";
  const err = ev.error || "";
  const n = ev.conn || 0;
  const who = ev.remote ? " from " + ev.remote : "";
  if (kind === "opened") {
    v.open.set(n, { since: ev.time || Date.now(), remote: ev.remote || "" });
    logEvent(v, "Connection #" + n + who + " opened.", "opened");
    if (v.state === "failing") setState(v, "up");
  } else if (kind === "closed") {
    const c = v.open.get(n);
    v.open.delete(n);
    v.closedConns.unshift({ n, remote: ev.remote || "", age: c ? (ev.time || Date.now()) - c.since : 0, bytesIn: ev.bytesIn, bytesOut: ev.bytesOut });
    v.closedConns.length = Math.min(v.closedConns.length, CLOSED_SHOWN);
    logEvent(v, "Connection #" + n + who + " closed after " + formatBytes(ev.bytesOut) + " out, " + formatBytes(ev.bytesIn) + " back.", "closed");
  } else if (kind === "forward-down") {
    // The page's sessions reconnect: a stopped forward is brought back
    // (on this connection or the next), unless the session gives up.
    // Its error is the lost connection's, told on the session.
    setState(v, "reconnecting");
    logEvent(v, "The forward stopped; tunnelkit is bringing it back.", "down");
  } else if (kind === "forward-up") {
    if (ev.entry && ev.entry !== v.entry) setEntry(v, ev.entry);
    if (v.state !== "up") { setState(v, "up"); logEvent(v, "Back up on " + v.entry + ".", "opened"); }
  } else if (kind === "error" && err) {
    v.open.delete(n);
    const words = eventWords(err, v.f);
    setState(v, "failing", "Connection #" + n + who + " failed. " + words);
    logEvent(v, "Connection #" + n + " failed: " + words, "error");
  }
  renderConns(v);
  return true;
}

// shownSpecs lists every forward on the page, for reconnecting after the
// session gave up.
export function shownSpecs() {
  return [...state.forwards.values()].map((v) => v.fw.spec || v.f.spec);
}

// liveSet lists the running forwards' specs, for restore after a reload.
export function liveSet() {
  return [...state.forwards.values()].filter((v) => v.state !== "closed").map((v) => v.fw.spec || v.f.spec);
}
