// Package tunnel is tunnelkit's SSH client core: connect to a gateway over
// any net.Conn, authenticate, verify the host key, and run local (-L),
// remote (-R) and dynamic (-D, SOCKS) forwards whose entry listener and exit
// dialer are pluggable.
//
// It is platform neutral: it builds for GOOS=js as well as natively, so it
// imports neither syscall/js nor net/http.
//
// Vocabulary: a forward joins an entry socket to an exit socket through the
// gateway (the host running sshd). For -L the client owns the entry socket
// and the gateway dials the exit; for -R the gateway owns the entry socket
// and the client dials the exit.
//
// The pieces:
//
//   - Connect runs the handshake over a conn (Dial does TCP first, natively).
//     Authentication tries keys, Config.AuthMethods (AgentAuth, natively),
//     keyboard-interactive and password in that order; an *AuthError says
//     what was tried and what the gateway accepts.
//   - HostKeyPolicy fails closed. A refused key is a *HostKeyError whose
//     Kind says why (unknown, changed, revoked, declined), carrying the
//     offered and known fingerprints; a changed key is always refused.
//     Errors carry data and name no command-line flag: callers word the
//     remedy for their own users.
//   - Config.Jump reaches the gateway through jump hosts (ssh -J): each hop
//     authenticates and checks its host key on its own, and opens the way
//     to the next with a direct-tcpip channel.
//   - ParseSpec and ParseForward read OpenSSH's -L/-R/-D syntax; Spec.String
//     is canonical and Spec.Command gives the equivalent ssh command line.
//   - A -D forward serves SOCKS5 and SOCKS4/4a CONNECT on its entry socket
//     (socks.go); the gateway resolves host names and dials each exit, and
//     a refusal reaches the SOCKS client as a SOCKS reply.
//   - Client.Forward starts a forward; a forward that cannot be set up is an
//     error. Stats count live, Config.OnEvent and the slog logger report
//     each forward and connection. Half-closes pass through in both
//     directions.
//   - Keepalives (keepalive@openssh.com) end a connection whose gateway
//     stopped answering. Reconnect dials again with backoff and restores
//     the forwards, the host key pinned to the first one, -L entry sockets
//     kept bound through the outage (entryhold.go).
//
// Close waits for every goroutine the Client started. Config.OnEvent runs
// synchronously on the forward's goroutines: it must not block, nor call
// Close.
package tunnel
