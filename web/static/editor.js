// The forward editor: the spec field with its live equivalent command (Go
// parses: tunnelkit.parseForward), one error under the field with the
// parser's hint, the "Try" suggestions, and adding a forward.
import { $, el, setStatus, showFieldError } from "./dom.js";
import { state } from "./state.js";
import { forwardWords } from "./words.js";
import { addForwardView } from "./forwards.js";

function currentKind() {
  return $("kind-R").checked ? "R" : "L";
}

// The page's one shorthand on top of OpenSSH syntax: "entry -> exit".
function normalize(text) {
  const parts = text.split(/\s*(?:->|→)\s*/);
  return parts.length === 2 && parts[0].trim() && parts[1].trim() ? parts[0].trim() + ":" + parts[1].trim() : text;
}

function parseOptions() {
  const t = state.target;
  return t ? { kind: currentKind(), user: t.user, host: t.host, port: t.port } : { kind: currentKind() };
}

// parse returns the parsed forward or throws the parser's Error (with .hint).
export function parse(text) {
  const tk = window.tunnelkit;
  if (!tk || typeof tk.parseForward !== "function") throw Object.assign(new Error("The SSH client is still loading."), { hint: "The SSH client is still loading." });
  return tk.parseForward(normalize(text), parseOptions());
}

function placeholder() {
  const t = state.target;
  const dest = t ? (t.user ? t.user + "@" : "") + t.host : "USER@GATEWAY";
  const port = t && Number(t.port) !== 22 ? " -p " + t.port : "";
  return "ssh -N -" + currentKind() + " [entry address:]entry port:exit host:exit port" + port + " " + dest;
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
    $("spec-explain").textContent = currentKind() === "L"
      ? "Local forward (-L): the entry socket listens on the relay host; the gateway opens the exit socket."
      : "Remote forward (-R): the gateway listens on the entry socket; the relay opens the exit socket.";
    return null;
  }
  try {
    const f = parse(text);
    if (f.kind !== currentKind()) $("kind-" + f.kind).checked = true;
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
  $("forward-form").addEventListener("submit", onSubmit);
  $("spec").addEventListener("input", updatePreview);
  for (const r of document.querySelectorAll("input[name=kind]")) {
    r.addEventListener("change", () => {
      // The selector wins over a flag typed in the box.
      const spec = $("spec");
      spec.value = spec.value.replace(/^\s*-?[LR]\s*(?=[\d[*:]|\s)/, "").trimStart();
      updatePreview();
    });
  }
  updatePreview();
}
