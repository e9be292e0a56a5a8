// The page as an endpoint, wired into the page through main.js's mount
// points: while a session runs, the TCP console, the web-app viewer and the
// share panel sit in the session's tools section; each new -L gets "Open in
// browser" and "Console" for its exit, each -R takes dropped files to share.

import { onForwardAdded, onSession, onSessionEnd } from "./main.js";
import * as tcpConsole from "./console.js";
import * as viewer from "./viewer.js";
import * as share from "./share.js";

let mounted = null; // {session, console, viewer, share, show}

// The three panels fold behind one row of buttons, one open at a time, so
// that they do not push the forwards off the screen.
const TOOLS = [["viewer", "Open a web app"], ["console", "TCP console"], ["share", "Share from this page"]];

function foldPanels(tools, panels) {
  const bar = document.createElement("div");
  bar.className = "tool-bar";
  bar.setAttribute("role", "group");
  bar.setAttribute("aria-label", "This page as an endpoint");
  const buttons = {};
  const show = (name, open = true) => {
    for (const [k] of TOOLS) {
      const on = open && k === name;
      panels[k].element.hidden = !on;
      buttons[k].setAttribute("aria-expanded", String(on));
    }
  };
  for (const [k, label] of TOOLS) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "secondary tool-button";
    b.dataset.tool = k;
    b.textContent = label;
    const id = "tool-panel-" + k;
    panels[k].element.id = id;
    b.setAttribute("aria-controls", id);
    b.addEventListener("click", () => show(k, b.getAttribute("aria-expanded") !== "true"));
    buttons[k] = b;
    bar.append(b);
  }
  tools.prepend(bar);
  show(null, false);
  return { bar, show };
}

function unmountAll() {
  if (!mounted) return;
  for (const [k] of TOOLS) mounted[k].unmount();
  mounted.bar.remove();
  mounted = null;
  const tools = document.getElementById("tools");
  if (tools && !tools.children.length) tools.hidden = true;
}

onSession((session, target) => {
  unmountAll();
  const tools = document.getElementById("tools");
  tools.hidden = false;
  const panels = {
    viewer: viewer.mount(tools, session, { target }),
    console: tcpConsole.mount(tools, session, { target }),
    share: share.mount(tools, session, { target }),
  };
  const { bar, show } = foldPanels(tools, panels);
  // What a forward's buttons start shows in its panel.
  const shareFiles = panels.share.share;
  panels.share.share = (...args) => { show("share"); return shareFiles(...args); };
  mounted = { session, ...panels, bar, show };
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
      mounted.show("console");
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
