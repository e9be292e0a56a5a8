// The page playing lab hosts: one SSH session per (host, gateway), made
// through the relay that acts as that host, so that -L entry sockets bind on
// that host and -R exits are dialled from it.

import { LAB_USER } from "./lab.scenarios.js";

export function createSessions(getState) {
  const sessions = new Map(); // "host>gateway" -> Promise<session>
  let forwards = []; // {id, origin, host, gateway, text, kind, spec, entry, command, f}
  let nextId = 1;

  function session(host, gateway) {
    const key = host + ">" + gateway;
    let p = sessions.get(key);
    if (!p) {
      const st = getState();
      const gw = st.gateways[gateway];
      if (!gw) return Promise.reject(new Error(`${gateway} runs no sshd: the lab's gateways are gateway1 and gateway2`));
      if (!st.hosts.some((h) => h.name === host)) return Promise.reject(new Error(`${host} is not a lab host`));
      p = tunnelkit.connect({
        relay: "/lab/relay/" + host,
        host: gateway, port: gw.port, user: LAB_USER, password: st.password, hostKey: gw.hostKey,
      });
      sessions.set(key, p);
      p.then((s) => {
        s.closed.catch(() => {}).finally(() => {
          if (sessions.get(key) === p) sessions.delete(key);
          forwards = forwards.filter((x) => !(x.host === host && x.gateway === gateway));
        });
      }, () => sessions.delete(key));
    }
    return p;
  }

  // open runs `ssh -N <text> dev@gateway` on host.
  async function open(origin, host, gateway, text) {
    const s = await session(host, gateway);
    const f = await s.forward(text);
    const fw = { id: nextId++, origin, host, gateway, text, kind: f.kind, spec: f.spec, entry: f.entry, command: f.command, f };
    forwards.push(fw);
    return fw;
  }

  async function close(fw) {
    forwards = forwards.filter((x) => x !== fw);
    try { await fw.f.close(); } catch { /* already gone with its session */ }
  }

  async function closeWhere(pred) {
    await Promise.all(forwards.filter(pred).map(close));
  }

  async function closeAll() {
    const all = [...sessions.values()];
    sessions.clear();
    forwards = [];
    await Promise.all(all.map((p) => p.then((s) => s.close(), () => {})));
  }

  return { open, close, closeWhere, closeAll, list: () => forwards.slice() };
}
