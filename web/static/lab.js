// The training lab page (/lab): the seed's six scenarios run by the page
// acting as the lab's hosts, drawn on the topology as they happen.

import { scenarios, sshCommand, ncCommand, derive, setupSteps, route, bindWords } from "./lab.scenarios.js";
import { createTopology } from "./lab.topology.js";
import { createSessions } from "./lab.sessions.js";
import { nc } from "./lab.console.js";
import { fetchState, setGateway, resetLab } from "./lab.api.js";
import { readHash, writeHash } from "./lab.share.js";

const $ = (sel, root = document) => root.querySelector(sel);
const make = (tag, props = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "dataset") Object.assign(e.dataset, v);
    else if (k in e) e[k] = v;
    else e.setAttribute(k, v);
  }
  e.append(...kids);
  return e;
};

let state = null;
let selected = null;
let busy = false;
let ready = null; // Promise of window.tunnelkit, once the SSH client has loaded
const topo = createTopology($("#topology"));
const sessions = createSessions(() => state);

const derived = () => sessions.list().map((fw) => derive(state, fw));
const redraw = (active = [], refused = false) => state && topo.render(state, derived(), active, refused);

// ---- steps: what happens, one sentence each ----

function clearSteps() {
  $("#steps").replaceChildren();
  $("#steps-head").textContent = "";
}
function say(text, kind = "step") {
  if (kind === "title") {
    $("#steps-head").textContent = text;
    return null;
  }
  const li = make("li", { className: "step-" + kind }, text);
  $("#steps").append(li);
  return li;
}

function setStatus(text, st = "ready") {
  const s = $("#lab-status");
  s.textContent = text;
  s.dataset.state = st;
}

async function refresh() {
  state = await fetchState();
  renderGateways();
  renderSockets();
  renderForwards();
  redraw();
}

// ---- scenarios ----

function renderScenarios() {
  const list = $("#scenario-list");
  scenarios.forEach((sc, i) => {
    // Only the commands are text here (one a line); where each runs is
    // drawn by CSS from data-host.
    const cmds = make("pre", { className: "command", dataset: { command: sc.id, host: sc.commands.map((c) => c.host).join(" ") } });
    sc.commands.forEach((c, j) => {
      if (j) cmds.append("\n");
      cmds.append(make("code", { dataset: { host: c.host }, title: "run on " + c.host }, sshCommand(c)));
    });
    const runBtn = make("button", { type: "button", className: "run", dataset: { run: sc.id }, "aria-keyshortcuts": String(i + 1) }, "Run " + sc.id);
    runBtn.addEventListener("click", () => runScenario(sc.id));
    const card = make("li", { className: "scenario", id: "scenario-" + sc.id, dataset: { scenario: sc.id } },
      make("div", { className: "scenario-head" },
        make("span", { className: "badge badge-" + sc.id[0] }, sc.id),
        make("h3", {}, sc.title),
        runBtn),
      cmds,
      make("p", { className: "sr-only" }, sc.commands.map((c) => `On ${c.host}: ${sshCommand(c)}.`).join(" ")),
      make("p", { className: "test" }, "Test on ", make("strong", {}, sc.test.from), ": ",
        make("code", { dataset: { test: sc.id } }, ncCommand(sc.test.target)), " → ",
        make("output", { className: "result", dataset: { result: sc.id }, "aria-live": "polite" })),
      make("p", { className: "bound", dataset: { bound: sc.id } }),
      make("p", { className: "lesson" }, sc.lesson));
    card.addEventListener("focusin", () => select(sc.id, false));
    list.append(card);
  });
}

function select(id, focus = true) {
  selected = id;
  for (const c of document.querySelectorAll(".scenario")) c.classList.toggle("selected", c.dataset.scenario === id);
  if (focus) $(`[data-run="${id}"]`).focus();
  share();
}

function setResult(el, text, st) {
  el.textContent = text;
  el.dataset.state = st;
}

async function runScenario(id) {
  const sc = scenarios.find((s) => s.id === id);
  if (!sc || busy) return;
  busy = true;
  select(id, false);
  const result = $(`[data-result="${id}"]`);
  const bound = $(`[data-bound="${id}"]`);
  setResult(result, "running…", "running");
  bound.textContent = "";
  document.body.classList.add("busy");
  clearSteps();
  say(`${sc.id}: ${sc.title}.`, "title");
  try {
    await ready;
    say("The page first closes the forwards of the scenario before, so their entry sockets are free.", "note");
    await sessions.closeWhere((fw) => fw.origin !== "free");
    await refresh();
    const opened = [];
    for (const c of sc.commands) {
      say(`On ${c.host}: ${sshCommand(c)}`, "cmd");
      const fw = await sessions.open(sc.id, c.host, c.gateway, c.forward);
      await refresh();
      const d = derive(state, fw);
      opened.push(d);
      for (const s of setupSteps(state, d)) say(s);
    }
    bound.textContent = "Entry socket" + (opened.length > 1 ? "s" : "") + ": " +
      opened.map((d) => `${d.sock ? d.sock.addr : "?"} on ${d.entryHost} (${bindWords(d.sock, d.entryHost)})`).join("; ");
    const reply = await testFrom(sc.test.from, sc.test.target, "hello");
    setResult(result, reply, reply.startsWith("ACK ") ? "ok" : "error");
  } catch (e) {
    setResult(result, "failed: " + e.message, "error");
    say(e.message, "error");
  } finally {
    busy = false;
    document.body.classList.remove("busy");
    renderForwards();
    share();
  }
}

// testFrom is `nc` on host from: it draws the way the bytes go, sends line
// and resolves with the answer, or rejects with why it failed.
async function testFrom(from, target, line) {
  const r = route(state, derived(), from, target);
  say(`On ${from}: ${ncCommand(target)}, then type "${line}"`, "cmd");
  redraw(r.hops, !r.ok);
  const steps = r.steps.map((s) => say(s.text, "pending"));
  // Each sentence appears as the bytes reach its hop.
  const reveal = (i) => r.steps.forEach((s, k) => { if (s.hop <= i) steps[k].className = "step-step"; });
  let reply, err;
  const going = topo.travel(r.hops, false, reveal);
  try {
    reply = await nc(from, target, line);
  } catch (e) {
    err = e;
  }
  await going;
  if (err) {
    redraw(r.hops, true);
    topo.hidePacket();
    steps.forEach((li) => { li.className = "step-step"; });
    if (r.ok) say(`The lab's sockets let this connection through, so the refusal came later: the gateway's PermitOpen, or an exit socket nobody listens on.`, "note");
    throw new Error(`${from}: ${ncCommand(target)}: ${err.message}`);
  }
  steps.forEach((li) => { li.className = "step-step"; });
  await topo.travel(r.hops, true);
  topo.hidePacket();
  say(`${from} reads "${reply}".`, "done");
  return reply;
}

// ---- gateways: GatewayPorts and PermitOpen ----

function renderGateways() {
  for (const [name, gw] of Object.entries(state.gateways)) {
    for (const input of document.querySelectorAll(`input[data-gatewayports="${name}"]`)) input.checked = input.value === gw.gatewayPorts;
    const po = $(`input[data-permitopen="${name}"]`);
    if (po && document.activeElement !== po) po.value = gw.permitOpen.join(" ");
  }
}

function wireGateways() {
  for (const input of document.querySelectorAll("input[data-gatewayports]")) {
    input.addEventListener("change", async () => {
      const gw = input.dataset.gatewayports;
      try {
        await setGateway(gw, { gatewayPorts: input.value });
        await refresh();
        const what = {
          no: "loopback only, whatever the client asks",
          yes: "every address, whatever the client asks",
          clientspecified: "the address the client asks for (none or * means every address, localhost loopback)",
        }[input.value];
        say(`GatewayPorts on ${gw} is now ${input.value}: the entry sockets of -R forwards asked from now on bind ${what}. Forwards already open keep their entry socket; run the scenario again.`, "note");
        share();
      } catch (e) {
        say(e.message, "error");
      }
    });
  }
  for (const form of document.querySelectorAll("form[data-permitopen-form]")) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const gw = form.dataset.permitopenForm;
      const value = $("input[data-permitopen]", form).value;
      try {
        await setGateway(gw, { permitOpen: value });
        await refresh();
        say(`PermitOpen on ${gw} is now "${value}": -L connections the gateway opens from now on may reach ${value === "any" ? "any exit socket" : value === "none" ? "no exit socket" : value}.`, "note");
      } catch (e) {
        say(e.message, "error");
      }
    });
  }
}

// ---- sockets and forwards ----

function renderSockets() {
  const body = $("#sockets tbody");
  body.replaceChildren(...state.sockets.map((s) => make("tr", { dataset: { host: s.host, addr: s.addr } },
    make("td", {}, s.host), make("td", {}, make("code", {}, s.addr)), make("td", {}, s.bind),
    make("td", {}, { ssh: "ssh (entry socket of -L)", sshd: s.port === 22 ? "sshd" : "sshd (entry socket of -R)", pinger: "pinger" }[s.tag] || s.tag))));
}

function renderForwards() {
  const list = $("#forward-list");
  const fws = sessions.list();
  shownForwards = fws.length;
  $("#forwards-empty").hidden = fws.length > 0;
  list.replaceChildren(...fws.map((fw) => {
    const st = safeStats(fw);
    const close = make("button", { type: "button", className: "small" }, "Close");
    close.addEventListener("click", async () => {
      await sessions.close(fw);
      await refresh();
      share();
    });
    return make("li", { dataset: { forward: fw.id } },
      make("span", { className: "badge badge-" + fw.kind }, fw.origin === "free" ? "free" : fw.origin),
      make("code", {}, `${fw.host}$ ${sshCommand({ forward: fw.text, gateway: fw.gateway })}`),
      make("span", { className: "bytes", dataset: { bytes: fw.id } }, bytesText(st)),
      close);
  }));
}

const safeStats = (fw) => { try { return fw.f.stats(); } catch { return null; } };
const bytesText = (st) => st ? `${st.connections} conn · ${st.bytesOut} B out · ${st.bytesIn} B in` : "";

let shownForwards = 0;
function tickBytes() {
  const fws = sessions.list();
  if (fws.length !== shownForwards) {
    // A session ended on its own (another tab's reset, the demo stopping).
    renderForwards();
    if (state) refresh().catch(() => {});
  }
  for (const fw of fws) {
    const el = $(`[data-bytes="${fw.id}"]`);
    if (el) el.textContent = bytesText(safeStats(fw));
  }
}

// ---- free mode: any ssh -L / -R on any host ----

// splitCommand takes the forwards and the gateway out of a typed ssh
// command line; the forward specs themselves are Go's to parse.
function splitCommand(text) {
  const toks = text.trim().split(/\s+/).filter(Boolean);
  if (toks[0] === "ssh") toks.shift();
  const forwards = [];
  let gateway = null;
  const withArg = new Set(["-p", "-l", "-o", "-i", "-J", "-F", "-b", "-c", "-m", "-E"]);
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i];
    const m = /^-([LR])(.*)$/.exec(t);
    if (m) {
      const spec = m[2] || toks[++i];
      if (!spec) throw new Error(`-${m[1]} needs a forward, e.g. -${m[1]} 8888:host3:4444`);
      forwards.push(`-${m[1]} ${spec}`);
    } else if (withArg.has(t)) {
      i++;
    } else if (/^-[NfTqvnC]+$/.test(t)) {
      // no remote command, background, no tty...: nothing for the page to do
    } else if (t.startsWith("-")) {
      throw new Error(`${t}: the lab runs -L and -R forwards (with -N); leave out ${t}`);
    } else {
      gateway = t.includes("@") ? t.slice(t.indexOf("@") + 1) : t;
    }
  }
  if (!forwards.length) throw new Error("type a forward: ssh -N -L [entry address:]entry port:exit host:exit port dev@gateway1 (or -R)");
  return { forwards, gateway };
}

async function openFree(host, text, gatewayDefault) {
  const { forwards, gateway } = splitCommand(text);
  const gw = gateway || gatewayDefault;
  const out = [];
  for (const f of forwards) {
    if (typeof tunnelkit.parseForward === "function") {
      const info = tunnelkit.parseForward(f);
      if (info && info.explanation) say(info.explanation, "note");
    }
    say(`On ${host}: ${sshCommand({ forward: f, gateway: gw })}`, "cmd");
    const fw = await sessions.open("free", host, gw, f);
    await refresh();
    for (const s of setupSteps(state, derive(state, fw))) say(s);
    out.push(fw);
  }
  return out;
}

function wireFree() {
  const hosts = state.hosts.map((h) => h.name);
  for (const sel of document.querySelectorAll("select[data-hosts]")) {
    sel.replaceChildren(...hosts.map((h) => make("option", { value: h }, h)));
    if (sel.dataset.hosts) sel.value = sel.dataset.hosts;
  }
  $("#free-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = $("#free-result");
    const host = $("#free-host").value;
    setResult(out, "opening…", "running");
    clearSteps();
    try {
      await ready;
      const fws = await openFree(host, $("#free-command").value, $("#free-gateway").value);
      setResult(out, fws.map((fw) => `${fw.spec}: entry socket ${fw.entry}`).join("; "), "ok");
      $("#free-command").value = "";
      renderForwards();
      share();
    } catch (e) {
      setResult(out, "failed: " + e.message, "error");
      say(e.message, "error");
    }
  });
  $("#console-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (busy) return;
    busy = true;
    const out = $("#console-result");
    setResult(out, "sending…", "running");
    clearSteps();
    try {
      const target = $("#console-target").value.trim();
      if (!/^[A-Za-z0-9.-]+:\d{1,5}$/.test(target)) throw new Error(`connect to "${target}": type HOST:PORT, e.g. host2:8888 or localhost:8888`);
      await ready;
      await refresh();
      const reply = await testFrom($("#console-from").value, target, $("#console-line").value || "hello");
      setResult(out, reply, "ok");
    } catch (e) {
      setResult(out, "failed: " + e.message, "error");
      say(e.message, "error");
    } finally {
      busy = false;
      share();
    }
  });
}

// ---- reset, share, large mode, keys ----

async function reset() {
  clearSteps();
  say("Reset: the page closes every SSH session; the gateways drop their forwards and get their default settings back.", "note");
  await sessions.closeAll();
  await resetLab();
  for (const el of document.querySelectorAll("[data-result], [data-bound]")) {
    el.textContent = "";
    delete el.dataset.state;
  }
  selected = null;
  for (const c of document.querySelectorAll(".scenario")) c.classList.remove("selected");
  await refresh();
  share();
}

function setLarge(on) {
  document.body.classList.toggle("large", on);
  document.documentElement.classList.toggle("large", on); // rem units grow too
  $("#large").setAttribute("aria-pressed", String(on));
  share();
}

function share() {
  if (!state) return;
  const link = writeHash({
    scenario: selected,
    large: document.body.classList.contains("large"),
    gatewayPorts: Object.fromEntries(Object.entries(state.gateways).map(([k, v]) => [k, v.gatewayPorts])),
    forwards: sessions.list().filter((fw) => fw.origin === "free").map((fw) => ({ host: fw.host, gateway: fw.gateway, forward: fw.text })),
    from: $("#console-from").value, target: $("#console-target").value,
  });
  $("#share-link").value = link;
}

async function restore() {
  const h = readHash();
  if (h.large) setLarge(true);
  if (h.from) $("#console-from").value = h.from;
  if (h.target) $("#console-target").value = h.target;
  for (const [gw, mode] of Object.entries(h.gatewayPorts || {})) {
    if (state.gateways[gw] && state.gateways[gw].gatewayPorts !== mode) {
      try { await setGateway(gw, { gatewayPorts: mode }); } catch (e) { say(e.message, "error"); }
    }
  }
  if (h.scenario && scenarios.some((s) => s.id === h.scenario)) select(h.scenario, false);
  if (h.forwards && h.forwards.length) {
    await ready;
    say("Opening the forwards of the shared link.", "note");
    for (const f of h.forwards) {
      try { await openFree(f.host, `ssh -N ${f.forward} dev@${f.gateway}`, f.gateway); } catch (e) { say(e.message, "error"); }
    }
  }
  await refresh();
  renderForwards();
  share();
}

function wireKeys() {
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.target.closest("input, select, textarea")) return;
    const n = Number(ev.key);
    if (n >= 1 && n <= scenarios.length) {
      select(scenarios[n - 1].id);
      ev.preventDefault();
    } else if (ev.key === "r" && selected) {
      runScenario(selected);
      ev.preventDefault();
    } else if (ev.key === "p") {
      setLarge(!document.body.classList.contains("large"));
      ev.preventDefault();
    } else if (ev.key === "f") {
      $("#free-command").focus();
      ev.preventDefault();
    }
  });
}

async function main() {
  renderScenarios();
  wireKeys();
  $("#large").addEventListener("click", () => setLarge(!document.body.classList.contains("large")));
  $("#reset").addEventListener("click", () => reset().catch((e) => say(e.message, "error")));
  $("#share").addEventListener("click", async () => {
    share();
    try {
      await navigator.clipboard.writeText($("#share-link").value);
      $("#share-note").textContent = "Link copied: it holds the scenario, the forwards and the settings, never the password.";
    } catch {
      $("#share-link").select();
      $("#share-note").textContent = "Copy the link above: it holds the scenario, the forwards and the settings, never the password.";
    }
  });
  ready = window.tunnelkit.ready.then(() => window.tunnelkit);
  ready.then(() => setStatus("Ready: pick a scenario and press Run (keys 1–6, then R).", "ready"),
    (e) => { setStatus("The SSH client did not load", "error"); showError(e.message); });
  ready.catch(() => {});
  try {
    await refresh();
  } catch (e) {
    showError(e.message);
    return;
  }
  wireGateways();
  wireFree();
  setInterval(tickBytes, 1000);
  await restore();
}

function showError(text) {
  const b = $("#lab-error");
  b.textContent = text;
  b.hidden = false;
}

main();
