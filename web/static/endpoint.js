// The page as an endpoint, wired into the page through main.js's mount
// points: while a session runs, the TCP console, the web-app viewer and the
// share panel sit in the session's tools section; each new -L gets "Open in
// browser" and "Console" for its exit, each -R takes dropped files to share.

import { onForwardAdded, onSession, onSessionEnd } from "./main.js";
import * as tcpConsole from "./console.js";
import * as viewer from "./viewer.js";
import * as share from "./share.js";

let mounted = null; // {session, console, viewer, share}

function unmountAll() {
  if (!mounted) return;
  for (const k of ["console", "viewer", "share"]) mounted[k].unmount();
  mounted = null;
  const tools = document.getElementById("tools");
  if (tools && !tools.children.length) tools.hidden = true;
}

onSession((session, target) => {
  unmountAll();
  const tools = document.getElementById("tools");
  tools.hidden = false;
  mounted = {
    session,
    viewer: viewer.mount(tools, session, { target }),
    console: tcpConsole.mount(tools, session, { target }),
    share: share.mount(tools, session, { target }),
  };
});

onSessionEnd(unmountAll);

onForwardAdded(({ parsed, actions }) => {
  if (!mounted || !parsed || !actions) return;
  if (parsed.kind === "L") {
    const consoleBtn = document.createElement("button");
    consoleBtn.type = "button";
    consoleBtn.className = "secondary small";
    consoleBtn.dataset.openConsole = "";
    consoleBtn.textContent = "Console";
    consoleBtn.title = "Talk to " + parsed.exitHost + ":" + parsed.exitPort + " from this page";
    consoleBtn.addEventListener("click", () => {
      mounted.console.open(parsed.exitHost, parsed.exitPort);
      mounted.console.element.scrollIntoView({ block: "nearest" });
    });
    actions.append(viewer.forwardButton(mounted.session, parsed.exitHost, parsed.exitPort), consoleBtn);
  } else if (parsed.kind === "R") {
    share.forwardDrop(actions.closest("li") || actions, mounted.share, parsed.entryHost);
    const note = document.createElement("span");
    note.className = "help";
    note.dataset.dropHint = "";
    note.textContent = "Drop files here to share them from this page on the gateway (on a port it picks)";
    actions.append(note);
  } else {
    return;
  }
  actions.hidden = false;
});
