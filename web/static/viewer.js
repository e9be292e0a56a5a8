// The HTTP viewer's panel: "open a web app" through the gateway with no
// listener anywhere (session.view), and "Open in browser" for a -L
// forward's exit. Each view opens in its own tab; its requests are carried
// by this page's SSH session (see sw.js), so this page must stay open.

import { h, uid } from "./element.js";
import { gatewayText } from "./console.js";

// equivalent is what a terminal user would type for a view of url.
export function equivalent(url, target) {
  let u;
  try { u = new URL(url); } catch (_) { return "ssh -L 8080:host:port " + gatewayText(target) + "  then open http://localhost:8080"; }
  const port = u.port || (u.protocol === "https:" ? "443" : "80");
  const host = u.hostname.includes(":") ? "[" + u.hostname.replace(/^\[|\]$/g, "") + "]" : u.hostname;
  return "ssh -L 8080:" + host + ":" + port + " " + gatewayText(target) +
    "  then open " + u.protocol + "//localhost:8080" + u.pathname + u.search;
}

// mount draws the panel; it returns {open(url, options), unmount()}.
export function mount(container, session, opts = {}) {
  const target = opts.target || {};
  const urlId = uid("vurl"), fpId = uid("vfp"), insId = uid("vins");
  const url = h("input", { id: urlId, type: "url", autocomplete: "off", spellcheck: false, placeholder: "http://10.0.0.5:3000/", "data-viewer-url": "", required: true });
  const fp = h("input", { id: fpId, autocomplete: "off", spellcheck: false, placeholder: "SHA256:…", "data-viewer-fingerprint": "" });
  const insecure = h("input", { type: "checkbox", id: insId, "data-viewer-insecure": "" });
  const tlsBox = h("div", { class: "viewer-tls", hidden: true },
    h("div", { class: "field" }, h("label", { for: fpId }, "Certificate fingerprint ", h("span", { class: "optional" }, "of the https exit, to pin it")), fp),
    h("label", { class: "check", for: insId }, insecure, " Accept any certificate (I checked it another way)"));
  const open = h("button", { type: "submit", class: "primary", "data-viewer-open": "" }, "Open web app");
  const command = h("code", { class: "command", "data-viewer-command": "" }, equivalent("", target));
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const list = h("ul", { class: "viewer-list", "aria-label": "Open views" });
  const form = h("form", { class: "console-form", noValidate: true },
    h("div", { class: "field grow" }, h("label", { for: urlId }, "Web app ", h("span", { class: "optional" }, "its address as seen from the gateway")), url),
    open);
  const card = h("section", { class: "endpoint-panel", "data-panel": "viewer", "aria-label": "Open a web app" },
    h("h2", {}, "Open a web app"),
    h("p", { class: "help" }, "See an internal web app in a new tab of this browser. Every request goes through this page's SSH session; nothing listens anywhere. Keep this page open while you use it. The app runs on this page's web origin: open only apps you trust."),
    form, tlsBox,
    h("p", { class: "preview" }, h("span", { class: "preview-label" }, "Equivalent command"), command),
    error, list);
  container.append(card);

  const update = () => {
    command.textContent = equivalent(url.value.trim(), target);
    tlsBox.hidden = !/^https:/i.test(url.value.trim());
  };
  url.addEventListener("input", update);

  async function openView(address, options, win) {
    error.hidden = true;
    try {
      const v = await session.view(address, options);
      const li = h("li", { class: "viewer-item", "data-viewer-item": "" });
      const link = h("a", { href: v.url, target: "_blank", rel: "noopener", "data-viewer-link": "" }, address);
      const close = h("button", { type: "button", class: "secondary small", "data-viewer-close": "" }, "Close");
      close.addEventListener("click", async () => { await v.close(); li.remove(); });
      li.append(link, h("code", { class: "command" }, equivalent(address, target)), close);
      list.prepend(li);
      if (win) { win.opener = null; win.location.href = v.url; } // the app runs on this origin: no handle back to this page
      return v;
    } catch (e) {
      if (win) win.close();
      error.textContent = e && e.message ? e.message : String(e);
      error.hidden = false;
      throw e;
    }
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const address = url.value.trim();
    if (!/^https?:\/\/[^/]/i.test(address)) {
      error.textContent = "Write the web app's address with http:// or https://, e.g. http://10.0.0.5:3000/.";
      error.hidden = false;
      url.focus();
      return;
    }
    const options = fp.value.trim() || insecure.checked ? { tls: { fingerprint: fp.value.trim() || undefined, insecure: insecure.checked } } : undefined;
    // The tab is opened now, inside the click, or the browser blocks it.
    const win = opts.noTab ? null : window.open("about:blank", "_blank");
    try { await openView(address, options, win); } catch (_) { /* shown */ }
  });
  return {
    element: card,
    open: (address, options) => openView(address, options, null),
    unmount() { card.remove(); },
  };
}

// forwardButton returns an "Open in browser" button for a -L forward whose
// exit is exitHost:exitPort: it opens a view of the exit (no use of the
// forward's entry socket on the relay host) in a new tab.
export function forwardButton(session, exitHost, exitPort) {
  const b = h("button", { type: "button", class: "secondary small", "data-open-in-browser": "" }, "Open in browser");
  b.title = "Open http://" + exitHost + ":" + exitPort + "/ in a tab, through this page's SSH session";
  b.addEventListener("click", async () => {
    const win = window.open("about:blank", "_blank");
    const host = exitHost.includes(":") ? "[" + exitHost + "]" : exitHost;
    try {
      const v = await session.view("http://" + host + ":" + exitPort + "/");
      b.dataset.viewUrl = v.url;
      if (win) { win.opener = null; win.location.href = v.url; } // the app runs on this origin: no handle back to this page
    } catch (e) {
      if (win) win.close();
      b.textContent = "Cannot open: " + (e && e.message ? e.message : e);
    }
  });
  return b;
}
