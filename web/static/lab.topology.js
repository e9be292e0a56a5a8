// The lab drawn as SVG: six hosts, their listening sockets, the SSH hops
// and exit sockets of the page's forwards, and a test connection's bytes.

const NS = "http://www.w3.org/2000/svg";
const W = 220, H = 150; // host box: name, address, three sockets
const PLACES = {
  // host1 apart on the left: it tests L2, L3, R2 and R3 from outside, and
  // its lines to gateway1 and gateway2 must not cross another box.
  host1: [110, 260], gateway1: [300, 90], gateway2: [700, 90],
  host2: [300, 430], host3: [700, 430], host4: [890, 260],
};

function el(name, attrs = {}, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// clip returns the segment between the edges of the boxes of a and b,
// shifted sideways by `offset` so that parallel lines stay apart.
function clip(a, b, offset) {
  const [ax, ay] = PLACES[a], [bx, by] = PLACES[b];
  const dx = bx - ax, dy = by - ay, len = Math.hypot(dx, dy) || 1;
  const nx = -dy / len * offset, ny = dx / len * offset;
  const t = Math.min((W / 2 + 6) / Math.abs(dx || 1e-9), (H / 2 + 6) / Math.abs(dy || 1e-9));
  return [ax + dx * t + nx, ay + dy * t + ny, bx - dx * t + nx, by - dy * t + ny];
}

const pairKey = (a, b) => [a, b].sort().join("|");

export function createTopology(svg) {
  svg.setAttribute("viewBox", "0 0 1000 520");
  const edges = el("g", { class: "edges" });
  const nodes = el("g", { class: "nodes" });
  const packet = el("circle", { class: "packet", r: 9, cx: -50, cy: -50 });
  svg.replaceChildren(edges, nodes, packet);
  let lines = new Map(); // "kind|a|b" -> line coordinates
  const reduced = matchMedia("(prefers-reduced-motion: reduce)").matches;

  // render draws the lab, the forwards and the active hops of a test
  // (the last one refused when refused is true).
  function render(state, forwards, active = [], refused = false) {
    edges.replaceChildren();
    nodes.replaceChildren();
    lines = new Map();
    const used = new Map();
    const offsetFor = (a, b) => {
      const k = pairKey(a, b);
      const n = used.get(k) || 0;
      used.set(k, n + 1);
      return (n % 2 ? -1 : 1) * Math.ceil(n / 2) * 14;
    };
    const activeKeys = new Set(active.map((h) => `${h.kind}|${pairKey(h.a, h.b)}`));
    const addLine = (kind, a, b, label, cls) => {
      if (a === b || !PLACES[a] || !PLACES[b]) return;
      const key = `${kind}|${pairKey(a, b)}`;
      if (lines.has(key) && kind === "tcp") return;
      const [x1, y1, x2, y2] = clip(a, b, offsetFor(a, b));
      if (!lines.has(key)) lines.set(key, { from: a, c: [x1, y1, x2, y2] });
      const g = el("g", { class: `edge ${cls}${activeKeys.has(key) ? " active" : ""}` });
      g.append(el("line", { x1, y1, x2, y2 }));
      if (label) {
        const mx = (x1 + x2) / 2, my = (y1 + y2) / 2;
        g.append(el("rect", { x: mx - label.length * 4.2 - 6, y: my - 13, width: label.length * 8.4 + 12, height: 22, rx: 6, class: "edge-label-bg" }));
        g.append(el("text", { x: mx, y: my + 3, class: "edge-label", "text-anchor": "middle" }, label));
      }
      edges.append(g);
    };
    for (const d of forwards) {
      addLine("ssh", d.host, d.gateway, `SSH ${d.kind === "L" ? "-L" : "-R"} ${d.entryPort}`, "ssh");
      if (d.exitAt) addLine("exit", d.dialer, d.exitAt, `exit ${d.exitHost}:${d.exitPort}`, "exit");
    }
    active.forEach((h, i) => {
      const last = refused && i === active.length - 1;
      if (h.kind === "tcp") addLine("tcp", h.a, h.b, last ? "refused" : "", last ? "tcp refused" : "tcp");
    });
    for (const h of state.hosts) {
      const [cx, cy] = PLACES[h.name] || [0, 0];
      const busy = active.some((x) => x.a === h.name || x.b === h.name);
      const g = el("g", { class: `host${h.gateway ? " gateway" : ""}${busy ? " busy" : ""}`, "data-host": h.name });
      g.append(el("rect", { x: cx - W / 2, y: cy - H / 2, width: W, height: H, rx: 14 }));
      g.append(el("text", { x: cx, y: cy - H / 2 + 27, class: "host-name", "text-anchor": "middle" }, h.name));
      g.append(el("text", { x: cx, y: cy - H / 2 + 47, class: "host-addr", "text-anchor": "middle" }, h.addr + (h.gateway ? " · sshd :22" : "")));
      const socks = state.sockets.filter((s) => s.host === h.name && !(s.tag === "sshd" && s.port === 22));
      socks.slice(0, 3).forEach((s, i) => {
        const x = cx - W / 2 + 10, y = cy - H / 2 + 58 + i * 29, w = W - 20;
        const bind = s.bind === "loopback" ? "127.0.0.1" : s.bind === "all" ? "*" : h.name;
        const cls = s.tag === "pinger" ? "sock pinger" : "sock entry";
        const label = s.tag === "pinger" ? `pinger *:${s.port}` : i === 2 && socks.length > 3 ? `+${socks.length - 2} sockets` : `entry ${bind}:${s.port}`;
        const sg = el("g", { class: cls });
        sg.append(el("rect", { x, y, width: w, height: 25, rx: 12.5 }));
        sg.append(el("text", { x: x + w / 2, y: y + 17.5, "text-anchor": "middle" }, label));
        sg.append(el("title", {}, `${s.tag === "pinger" ? "pinger" : "entry socket"} ${s.addr} on ${h.name} (${s.bind})`));
        g.append(sg);
      });
      nodes.append(g);
    }
  }

  function move(c, reverse, ms) {
    const [x1, y1, x2, y2] = reverse ? [c[2], c[3], c[0], c[1]] : c;
    return new Promise((resolve) => {
      if (reduced) {
        packet.setAttribute("cx", x2);
        packet.setAttribute("cy", y2);
        resolve();
        return;
      }
      const t0 = performance.now();
      const step = (now) => {
        const t = Math.min(1, (now - t0) / ms);
        packet.setAttribute("cx", x1 + (x2 - x1) * t);
        packet.setAttribute("cy", y1 + (y2 - y1) * t);
        t < 1 ? requestAnimationFrame(step) : resolve();
      };
      requestAnimationFrame(step);
    });
  }

  // travel moves the packet along the hops (back when reply is true),
  // calling onHop(i) as it starts hop i of hops.
  async function travel(hops, reply = false, onHop = () => {}) {
    packet.classList.toggle("reply", reply);
    const seq = reply ? [...hops].reverse() : hops;
    for (const [j, h] of seq.entries()) {
      onHop(reply ? hops.length - 1 - j : j);
      const line = lines.get(`${h.kind}|${pairKey(h.a, h.b)}`);
      if (!line) continue;
      const forward = line.from === h.a;
      await move(line.c, reply ? forward : !forward, 450);
    }
  }

  function hidePacket() {
    packet.setAttribute("cx", -50);
    packet.setAttribute("cy", -50);
  }

  return { render, travel, hidePacket };
}
