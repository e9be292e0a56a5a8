// Small DOM and formatting helpers shared by the page's modules.

export const $ = (id) => document.getElementById(id);

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

const SVGNS = "http://www.w3.org/2000/svg";

export function svgEl(name, attrs, text) {
  const e = document.createElementNS(SVGNS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}

// setStatus is the header's one-line status: kind is idle, busy, ok, error or loading.
export function setStatus(kind, text) {
  const s = $("status");
  s.dataset.state = kind;
  s.textContent = text;
  s.title = text;
}

export function message(err) {
  if (!err) return "unknown error";
  if (typeof err === "string") return err;
  return err.message || String(err);
}

export function formatBytes(n) {
  n = Number(n) || 0;
  if (n < 1024) return n + " B";
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let u = -1;
  do { n /= 1024; u++; } while (n >= 1024 && u < units.length - 1);
  return (n >= 100 ? n.toFixed(0) : n.toFixed(1)) + " " + units[u];
}

export function formatRate(bytesPerSecond) {
  return formatBytes(Math.round(bytesPerSecond)) + "/s";
}

export function formatAge(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return s + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + " min " + (s % 60) + " s";
  return Math.floor(m / 60) + " h " + (m % 60) + " min";
}

export function bracket(host) {
  return host.includes(":") && !host.startsWith("[") ? "[" + host + "]" : host;
}

export function hostPort(host, port) {
  return bracket(host) + ":" + port;
}

export function shorten(s, max) {
  return s.length > max ? s.slice(0, max - 1) + "…" : s;
}

// showFieldError puts msg under the field id (in #id-error), marks the
// field invalid and links the message; an empty msg clears both.
export function showFieldError(id, msg) {
  const field = $(id);
  const box = $(id + "-error");
  if (box) {
    box.textContent = msg || "";
    box.hidden = !msg;
  }
  if (!field) return;
  if (msg) field.setAttribute("aria-invalid", "true");
  else field.removeAttribute("aria-invalid");
}

// markField marks id invalid and points its description at describedBy (an
// error shown elsewhere in the form), or clears the mark.
export function markField(id, describedBy) {
  const field = $(id);
  if (!field) return;
  const base = (field.dataset.describedby ??= field.getAttribute("aria-describedby") || "");
  if (describedBy) {
    field.setAttribute("aria-invalid", "true");
    field.setAttribute("aria-describedby", (base + " " + describedBy).trim());
  } else {
    field.removeAttribute("aria-invalid");
    if (base) field.setAttribute("aria-describedby", base);
    else field.removeAttribute("aria-describedby");
  }
}

export function copyButton(getText, label) {
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
