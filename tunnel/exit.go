package tunnel

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"golang.org/x/crypto/ssh"
)

// RefusedError is a gateway's refusal to open a channel to an exit socket:
// the reason code and message of its SSH_MSG_CHANNEL_OPEN_FAILURE.
type RefusedError struct {
	Exit    string              // "host:port" asked for
	Reason  ssh.RejectionReason // 1 prohibited, 2 connect failed, 3 unknown type, 4 resource shortage
	Message string              // the gateway's own words, e.g. "Connection refused"
}

func (e *RefusedError) Error() string {
	return openError(e.Exit, &ssh.OpenChannelError{Reason: e.Reason, Message: e.Message}).Error()
}

// pageOrigin is the originator named in direct-tcpip for connections the
// caller opens itself: there is no entry socket to name.
var pageOrigin = addr("127.0.0.1:0")

// DialExit opens one connection to the exit socket host:port through the
// gateway (direct-tcpip), as `ssh -W` does. A refusal is a *RefusedError.
// The connection ends with the Client at the latest.
func (c *Client) DialExit(ctx context.Context, host string, port int) (*Conn, error) {
	exit := net.JoinHostPort(host, strconv.Itoa(port))
	if host == "" || port < 1 || port > 65535 {
		return nil, fmt.Errorf("bad exit socket %q: want host:port with port 1-65535", exit)
	}
	ch, err := c.openDirect(ctx, host, port, pageOrigin)
	if err != nil {
		if oe, ok := err.(*ssh.OpenChannelError); ok {
			return nil, &RefusedError{Exit: exit, Reason: oe.Reason, Message: oe.Message}
		}
		return nil, fmt.Errorf("cannot open a connection to %s through gateway %s: %w", exit, c.addr, err)
	}
	return newConn(ch, pageOrigin, addr(exit), nil), nil
}
