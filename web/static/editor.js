// The forward editor: the spec field with its live equivalent command (Go
// parses: tunnelkit.parseForward), one error under the field with the
// parser's hint, the "Try" suggestions, and adding a forward. Kinds: -L,
// -R and -D (a SOCKS proxy whose entry socket is on the relay host).
import { $, el, setStatus, showFieldError } from "./dom.js";
import { state } from "./state.js";
import { forwardWords } from "./words.js";
import { addForwardView } from "./forwards.js";
import { jumpArg } from "./jumps.js";

// The form under the field, per kind.
const FORM = { L: "[entry address:]entry port:exit host:exit port", R: "[entry address:]entry port:exit host:exit port", D: "[entry address:]port" };
const PLACEHOLDER = { L: "127.0.0.1:0:db.internal:5432", R: "127.0.0.1:0:db.internal:5432", D: "127.0.0.1:1080" };

function currentKind() {
  return $("kind-D").checked ? "D" : $("kind-R").checked ? "R" : "L";
}

// The page's one shorthand on top of OpenSSH syntax: "entry -> exit".
function normalize(text) {
  const parts = text.split(/\s*(?:->|→)\s*/);
  return parts.length === 2 && parts[0].trim() && parts[1].trim() ? parts[0].trim() + ":" + parts[1].trim() : text;
}

function parseOptions(kind) {
  const t = state.target;
  const o = t ? { user: t.user, host: t.host, port: t.port } : {};
  if (kind) o.kind = kind;
  return o;
}

// withJump puts the session's jump hosts into an ssh command, after the
// forward as ssh -J goes: "ssh -N -L spec -J u@bastion -p 2222 user@gw".
function withJump(cmd) {
  const j = jumpArg(state.target && state.target.jump);
  if (!j) return cmd;
  return cmd.replace(/^(ssh -N -[LRD] \S+)/, "$1 -J " + (/[*?[\]]/.test(j) ? "'" + j + "'" : j));
}

// parse returns the parsed forward or throws the parser's Error (with .hint).
// Go owns the syntax, -D included: the selector's kind applies when the
// text has no flag of its own.
export function parse(text) {
  const tk = window.tunnelkit;
  if (!tk || typeof tk.parseForward !== "function") throw Object.assign(new Error("The SSH client is still loading."), { hint: "The SSH client is still loading." });
  const f = tk.parseForward(normalize(text), parseOptions(currentKind()));
  f.command = withJump(f.command);
  return f;
}

function placeholder() {
  const t = state.target;
  const dest = t ? (t.user ? t.user + "@" : "") + t.host : "USER@GATEWAY";
  const port = t && Number(t.port) !== 22 ? " -p " + t.port : "";
  const j = jumpArg(t && t.jump);
  const form = currentKind() === "D" ? "[entry address:]port" : "[entry address:]entry port:exit host:exit port";
  return "ssh -N -" + currentKind() + " " + form + (j ? " -J " + j : "") + port + " " + dest;
}

// showKind puts the kind's form and example on the field.
function showKind() {
  const k = currentKind();
  $("spec-form").textContent = FORM[k];
  $("spec").placeholder = PLACEHOLDER[k];
}

// updatePreview shows the command for the spec typed so far; a spec Go
// refuses leaves the command slot as a placeholder (the error is shown
// under the field when the person tries to add it, or as they fix it).
export function updatePreview() {
  const text = $("spec").value;
  const cmd = $("spec-command");
  if (text.trim() === "") {
    cmd.textContent = placeholder();
    cmd.classList.add("invalid");
    $("spec-explain").textContent = {
      L: "Local forward (-L): the entry socket listens on the relay host; the gateway opens the exit socket.",
      R: "Remote forward (-R): the gateway listens on the entry socket; the relay opens the exit socket.",
      D: "Dynamic forward (-D): a SOCKS proxy listens on the relay host; the gateway opens whatever each client asks for.",
    }[currentKind()];
    return null;
  }
  try {
    const f = parse(text);
    if (f.kind !== currentKind()) { $("kind-" + f.kind).checked = true; showKind(); }
    cmd.textContent = f.command;
    cmd.classList.remove("invalid");
    $("spec-explain").textContent = f.explanation;
    if ($("spec").getAttribute("aria-invalid") === "true") showFieldError("spec", "");
    return f;
  } catch (e) {
    cmd.textContent = placeholder();
    cmd.classList.add("invalid");
    $("spec-explain").textContent = "";
    // Once an error is shown, keep it in step with what is typed.
    if ($("spec").getAttribute("aria-invalid") === "true") showFieldError("spec", e.hint || e.message);
    return null;
  }
}

// addForward starts text as a forward; it resolves once it is shown or its
// error is. It returns the view, or null.
export async function addForward(text) {
  const s = state.session;
  if (!s) return null;
  let f;
  try {
    f = parse(text);
  } catch (e) {
    showFieldError("spec", e.hint || e.message);
    $("spec").focus();
    return null;
  }
  showFieldError("spec", "");
  const btn = $("forward-btn");
  btn.disabled = true;
  btn.textContent = "Adding…";
  try {
    const fw = await s.forward(f.spec);
    const v = addForwardView(fw, f);
    if ($("spec").value === text) $("spec").value = "";
    updatePreview();
    setStatus("ok", "Forward " + f.spec + " is up: entry " + (fw.entry || ""));
    document.dispatchEvent(new CustomEvent("tunnelkit:forwards-changed"));
    return v;
  } catch (e) {
    const w = forwardWords(e, f);
    showFieldError("spec", w.text);
    $("spec-error").title = w.detail;
    $("spec").focus();
    return null;
  } finally {
    btn.disabled = false;
    btn.textContent = "Add forward";
  }
}

async function onSubmit(ev) {
  ev.preventDefault();
  await addForward($("spec").value);
}

// renderSuggestions shows the demo's suggested forwards: the human label
// first; a click adds the forward.
export function renderSuggestions(list) {
  const box = $("suggestions");
  box.replaceChildren();
  if (!list.length) { box.hidden = true; return; }
  box.append(el("span", "suggest-label", "Try:"));
  for (const s of list) {
    const b = el("button", "chip");
    b.type = "button";
    b.dataset.spec = s.spec;
    b.append(el("span", "chip-label", s.label || s.spec), el("code", "chip-spec", s.spec));
    b.setAttribute("aria-label", "Add " + (s.label ? s.label + ": " : "") + s.spec);
    b.addEventListener("click", async () => {
      $("spec").value = s.spec;
      updatePreview();
      await addForward(s.spec);
    });
    box.append(b);
  }
  box.hidden = false;
}

export function initEditor() {
  showKind();
  $("forward-form").addEventListener("submit", onSubmit);
  $("spec").addEventListener("input", updatePreview);
  for (const r of document.querySelectorAll("input[name=kind]")) {
    r.addEventListener("change", () => {
      // The selector wins over a flag typed in the box.
      const spec = $("spec");
      spec.value = spec.value.replace(/^\s*-?[LRD]\s*(?=[\d[*:]|\s)/, "").trimStart();
      showKind();
      updatePreview();
    });
  }
  updatePreview();
}
