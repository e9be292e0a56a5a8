// window.tunnelkit: the JavaScript API of tunnelkit's browser client (the Go
// program in wasm/, loaded by web/static/loader.js). This file is the one
// description of that API; the README and wasm/main.go point here.
//
//   await tunnelkit.ready;
//   const s = await tunnelkit.connect({host: "127.0.0.1", port: 22, user: "alice", password: "..."});
//   const f = await s.forward("-L 127.0.0.1:0:10.0.0.5:80");
//   f.entry;  // "127.0.0.1:34567"
//   await f.close(); await s.close();

export interface Tunnelkit {
  /** Resolves once the WebAssembly client has started; rejects with a message for people when it cannot load. */
  ready: Promise<void>;

  /** Dials the gateway through the relay, checks its host key, authenticates. */
  connect(options: ConnectOptions): Promise<Session>;

  /**
   * Parses a forward in OpenSSH syntax with the same parser as s.forward and
   * `tunnelkit ssh -L/-R` (Go's tunnel.ParseSpec): synchronous, no session
   * needed. Throws a ParseError when the text is not a forward.
   *
   *   parseForward("-L 8080:db:5432")            // kind "L"
   *   parseForward("8080:db:5432", {kind: "R"})  // as `tunnelkit ssh -R 8080:db:5432`
   */
  parseForward(text: string, options?: ParseOptions): ParsedForward;

  /** What the client holds right now, for leak checks and bug reports. */
  debug(): { goroutines: number; sessions: number; streams: number };
}

export interface ConnectOptions {
  /** WebSocket relay; default the page's own origin; relative URLs work. */
  relay?: string;
  host: string;
  /** Default 22. */
  port?: number | string;
  user: string;
  password?: string;
  /** OpenSSH or PEM private key text; with passphrase when it is encrypted. */
  privateKey?: string;
  passphrase?: string;
  /** Pinned fingerprint "SHA256:...": when set it alone decides. */
  hostKey?: string;
  /** Asked when hostKey is absent; only a literal true accepts. Absent too: the key is refused. */
  onHostKey?: (fingerprint: string, hostport: string) => boolean | Promise<boolean>;
  /** Relay token, when the relay requires one (sent as the WebSocket subprotocol, never in a URL). */
  token?: string;
  onEvent?: (event: ForwardEvent) => void;
  /** Jump hosts (ssh -J), first hop first: the relay reaches only the first; onHostKey is asked for each hop's host:port. */
  jump?: JumpHost[];
  /**
   * Reconnect a lost session by itself: with backoff (1 s doubling to 30 s,
   * about ±20%), requiring the host key accepted the first time, and
   * restoring every forward not closed (a -L's entry, a -R's port 0 may come
   * back different: see ReconnectState.forwards). A host key that changed, a
   * refused login or no credentials give up. The first connect failing is
   * still a rejection. Default false: s.closed rejects on the first loss.
   */
  reconnect?: boolean;
  /**
   * Keep the password, key and passphrase in memory for reconnects only, as
   * the person chose. Default false: they are dropped right after signing in
   * and a reconnect asks onCredentials.
   */
  keepCredentials?: boolean;
  /**
   * Asked for each reconnect attempt when the credentials were not kept;
   * null, undefined or neither password nor privateKey gives up.
   */
  onCredentials?: () => Promise<Credentials | null | undefined> | Credentials | null | undefined;
  /** Called on each change: connected, each reconnect attempt, gave up. */
  onState?: (state: ReconnectState) => void;
}

/** What onCredentials gives for a reconnect. */
export interface Credentials {
  password?: string;
  privateKey?: string;
  passphrase?: string;
}

/** A reconnecting session's state (ConnectOptions.onState). */
export interface ReconnectState {
  state: "connected" | "reconnecting" | "gave-up";
  /** The attempt about to be made, from 1; 0 when connected or gave up. */
  attempt: number;
  /** Milliseconds until that attempt; 0 when connected or gave up. */
  nextInMs: number;
  /** Why the connection was lost (reconnecting) or why it gave up. */
  error?: string;
  /** Every forward made on the session, in the order made. */
  forwards: ReconnectForward[];
}

export interface ReconnectForward {
  /** The forward's canonical spec (Forward.spec). */
  spec: string;
  /** down: not restored on the new connection (error says why); closed: closed by the page. */
  state: "up" | "reconnecting" | "down" | "closed";
  /** The entry socket bound now, when up. */
  entry?: string;
  error?: string;
}

export interface JumpHost {
  host: string;
  port?: number | string;
  user: string;
  password?: string;
  privateKey?: string;
  passphrase?: string;
  hostKey?: string;
}

export interface Session {
  /** The gateway's host key, "SHA256:...". */
  readonly hostKey: string;
  /** Starts a forward: "-L [entry address:]entry port:exit host:exit port", "-R ...", or "-D [entry address:]port" (SOCKS on the relay host). */
  forward(spec: string): Promise<Forward>;
  /** Resolves once the session has ended. */
  close(): Promise<void>;
  /** Resolves after close(); rejects with the reason when the connection is lost. */
  readonly closed: Promise<void>;
}

export interface Forward {
  /** "L", "R" or "D". */
  readonly kind: "L" | "R" | "D";
  /** Canonical spec, e.g. "-L 127.0.0.1:0:10.0.0.5:80". */
  readonly spec: string;
  /** The equivalent OpenSSH command. */
  readonly command: string;
  /** The entry socket actually bound, e.g. "127.0.0.1:34567" (port 0 resolved). */
  readonly entry: string;
  /** Live counters; the final ones once the forward has stopped. Synchronous. */
  stats(): Stats;
  /** The open connections, oldest first, each with its own live counters;
   * empty once the forward has stopped or while it waits to be restored. Synchronous. */
  conns(): ConnStats[];
  /** Resolves once the entry socket is released and the forward's connections are closed. */
  close(): Promise<void>;
}

export interface Stats {
  connections: number;
  active: number;
  /** Bytes from the exit back to the entry. */
  bytesIn: number;
  /** Bytes from the entry to the exit. */
  bytesOut: number;
}

export interface ConnStats {
  /** The connection's number in the forward, as in ForwardEvent.conn. */
  id: number;
  /** The entry side's peer, e.g. "127.0.0.1:51234". */
  remote: string;
  /** When it was accepted, milliseconds since the epoch. */
  opened: number;
  /** Bytes from the exit back to the entry. */
  bytesIn: number;
  /** Bytes from the entry to the exit. */
  bytesOut: number;
}

export interface ForwardEvent {
  /** "opened", "closed", "error", "forward-down", ... (tunnel.EventKind). */
  kind: string;
  /** Milliseconds since the epoch. */
  time: number;
  /** Canonical spec of the forward, when the event belongs to one. */
  forward?: string;
  entry: string;
  /** Connection number within the forward. */
  conn: number;
  remote: string;
  bytesIn: number;
  bytesOut: number;
  error?: string;
  /** Events lost before this one (the page was too slow to take them). */
  dropped?: number;
}

export interface ParseOptions {
  /** The kind when the text has no -L/-R/-D of its own; a flag in the text wins. */
  kind?: "L" | "R" | "D";
  /** The gateway the command names; default USER@GATEWAY. */
  user?: string;
  host?: string;
  port?: number;
}

export interface ParsedForward {
  kind: "L" | "R" | "D";
  /** Canonical spec, e.g. "-L 8080:db:5432". */
  spec: string;
  /** Equivalent OpenSSH command, e.g. "ssh -N -L 8080:db:5432 USER@GATEWAY". */
  command: string;
  /** What the forward does, in a sentence for people. */
  explanation: string;
  /** As written: "" (default: localhost), "*" (all interfaces), an address or a name. */
  entryHost: string;
  /** 0: the listener picks. */
  entryPort: number;
  exitHost: string;
  exitPort: number;
  /** The entry socket with defaults applied, e.g. "localhost:8080". */
  entry: string;
  /** The exit socket, e.g. "[fd00::5]:80". */
  exit: string;
}

/** Thrown by parseForward. */
export interface ParseError extends Error {
  /** What to change, in a sentence for people (e.g. "Put IPv6 addresses in brackets: 0:[fd00::5]:80."). */
  hint: string;
  /** The corrected spec when there is exactly one obvious fix. */
  suggestion?: string;
}

/**
 * Every promise of this API rejects with an Error whose message says what
 * failed and why. A refusal by the relay also sets code to the relay's close
 * code (relay/PROTOCOL.md): 4401 token missing or wrong, 4403 not allowed by
 * the relay's policy, 4429 over a limit, 4502 dial or listen failed, ...
 */
export interface TunnelkitError extends Error {
  code?: number;
  /** A refused host key: "unknown", "changed", "revoked" or "declined", with the fields below. */
  kind?: "unknown" | "changed" | "revoked" | "declined";
  hostport?: string;
  keyType?: string;
  /** The offered key's fingerprint. */
  fingerprint?: string;
  /** Fingerprints known for this host. */
  known?: string[];
  pinned?: string;
}

declare global {
  interface Window {
    tunnelkit: Tunnelkit;
  }
}
