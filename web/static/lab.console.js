// The lab's TCP console: `nc TARGET` run on a lab host. It opens a dial
// stream of the relay that acts as that host (/lab/relay/HOST/v1/dial, see
// relay/PROTOCOL.md), sends one line and reads one line back.

const SUBPROTOCOL = "tunnelkit.v1";

// A refusal of the relay, worded for the page: the code and the reason.
export class ConsoleError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

function relayURL(host, target) {
  const u = new URL("/lab/relay/" + encodeURIComponent(host) + "/v1/dial", location.href);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  u.searchParams.set("target", target);
  return u.href;
}

// The relay's reason names its own flags; in the lab, say what a host
// would: "connection refused" and the like.
function plainReason(reason) {
  const m = /could not connect to [^:]+:\d+: (.*)$/.exec(reason || "");
  if (m) return m[1];
  return reason || "the connection closed";
}

// nc sends `line` + "\n" from lab host `from` to `target` (HOST:PORT) and
// resolves with the first line of the answer. onStage(stage) reports
// "connected" and "sent" so the page can draw the bytes as they go.
export function nc(from, target, line, { onStage = () => {}, timeoutMs = 15000 } = {}) {
  return new Promise((resolve, reject) => {
    let ws;
    try {
      ws = new WebSocket(relayURL(from, target), [SUBPROTOCOL]);
    } catch (e) {
      reject(new ConsoleError("could not open the console: " + e.message, 0));
      return;
    }
    ws.binaryType = "arraybuffer";
    const decoder = new TextDecoder();
    let got = "";
    let done = false;
    const finish = (err, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (ws.readyState <= WebSocket.OPEN) ws.close(1000);
      err ? reject(err) : resolve(value);
    };
    const timer = setTimeout(() => finish(new ConsoleError("no answer within " + timeoutMs / 1000 + " s", 0)), timeoutMs);
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") {
        let msg;
        try { msg = JSON.parse(ev.data); } catch { return; }
        if (msg.type === "open") {
          onStage("connected", msg.addr);
          ws.send(new TextEncoder().encode(line + "\n"));
          onStage("sent");
        }
        return;
      }
      got += decoder.decode(ev.data, { stream: true });
      const nl = got.indexOf("\n");
      if (nl >= 0) finish(null, got.slice(0, nl));
    };
    ws.onclose = (ev) => {
      if (done) return;
      if (got) {
        finish(null, got);
        return;
      }
      if (ev.code === 1000 || ev.code === 1001) {
        finish(new ConsoleError("the connection closed without an answer (reset by the other end)", ev.code));
        return;
      }
      finish(new ConsoleError(plainReason(ev.reason) || "the lab relay closed the console (code " + ev.code + ")", ev.code));
    };
    ws.onerror = () => {}; // onclose follows with the code and reason
  });
}
