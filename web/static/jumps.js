// Jump hosts (ssh -J) in the connect form: one row per hop, first hop
// first, each with its own host, port, user and password or private key.
// The relay reaches only the first hop; every hop's host key is asked for
// on its own (connect.js passes onHostKey the hop's host:port).
//
// Field names repeat per hop (name="jump-host", "jump-port", "jump-user",
// "jump-password", "jump-passphrase"): scripts and password managers find
// them by name; ids carry a per-row number for labels and errors.
import { $, el, showFieldError, markField, hostPort } from "./dom.js";

let nextRow = 1;

function field(row, key, label, attrs, span) {
  const id = "jump-" + row + "-" + key;
  const wrap = el("div", "field" + (span ? " span-2" : "") + (key === "port" ? " field-port" : ""));
  const lab = el("label", "", label);
  lab.htmlFor = id;
  const input = el("input");
  input.id = id;
  for (const [k, v] of Object.entries(attrs)) input.setAttribute(k, v);
  const err = el("p", "field-error");
  err.id = id + "-error";
  err.hidden = true;
  input.setAttribute("aria-describedby", (attrs["aria-describedby"] ? attrs["aria-describedby"] + " " : "") + err.id);
  input.addEventListener("input", () => { showFieldError(id, ""); markField(id, null); });
  wrap.append(lab, input, err);
  return wrap;
}

function renumber() {
  const rows = [...$("jump-list").children];
  rows.forEach((li, i) => {
    li.querySelector("legend").textContent = "Jump host " + (i + 1) + (i === 0 && rows.length > 1 ? " (first hop)" : "");
    li.querySelector(".jump-remove").setAttribute("aria-label", "Remove jump host " + (i + 1));
  });
  $("jump-add").textContent = rows.length ? "Add another jump host" : "Add a jump host";
  $("jump-help").hidden = !rows.length; // the legend says enough until a hop is added
}

// addHop appends a row (values prefilled from hop, never secrets) and
// returns its number.
export function addHop(hop, focus) {
  const row = nextRow++;
  const li = el("li", "jump");
  li.dataset.row = String(row);
  const fs = el("fieldset", "jump-hop");
  fs.append(el("legend"));
  const grid = el("div", "grid");
  const off = { autocomplete: "off", autocapitalize: "off", spellcheck: "false" };
  grid.append(
    field(row, "host", "Jump host", { ...off, name: "jump-host", placeholder: "bastion.example.com" }),
    field(row, "port", "Port", { name: "jump-port", inputmode: "numeric", pattern: "[0-9]*", value: "22" }),
    field(row, "user", "User", { ...off, name: "jump-user" }, true),
    field(row, "password", "Password", { name: "jump-password", type: "password", autocomplete: "off" }, true),
  );
  const key = el("details", "jump-key span-2");
  key.append(el("summary", "", "Sign in with a private key instead"));
  const keyGrid = el("div", "jump-key-fields");
  const kf = field(row, "keyfile", "Private key file", { type: "file" }, true);
  kf.querySelector("input").removeAttribute("name");
  keyGrid.append(kf, field(row, "passphrase", "Passphrase (if the key has one)", { name: "jump-passphrase", type: "password", autocomplete: "off" }, true));
  key.append(keyGrid);
  grid.append(key);
  const remove = el("button", "secondary small jump-remove", "Remove");
  remove.type = "button";
  remove.addEventListener("click", () => {
    li.remove();
    renumber();
    $("jump-add").focus();
  });
  fs.append(grid, remove);
  li.append(fs);
  $("jump-list").append(li);
  if (hop) {
    if (hop.host) $("jump-" + row + "-host").value = hop.host;
    if (hop.port) $("jump-" + row + "-port").value = String(hop.port);
    if (hop.user) $("jump-" + row + "-user").value = hop.user;
  }
  renumber();
  if (focus) $("jump-" + row + "-host").focus();
  return row;
}

// setHops replaces the rows with hops ({host, port, user}, no secrets).
export function setHops(hops) {
  $("jump-list").replaceChildren();
  for (const h of hops || []) addHop(h, false);
  renumber();
}

function rows() {
  return [...$("jump-list").children].map((li) => Number(li.dataset.row));
}

const v = (row, key) => $("jump-" + row + "-" + key);

function cleanHost(h) {
  return h.trim().replace(/^\[(.*)\]$/, "$1");
}

// readHops checks each hop as the form does for the gateway; bad lists
// [fieldId, message] for each problem. It returns the hops without
// secrets read yet (jumpOptions reads them).
export function readHops(bad) {
  const out = [];
  for (const row of rows()) {
    const host = cleanHost(v(row, "host").value);
    const portText = v(row, "port").value.trim() || "22";
    const port = Number(portText);
    const user = v(row, "user").value.trim();
    const hasKey = v(row, "keyfile").files.length > 0;
    // A row left empty is no hop (an extra "Add" press is harmless).
    if (!host && !user && !hasKey && !v(row, "password").value) continue;
    const n = out.length + 1;
    if (!host) bad.push(["jump-" + row + "-host", "Enter jump host " + n + "'s host name or address, or remove it."]);
    if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) bad.push(["jump-" + row + "-port", "The port is a number from 1 to 65535 (SSH's is 22)."]);
    if (!user) bad.push(["jump-" + row + "-user", "Enter your user name on jump host " + n + "."]);
    if (!hasKey && !v(row, "password").value) bad.push(["jump-" + row + "-password", "Enter the password for jump host " + n + ", or choose a private key."]);
    out.push({ row, host, port, user, hasKey });
  }
  return out;
}

// jumpOptions turns read hops into connect's jump option (secrets read now).
export async function jumpOptions(hops) {
  const out = [];
  for (const h of hops) {
    const o = { host: h.host, port: h.port, user: h.user };
    if (h.hasKey) {
      o.privateKey = await v(h.row, "keyfile").files[0].text();
      o.passphrase = v(h.row, "passphrase").value;
    } else {
      o.password = v(h.row, "password").value;
    }
    out.push(o);
  }
  return out;
}

// clearHopSecrets empties the hops' passwords once connected.
export function clearHopSecrets() {
  for (const row of rows()) { v(row, "password").value = ""; v(row, "passphrase").value = ""; }
}

export function clearHopErrors() {
  for (const row of rows()) {
    for (const k of ["host", "port", "user", "password", "keyfile", "passphrase"]) {
      showFieldError("jump-" + row + "-" + k, "");
      markField("jump-" + row + "-" + k, null);
    }
  }
}

// hopField is the field to mark for a problem with the hop at hostport
// ("password", "keyfile", "passphrase", "host", "port"), or "".
export function hopField(hops, hostport, kind) {
  const h = hops.find((x) => hostPort(x.host, x.port) === hostport);
  if (!h) return "";
  if (kind === "password" && h.hasKey) kind = "keyfile";
  return "jump-" + h.row + "-" + kind;
}

// jumpArg is ssh's -J argument: "user@host[:port],...", "" for none.
export function jumpArg(hops) {
  return (hops || []).map((h) => (h.user ? h.user + "@" : "") + (Number(h.port) === 22 ? (h.host.includes(":") ? "[" + h.host + "]" : h.host) : hostPort(h.host, h.port))).join(",");
}

export function initJumps() {
  $("jump-add").addEventListener("click", () => addHop(null, true));
  renumber();
}
