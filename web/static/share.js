// The page as the exit of -R: share files over HTTP on the gateway's
// entry socket (session.share), or take the connections made to it in an
// incoming-connections console (session.listenTCP). Files are read from
// this tab only when someone downloads them, and only while it is open.

import { h, uid } from "./element.js";
import { connectionView, gatewayText } from "./console.js";

// mount draws the panel; it returns {share(files), listen(), unmount()}.
export function mount(container, session, opts = {}) {
  const target = opts.target || {};
  const entryId = uid("sentry"), filesId = uid("sfiles");
  const entry = h("input", { id: entryId, autocomplete: "off", spellcheck: false, value: opts.entry || "-R 8080", "data-share-entry": "" });
  const files = h("input", { id: filesId, type: "file", multiple: true, tabIndex: -1, "aria-label": "Files to share", "data-share-files": "" });
  // The drop zone is a target, not a control: the one control in it is
  // the button that opens the file picker (a button inside a role=button
  // would nest interactive controls).
  const pick = h("button", { type: "button", class: "share-pick" }, "choose files");
  const drop = h("div", { class: "share-drop", "data-share-drop": "" },
    h("strong", {}, "Drop files here to share them"),
    h("span", { class: "help" }, " or "),
    pick, files);
  const listen = h("button", { type: "button", class: "secondary", "data-share-listen": "" }, "Take connections here");
  const command = h("code", { class: "command", "data-share-command": "" });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const list = h("div", { class: "share-list" });
  const card = h("section", { class: "endpoint-panel", "data-panel": "share", "aria-label": "This page as the exit of -R" },
    h("h2", {}, "Share from this page"),
    h("p", { class: "help" }, "The gateway listens on the entry socket; whoever connects there reaches this page: your files over HTTP, or a console where you answer by hand."),
    h("div", { class: "field" }, h("label", { for: entryId }, "Entry socket on the gateway ", h("span", { class: "optional" }, "-R [bind address:]port, 0 lets the gateway pick")), entry),
    drop,
    h("div", { class: "console-actions" }, listen),
    h("p", { class: "preview" }, h("span", { class: "preview-label" }, "Equivalent command"), command),
    error, list);
  container.append(card);

  const update = () => {
    command.textContent = "ssh -R " + entry.value.trim().replace(/^-R\s*/, "") + ":localhost:8000 " + gatewayText(target) +
      "  then python3 -m http.server 8000";
  };
  entry.addEventListener("input", update);
  update();
  const fail = (e) => { error.textContent = e && e.message ? e.message : String(e); error.hidden = false; };

  async function share(fileList, at) {
    error.hidden = true;
    const arr = Array.from(fileList || []);
    if (!arr.length) return null;
    try {
      const sh = await session.share(at || entry.value.trim(), arr);
      const item = h("div", { class: "share-item", "data-share-item": "" });
      const close = h("button", { type: "button", class: "secondary small", "data-share-close": "" }, "Stop sharing");
      close.addEventListener("click", async () => { await sh.close(); item.remove(); });
      item.append(
        h("p", {}, "Sharing " + arr.length + (arr.length === 1 ? " file" : " files") + " on the gateway's ",
          h("code", { "data-share-address": "" }, sh.entry), ": open ", h("code", {}, sh.url), " from the gateway's side."),
        h("ul", { class: "share-files" }, ...arr.map((f) => h("li", {}, f.name + " (" + f.size + " bytes)"))),
        h("code", { class: "command" }, sh.command), close);
      list.prepend(item);
      return sh;
    } catch (e) { fail(e); return null; }
  }

  async function takeConnections() {
    error.hidden = true;
    const server = session.listenTCP(entry.value.trim());
    const item = h("div", { class: "share-item", "data-incoming": "" });
    const head = h("p", { "data-incoming-state": "opening" }, "Asking the gateway to listen…");
    const conns = h("div", { class: "console-list" });
    const close = h("button", { type: "button", class: "secondary small", "data-incoming-close": "" }, "Stop listening");
    close.addEventListener("click", async () => { await server.close(); item.remove(); });
    item.append(head, close, conns);
    list.prepend(item);
    try {
      const { readable, localAddress, localPort } = await server.opened;
      head.dataset.incomingState = "listening";
      head.replaceChildren("Listening on the gateway's ", h("code", { "data-incoming-address": "" }, localAddress + ":" + localPort),
        ": each connection there appears below, where you answer it.");
      for await (const conn of readable) {
        const v = connectionView(conn, "incoming");
        conns.prepend(v);
        conn.opened.then((o) => { v.querySelector(".console-label").textContent = "from " + o.remoteAddress + ":" + o.remotePort; }, () => {});
      }
    } catch (e) {
      head.dataset.incomingState = "failed";
      head.textContent = "Not listening.";
      fail(e);
    }
    return server;
  }

  files.addEventListener("change", () => { share(files.files); files.value = ""; });
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    drop.classList.remove("over");
    if (ev.dataTransfer && ev.dataTransfer.files.length) share(ev.dataTransfer.files);
  });
  pick.addEventListener("click", () => files.click());
  listen.addEventListener("click", takeConnections);
  return { element: card, share, listen: takeConnections, unmount() { card.remove(); } };
}

// forwardDrop makes a -R forward's element a drop target: files dropped on
// it are shared on a new entry with the forward's bind address (port 0: the
// gateway picks), since the forward's own port is taken by the forward.
export function forwardDrop(element, panel, entryHost) {
  const bind = !entryHost ? "" : entryHost === "*" ? "*:" : entryHost.includes(":") ? "[" + entryHost + "]:" : entryHost + ":";
  element.addEventListener("dragover", (ev) => { ev.preventDefault(); element.classList.add("over"); });
  element.addEventListener("dragleave", () => element.classList.remove("over"));
  element.addEventListener("drop", (ev) => {
    ev.preventDefault();
    element.classList.remove("over");
    if (ev.dataTransfer && ev.dataTransfer.files.length) panel.share(ev.dataTransfer.files, "-R " + bind + "0");
  });
}

