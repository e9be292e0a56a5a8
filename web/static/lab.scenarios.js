// The seed's six scenarios ("SSH tunneling explained"), and the words the
// page says about any forward of the lab: where its entry socket is bound,
// which host opens its exit socket, and the way a test connection goes.

export const LAB_USER = "dev";

export const scenarios = [
  {
    id: "L1", title: "Local forward, entry on localhost",
    lesson: "The entry socket is on host2's loopback: only host2 itself can use it.",
    commands: [{ host: "host2", gateway: "gateway1", forward: "-L localhost:8888:host3:4444" }],
    test: { from: "host2", target: "localhost:8888" },
  },
  {
    id: "L2", title: "Local forward, entry on host2's address",
    lesson: "Bound to host2's own address, the entry socket serves every host that can reach host2.",
    commands: [{ host: "host2", gateway: "gateway1", forward: "-L host2:8888:host3:4444" }],
    test: { from: "host1", target: "host2:8888" },
  },
  {
    id: "L3", title: "Two local forwards in a chain",
    lesson: "The exit socket of the first forward is the entry socket of the second.",
    commands: [
      { host: "host2", gateway: "gateway1", forward: "-L host2:8888:host3:7777" },
      { host: "host3", gateway: "gateway2", forward: "-L host3:7777:host4:4444" },
    ],
    test: { from: "host1", target: "host2:8888" },
  },
  {
    id: "R1", title: "Remote forward, entry on the gateway's localhost",
    lesson: "The gateway listens, on its loopback; host2 opens the exit socket.",
    commands: [{ host: "host2", gateway: "gateway1", forward: "-R 8888:localhost:4444" }],
    test: { from: "gateway1", target: "localhost:8888" },
  },
  {
    id: "R2", title: "Remote forward, entry on the gateway's address",
    lesson: "Only with GatewayPorts yes or clientspecified does gateway1 bind its own address; with no it binds loopback, whatever host2 asks.",
    commands: [{ host: "host2", gateway: "gateway1", forward: "-R gateway1:8888:localhost:4444" }],
    test: { from: "host1", target: "gateway1:8888" },
  },
  {
    id: "R3", title: "Two remote forwards in a chain",
    lesson: "gateway1 is the gateway of the first forward and the client of the second.",
    commands: [
      { host: "host2", gateway: "gateway1", forward: "-R gateway1:8888:host2:4444" },
      { host: "gateway1", gateway: "gateway2", forward: "-R gateway2:7777:gateway1:8888" },
    ],
    test: { from: "host1", target: "gateway2:7777" },
  },
];

export const sshCommand = (c) => `ssh -N ${c.forward} ${LAB_USER}@${c.gateway}`;
export const ncCommand = (target) => {
  const i = target.lastIndexOf(":");
  return `nc ${target.slice(0, i)} ${target.slice(i + 1)}`;
};

// splitSpec reads Go's canonical spec (-L [bind:]port:host:hostport) for
// drawing only: Go has already parsed and checked it.
export function splitSpec(spec) {
  const parts = spec.replace(/^-[LRD]\s+/, "").split(":");
  const exitPort = Number(parts.pop());
  const exitHost = parts.pop();
  const entryPort = Number(parts.pop());
  return { entryAddr: parts.join(":"), entryPort, exitHost, exitPort };
}

const portOf = (hostport) => Number(String(hostport).slice(String(hostport).lastIndexOf(":") + 1));

// resolveFrom says which lab host `name` means on host `from`, and whether
// through loopback: "localhost" is always the host itself.
export function resolveFrom(state, from, name) {
  if (name === "localhost" || /^127\./.test(name)) return { host: from, loopback: true };
  const h = state.hosts.find((x) => x.name === name || x.addr === name);
  return h ? { host: h.name, loopback: false } : null;
}

const reaches = (bind, loopback) => bind === "all" || (bind === "loopback") === loopback;

export function bindWords(sock, host) {
  if (!sock) return "not bound";
  if (sock.bind === "loopback") return `loopback only: nothing but ${host} itself can connect`;
  if (sock.bind === "all") return `every address of ${host}: every lab host can connect`;
  return `${host}'s own address: every lab host can connect`;
}

// derive places one open forward of the page in the lab.
export function derive(state, fw) {
  const p = splitSpec(fw.spec);
  const L = fw.kind === "L";
  const entryHost = L ? fw.host : fw.gateway;
  const entryPort = fw.entry ? portOf(fw.entry) || p.entryPort : p.entryPort;
  const sock = state.sockets.find((s) => s.host === entryHost && s.port === entryPort && s.tag === (L ? "ssh" : "sshd"));
  const dialer = L ? fw.gateway : fw.host;
  const exit = resolveFrom(state, dialer, p.exitHost);
  return { ...fw, ...p, entryHost, entryPort, sock, dialer, exitAt: exit ? exit.host : null };
}

// setupSteps are the sentences for one forward once it is open.
export function setupSteps(state, d) {
  const steps = [`${d.host} runs ${sshCommand({ forward: d.text, gateway: d.gateway })}: it logs into the gateway ${d.gateway} as ${LAB_USER}, over the SSH hop.`];
  if (d.kind === "L") {
    steps.push(`${d.host} binds the entry socket ${d.sock ? d.sock.addr : d.entry} on ${d.host} (${bindWords(d.sock, d.host)}).`);
  } else {
    const mode = state.gateways[d.gateway] ? state.gateways[d.gateway].gatewayPorts : "?";
    const asked = d.entryAddr === "" ? "localhost (what ssh sends when no address is given)" : d.entryAddr;
    const why = mode === "no" ? "GatewayPorts no: loopback only, whatever the client asks" : `GatewayPorts ${mode}`;
    steps.push(`The gateway ${d.gateway} binds the entry socket ${d.sock ? d.sock.addr : "?"} on ${d.gateway}, asked for ${asked} (${why}; ${bindWords(d.sock, d.gateway)}).`);
  }
  const local = d.exitHost === "localhost" ? ` (localhost means ${d.dialer} itself)` : "";
  steps.push(`Each connection to it will leave through the exit socket ${d.exitHost}:${d.exitPort}, opened by ${d.dialer}${local}.`);
  return steps;
}

// route follows a test connection from host `from` to `target` through the
// page's open forwards and the lab's sockets: the hops to draw and the
// sentences to say, each with the hop it goes with. ok is false where the
// lab would refuse the connection.
export function route(state, forwards, from, target) {
  const hops = [];
  const steps = []; // {text, hop}: the hop each sentence goes with
  const note = (text) => steps.push({ text, hop: Math.max(0, hops.length - 1) });
  let at = from;
  let name = target.slice(0, target.lastIndexOf(":"));
  let port = portOf(target);
  for (let i = 0; i < 8; i++) {
    const r = resolveFrom(state, at, name);
    if (!r) {
      note(`${at} cannot resolve ${name}: it is not a host of the lab.`);
      return { ok: false, hops, steps };
    }
    const socks = state.sockets.filter((s) => s.host === r.host && s.port === port);
    const sock = socks.find((s) => reaches(s.bind, r.loopback));
    hops.push({ kind: "tcp", a: at, b: r.host, port });
    if (!sock) {
      const why = socks.length
        ? `${r.host} bound ${socks.map((s) => s.addr).join(", ")}, ${r.loopback ? "not its loopback" : "its loopback only"}`
        : `nothing listens on port ${port} of ${r.host}`;
      note(`${at} connects to ${name}:${port}: connection refused (${why}).`);
      return { ok: false, hops, steps };
    }
    if (sock.tag === "pinger") {
      note(`The pinger on ${r.host} (${sock.addr}) reads "hello" and answers "ACK hello", back along the same way.`);
      return { ok: true, hops, steps };
    }
    const fw = forwards.find((d) => d.entryHost === r.host && d.entryPort === port);
    if (!fw) {
      note(`${at} connects to ${name}:${port} on ${r.host}, which is not an entry socket of this page's forwards.`);
      return { ok: true, hops, steps };
    }
    note(i === 0
      ? `${at} connects to the entry socket ${name}:${port} (${sock.addr} on ${r.host}) and sends "hello".`
      : `That exit socket is the entry socket ${sock.addr} of the next forward (${fw.text} from ${fw.host}): the chain goes on.`);
    if (fw.kind === "L") {
      hops.push({ kind: "ssh", a: fw.host, b: fw.gateway });
      note(`${fw.host}'s ssh carries the bytes through the SSH hop to the gateway ${fw.gateway} (a direct-tcpip channel).`);
      note(`The gateway ${fw.gateway} opens the exit socket ${fw.exitHost}:${fw.exitPort}${fw.exitHost === "localhost" ? ` (${fw.gateway} itself)` : ""}.`);
    } else {
      hops.push({ kind: "ssh", a: fw.gateway, b: fw.host });
      note(`The gateway ${fw.gateway} hands the connection back through the SSH hop to ${fw.host} (a forwarded-tcpip channel).`);
      note(`${fw.host}'s ssh opens the exit socket ${fw.exitHost}:${fw.exitPort}${fw.exitHost === "localhost" ? ` (${fw.host} itself)` : ""}.`);
    }
    at = fw.dialer;
    name = fw.exitHost;
    port = fw.exitPort;
  }
  note("The chain loops: it goes through more than eight forwards.");
  return { ok: false, hops, steps };
}
