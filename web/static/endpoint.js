// The page as an endpoint, wired into the page: when a session starts
// (event "tunnelkit:session"), mount the TCP console, the web-app viewer
// and the share panel into #endpoint-panels; when a forward is added
// ("tunnelkit:forward"), give a -L "Open in browser" and "Console" for its
// exit, and make a -R a drop target for files to share.

import * as tcpConsole from "./console.js";
import * as viewer from "./viewer.js";
import * as share from "./share.js";

let mounted = null; // {session, console, viewer, share}

document.addEventListener("tunnelkit:session", (ev) => {
  const host = document.getElementById("endpoint-panels");
  if (mounted) {
    for (const k of ["console", "viewer", "share"]) mounted[k].unmount();
    mounted = null;
  }
  if (!ev.detail || !host) return;
  const { session, target } = ev.detail;
  mounted = {
    session,
    viewer: viewer.mount(host, session, { target }),
    console: tcpConsole.mount(host, session, { target }),
    share: share.mount(host, session, { target }),
  };
});

document.addEventListener("tunnelkit:forward", (ev) => {
  if (!mounted || !ev.detail) return;
  const { spec, element } = ev.detail;
  const head = element.querySelector(".forward-head") || element;
  const actions = document.createElement("div");
  actions.className = "endpoint-actions";
  if (spec.kind === "L") {
    const consoleBtn = document.createElement("button");
    consoleBtn.type = "button";
    consoleBtn.className = "secondary small";
    consoleBtn.dataset.openConsole = "";
    consoleBtn.textContent = "Console";
    consoleBtn.title = "Talk to " + spec.exitHost + ":" + spec.exitPort + " from this page";
    consoleBtn.addEventListener("click", () => {
      mounted.console.open(spec.exitHost, spec.exitPort);
      mounted.console.element.scrollIntoView({ block: "nearest" });
    });
    actions.append(viewer.forwardButton(mounted.session, spec.exitHost, spec.exitPort), consoleBtn);
  } else {
    share.forwardDrop(element, mounted.share, spec.entryHost);
    const note = document.createElement("span");
    note.className = "help";
    note.dataset.dropHint = "";
    note.textContent = "Drop files here to share them from this page on the gateway (on a port it picks)";
    actions.append(note);
  }
  head.after(actions);
});
