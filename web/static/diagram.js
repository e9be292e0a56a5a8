// The diagram of a forward (or of a chain of forwards) as its traffic
// travels: entry socket on the left, exit socket on the right, the relay
// where it is on the path, and the SSH hop drawn as the encrypted tunnel it
// is. Horizontal on wide screens, vertical on phones (CSS picks one).
import { svgEl, hostPort, shorten } from "./dom.js";

function relayHost(relay) {
  try { return new URL(relay.replace(/^ws/, "http")).host; } catch (_) { return ""; }
}

// nodes returns the sockets and hosts a forward's traffic passes, entry
// first, and the kind of each link between them ("tcp", "ws", "ssh").
export function pathOf(v, target) {
  const f = v.f;
  const gw = target ? hostPort(target.host, target.port) : "";
  const relay = { role: "relay", title: "relay", sub: relayHost((target && target.relay) || ""), where: "tunnelkit serve" };
  const page = { role: "client", title: "tunnelkit", sub: "this page", where: "SSH client" };
  const gateway = { role: "gateway", title: "gateway", sub: gw, where: "sshd" };
  const entry = { role: "entry", title: "entry socket", sub: v.entry || f.entry, fw: v.id };
  const exit = { role: "exit", title: "exit socket", sub: f.exit, fw: v.id };
  // Jump hosts (ssh -J) sit between this page and the gateway: the SSH to
  // the gateway travels inside the SSH to each hop.
  const hops = ((target && target.jump) || []).map((h) => ({ role: "jump", title: "jump host", sub: hostPort(h.host, h.port), where: "sshd" }));
  const toGateway = [page, ...hops, gateway];
  const sshLinks = toGateway.slice(1).map(() => "ssh");
  if (f.kind === "D") {
    // A SOCKS entry: each client names its own exit, which the gateway opens.
    entry.title = "SOCKS entry";
    entry.where = "on the relay host";
    Object.assign(exit, { title: "any exit", sub: "the client asks for", where: "opened by the gateway", full: true });
    return { nodes: [entry, relay, ...toGateway, exit], links: ["tcp", "ws", ...sshLinks, "tcp"], fw: v.id };
  }
  if (f.kind === "L") {
    entry.where = "on the relay host";
    exit.where = "opened by the gateway";
    return { nodes: [entry, relay, ...toGateway, exit], links: ["tcp", "ws", ...sshLinks, "tcp"], fw: v.id };
  }
  entry.where = "on the gateway";
  exit.where = "opened by the relay";
  return { nodes: [entry, ...toGateway.reverse(), relay, exit], links: ["tcp", ...sshLinks, "ws", "tcp"], fw: v.id };
}

// chainPath joins the paths of forwards where each one's exit is the next
// one's entry: the shared socket is drawn once.
export function chainPath(views, target) {
  let nodes = [], links = [], owners = [];
  views.forEach((v, i) => {
    const p = pathOf(v, target);
    if (i === 0) {
      nodes = p.nodes.slice();
    } else {
      const joint = nodes[nodes.length - 1];
      joint.role = "joint";
      joint.title = "exit = entry";
      joint.where = "joins forwards";
      nodes.push(...p.nodes.slice(1));
    }
    links.push(...p.links);
    owners.push(...p.links.map(() => v.id));
  });
  return { nodes, links, owners };
}

const LINK_TEXT = { tcp: "TCP", ws: "WebSocket", ssh: "SSH tunnel, encrypted" };

// buildDiagram draws path (from chainPath) horizontally or vertically.
export function buildDiagram(path, vertical, label) {
  const n = path.nodes.length;
  const nw = vertical ? 220 : 132, nh = vertical ? 64 : 78;
  const gapFor = (k) => (k === "ssh" ? (vertical ? 92 : 120) : vertical ? 44 : 46);
  let len = 8;
  path.links.forEach((k) => { len += gapFor(k); });
  len += n * (vertical ? nh : nw);
  const W = vertical ? 320 : len, H = vertical ? len : 128;
  const svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, class: "diagram " + (vertical ? "diagram-v" : "diagram-h"), role: "img" });
  svg.append(svgEl("title", {}, label + ": " + path.nodes.map((x) => x.title + " " + x.sub).join(", then ")));
  const boxes = [];
  let at = 4;
  for (let i = 0; i < n; i++) {
    boxes.push(vertical ? { x: (W - nw) / 2, y: at, w: nw, h: nh } : { x: at, y: (H - nh) / 2 + 6, w: nw, h: nh });
    at += (vertical ? nh : nw) + (i < n - 1 ? gapFor(path.links[i]) : 0);
  }
  path.links.forEach((kind, i) => {
    const a = boxes[i], b = boxes[i + 1];
    const g = svgEl("g", { class: "link link-" + kind + " seg seg-" + path.owners[i] });
    if (vertical) {
      const x = W / 2, y1 = a.y + a.h + 3, y2 = b.y - 3;
      if (kind === "ssh") g.append(svgEl("rect", { class: "pipe", x: x - 34, y: y1 - 2, width: 68, height: y2 - y1 + 4, rx: 14 }));
      g.append(arrow(x - 12, y1, x - 12, y2, "out"), arrow(x + 12, y2, x + 12, y1, "in"));
      // Beside a vertical link there is room for a short word per line.
      const label = svgEl("text", { class: "link-label link-label-" + kind, x: x + 42, y: (y1 + y2) / 2 + (kind === "ssh" ? -4 : 4) });
      LINK_TEXT[kind].split(", ").forEach((line, j) => label.append(svgEl("tspan", { x: x + 42, dy: j ? 14 : 0 }, line)));
      g.append(label);
    } else {
      const y = a.y + a.h / 2, x1 = a.x + a.w + 3, x2 = b.x - 3;
      if (kind === "ssh") g.append(svgEl("rect", { class: "pipe", x: x1 - 2, y: y - 30, width: x2 - x1 + 4, height: 60, rx: 16 }));
      g.append(arrow(x1 + 4, y - 10, x2 - 4, y - 10, "out"), arrow(x2 - 4, y + 10, x1 + 4, y + 10, "in"));
      g.append(svgEl("text", { class: "link-label link-label-" + kind, x: (x1 + x2) / 2, y: kind === "ssh" ? y - 36 : a.y - 8, "text-anchor": "middle" }, LINK_TEXT[kind]));
    }
    svg.append(g);
  });
  path.nodes.forEach((x, i) => {
    const b = boxes[i];
    const g = svgEl("g", { class: "node node-" + x.role, "data-role": x.role });
    g.append(svgEl("rect", { x: b.x, y: b.y, width: b.w, height: b.h, rx: 10 }));
    const cx = b.x + b.w / 2, max = vertical ? 26 : 18;
    g.append(svgEl("text", { class: "node-title", x: cx, y: b.y + 22, "text-anchor": "middle" }, x.title));
    const sub = svgEl("text", { class: "node-sub" + (x.full ? " node-sub-words" : ""), x: cx, y: b.y + 41, "text-anchor": "middle" }, x.full ? x.sub : shorten(x.sub || "", max));
    if (!x.full && (x.sub || "").length > max) sub.append(svgEl("title", {}, x.sub));
    g.append(sub);
    g.append(svgEl("text", { class: "node-where", x: cx, y: b.y + 59, "text-anchor": "middle" }, x.where || ""));
    svg.append(g);
  });
  return svg;
}

function arrow(x1, y1, x2, y2, dir) {
  const g = svgEl("g", { class: "arrow arrow-" + dir });
  const len = Math.hypot(x2 - x1, y2 - y1), ux = (x2 - x1) / len, uy = (y2 - y1) / len;
  const hx = x2 - ux * 9, hy = y2 - uy * 9;
  g.append(svgEl("line", { x1, y1, x2: hx, y2: hy }));
  g.append(svgEl("polygon", { points: [x2, y2, hx - uy * 5, hy + ux * 5, hx + uy * 5, hy - ux * 5].join(" ") }));
  return g;
}

// sparkline draws the last rates (bytes/s, oldest first) as a small line.
export function sparkline(svg, rates) {
  const W = 120, H = 28;
  const max = Math.max(1, ...rates);
  const pts = rates.map((r, i) => (rates.length > 1 ? (i * W) / (rates.length - 1) : 0).toFixed(1) + "," + (H - 2 - (r / max) * (H - 4)).toFixed(1));
  let line = svg.querySelector("polyline");
  if (!line) {
    line = svgEl("polyline", { class: "spark-line" });
    svg.append(line);
  }
  line.setAttribute("points", pts.join(" "));
}
