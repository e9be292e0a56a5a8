// The lab's state and settings on the demo server (/lab/api/...).

async function call(path, body) {
  const opts = body === undefined ? { cache: "no-store" } : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const resp = await fetch(path, opts);
  let data = null;
  try { data = await resp.json(); } catch { /* not JSON */ }
  if (!resp.ok) {
    if (resp.status === 404 && !data) throw new Error("This server has no lab: start it with tunnelkit demo (make run).");
    throw new Error((data && data.error) || "the lab answered " + resp.status);
  }
  return data;
}

// state: {user, password, hosts:[{name, addr, gateway, pinger}],
// gateways:{name:{hostKey, port, gatewayPorts, permitOpen}}, sockets:[{host, addr, port, bind, tag}]}
export const fetchState = () => call("/lab/api/state");
export const setGateway = (gateway, settings) => call("/lab/api/gateway", { gateway, ...settings });
export const resetLab = () => call("/lab/api/reset", {});
