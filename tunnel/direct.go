package tunnel

import (
	"context"
	"net"
	"strconv"

	"golang.org/x/crypto/ssh"
)

// RFC 4254 7.2
type directTCPPayload struct {
	Host       string
	Port       uint32
	OriginAddr string
	OriginPort uint32
}

// openDirect opens a direct-tcpip channel to the exit socket. Unlike
// ssh.Client.Dial it names the entry connection's peer as originator, as
// OpenSSH does, so the gateway's logs show who connected. If ctx ends first
// the channel is closed once the gateway answers.
func (c *Client) openDirect(ctx context.Context, host string, port int, origin net.Addr) (ssh.Channel, error) {
	p := directTCPPayload{Host: host, Port: uint32(port), OriginAddr: "0.0.0.0"}
	if ap, err := splitAddr(origin); err == nil {
		p.OriginAddr, p.OriginPort = ap.host, ap.port
	}
	type result struct {
		ch  ssh.Channel
		err error
	}
	res := make(chan result) // unbuffered: a channel nobody waits for is closed
	if !c.spawn(func() {
		ch, reqs, err := c.ssh.OpenChannel("direct-tcpip", ssh.Marshal(&p))
		if err == nil {
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				ssh.DiscardRequests(reqs) // ends when the channel closes
			}()
		}
		select {
		case res <- result{ch, err}:
		case <-ctx.Done():
			if ch != nil {
				ch.Close()
			}
		}
	}) {
		return nil, net.ErrClosed
	}
	select {
	case r := <-res:
		return r.ch, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type hostPort struct {
	host string
	port uint32
}

func splitAddr(a net.Addr) (hostPort, error) {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return hostPort{}, err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return hostPort{}, err
	}
	return hostPort{host, uint32(n)}, nil
}
