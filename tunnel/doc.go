// Package tunnel is tunnelkit's SSH client core: connect to a gateway over
// any net.Conn, authenticate, verify the host key, and run local (-L) and
// remote (-R) forwards whose entry listener and exit dialer are pluggable.
//
// It is platform neutral: it builds for GOOS=js as well as natively, so it
// imports neither syscall/js nor net/http.
//
// Vocabulary: a forward joins an entry socket to an exit socket through the
// gateway (the host running sshd). For -L the client owns the entry socket
// and the gateway dials the exit; for -R the gateway owns the entry socket
// and the client dials the exit.
package tunnel
