// The lab's state in the URL fragment, for a link a trainer can share:
// the scenario, the free mode's forwards, the gateways' settings and the
// console's target. Never the password: the page asks the lab for it.

export function writeHash(st) {
  const p = new URLSearchParams();
  if (st.scenario) p.set("scenario", st.scenario);
  if (st.large) p.set("large", "1");
  for (const [gw, mode] of Object.entries(st.gatewayPorts || {})) p.append("gatewayports", `${gw}:${mode}`);
  for (const f of st.forwards || []) p.append("forward", `${f.host},${f.gateway},${f.forward}`);
  if (st.from) p.set("from", st.from);
  if (st.target) p.set("target", st.target);
  const hash = p.toString();
  history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
  return location.href;
}

export function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  const out = { scenario: p.get("scenario"), large: p.get("large") === "1", gatewayPorts: {}, forwards: [], from: p.get("from"), target: p.get("target") };
  for (const v of p.getAll("gatewayports")) {
    const [gw, mode] = v.split(":");
    if (gw && mode) out.gatewayPorts[gw] = mode;
  }
  for (const v of p.getAll("forward")) {
    const [host, gateway, ...rest] = v.split(",");
    if (host && gateway && rest.length) out.forwards.push({ host, gateway, forward: rest.join(",") });
  }
  return out;
}
