// The page as an endpoint: the session methods added by sockets.go,
// view.go and share.go, shaped like the WICG Direct Sockets API where one
// exists (TCPSocket, TCPServerSocket).

export interface TCPSocketOpenInfo {
  readable: ReadableStream<Uint8Array>; // read from the SSH channel only as pulled
  writable: WritableStream<BufferSource>; // write() resolves once the channel took the bytes; close() half-closes
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
}

export interface TCPSocket {
  readonly opened: Promise<TCPSocketOpenInfo>; // rejects with a RefusalError when the gateway refuses
  readonly closed: Promise<void>; // settles when both streams are done, or after close()
  close(): Promise<void>;
}

// A refused direct-tcpip channel: what the gateway said (RFC 4254 5.1).
export interface RefusalError extends Error {
  reason: "administratively prohibited" | "connect failed" | "unknown channel type" | "resource shortage" | string;
  reasonCode: 1 | 2 | 3 | 4 | number;
  gatewayMessage: string; // e.g. "Connection refused"
}

export interface TCPServerSocketOpenInfo {
  readable: ReadableStream<TCPSocket>; // one per connection made to the gateway's entry socket
  localAddress: string; // the address the gateway listens on ("localhost" when none was given)
  localPort: number; // the gateway's port; the allocated one when 0 was asked for
}

export interface TCPServerSocket {
  readonly opened: Promise<TCPServerSocketOpenInfo>;
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

export interface ViewOptions {
  tls?: {
    fingerprint?: string; // the exit certificate's SHA-256: "SHA256:<base64>" or hex
    ca?: string; // PEM certificates to trust
    insecure?: boolean; // accept any certificate: the user said so
  };
}

export interface View {
  readonly url: string; // open it in a tab of this browser; this page must stay open
  readonly target: string; // the exit's URL
  readonly id: string;
  readonly command: string; // "ssh -L 8080:host:port user@gateway  # then open http://localhost:8080/"
  close(): Promise<void>;
}

export interface Share {
  readonly entry: string; // the gateway's entry socket, "host:port"
  readonly port: number;
  readonly url: string; // "http://entry/", as seen from the gateway's side
  readonly files: number;
  readonly command: string; // "ssh -R 8080:localhost:8000 ...  # then python3 -m http.server 8000"
  close(): Promise<void>;
}

export interface EndpointSession {
  openTCP(host: string, port: number): TCPSocket;
  listenTCP(entry: string): TCPServerSocket; // "-R [bind_address:]port"
  view(url: string, options?: ViewOptions): Promise<View>;
  share(entry: string, files: FileList | File[] | Record<string, Blob>): Promise<Share>;
}
