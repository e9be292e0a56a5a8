package tunnel

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"
)

// RFC 4254 7.1
type tcpipForwardMsg struct {
	Addr string
	Port uint32
}

// RFC 4254 7.2
type forwardedTCPPayload struct {
	Addr       string
	Port       uint32
	OriginAddr string
	OriginPort uint32
}

// remoteBindHost is OpenSSH's rule for the address sent in tcpip-forward:
// none given means "localhost", "*" means all interfaces (""), else as written.
func remoteBindHost(entryHost string) string {
	switch entryHost {
	case "":
		return "localhost"
	case "*":
		return ""
	}
	return entryHost
}

const cancelForwardTimeout = 5 * time.Second

// startRemote asks the gateway to listen on the entry socket. The request
// holds remoteMu until the forward is registered, so a forwarded-tcpip
// channel that arrives right after the reply finds its forward.
func (f *Forward) startRemote(ctx context.Context) error {
	c := f.c
	f.bindHost = remoteBindHost(f.spec.EntryHost)
	want := net.JoinHostPort(f.bindHost, strconv.Itoa(f.spec.EntryPort))

	type result struct {
		port int
		err  error
	}
	res := make(chan result, 1)
	abandoned := make(chan struct{})
	if !c.spawn(func() {
		c.remoteMu.Lock()
		defer c.remoteMu.Unlock()
		msg := tcpipForwardMsg{f.bindHost, uint32(f.spec.EntryPort)}
		ok, reply, err := c.ssh.SendRequest("tcpip-forward", true, ssh.Marshal(&msg))
		port := f.spec.EntryPort
		switch {
		case err != nil:
			err = fmt.Errorf("%v: asking the gateway to listen on %s: %w", f.spec, want, err)
		case !ok:
			err = fmt.Errorf("%v: gateway refused to listen on entry socket %s (tcpip-forward request denied): check AllowTcpForwarding, GatewayPorts and PermitListen in its sshd_config, and that the port is free there", f.spec, want)
		case port == 0:
			var p struct{ Port uint32 }
			if uerr := ssh.Unmarshal(reply, &p); uerr != nil || p.Port == 0 || p.Port > 65535 {
				err = fmt.Errorf("%v: gateway listens on %s but did not say which port it allocated; give an entry port", f.spec, want)
			}
			port = int(p.Port)
		}
		select {
		case <-abandoned:
			if ok && err == nil {
				c.ssh.SendRequest("cancel-tcpip-forward", true, ssh.Marshal(&tcpipForwardMsg{f.bindHost, uint32(port)}))
			}
			return
		default:
		}
		if err == nil {
			f.port = port
			f.entry = net.JoinHostPort(f.bindHost, strconv.Itoa(port))
			c.remotes = append(c.remotes, f)
		}
		res <- result{port, err}
	}) {
		return fmt.Errorf("%v: connection to gateway %s is closed", f.spec, c.addr)
	}

	var r result
	select {
	case r = <-res:
	case <-ctx.Done():
		close(abandoned)
		// The reply may have been delivered just before.
		select {
		case r = <-res:
		default:
			return fmt.Errorf("%v: waiting for the gateway to listen on %s: %w", f.spec, want, context.Cause(ctx))
		}
	}
	if r.err != nil {
		return r.err
	}
	if !c.addForward(f, f.runRemote) {
		c.removeRemote(f)
		return fmt.Errorf("%v: connection to gateway %s is closed", f.spec, c.addr)
	}
	return nil
}

// runRemote is a -R forward's main goroutine: it waits for the end and
// withdraws the gateway's listener when the forward alone is closed.
func (f *Forward) runRemote() {
	defer f.finish()
	<-f.ctx.Done()
	c := f.c
	if context.Cause(f.ctx) != errForwardClosed {
		return // the connection is ending and takes the listener with it
	}
	replied := make(chan struct{})
	if !c.spawn(func() {
		defer close(replied)
		msg := tcpipForwardMsg{f.bindHost, uint32(f.port)}
		ok, _, err := c.ssh.SendRequest("cancel-tcpip-forward", true, ssh.Marshal(&msg))
		if err == nil && !ok {
			f.log.Warn("gateway refused to stop listening", "entry", f.entry)
		}
	}) {
		return
	}
	select {
	case <-replied:
	case <-c.ctx.Done():
	case <-time.After(cancelForwardTimeout):
		f.log.Warn("gateway did not confirm it stopped listening", "entry", f.entry)
	}
}

func (c *Client) removeRemote(f *Forward) {
	c.remoteMu.Lock()
	defer c.remoteMu.Unlock()
	for i, g := range c.remotes {
		if g == f {
			c.remotes = append(c.remotes[:i], c.remotes[i+1:]...)
			return
		}
	}
}

// lookupRemote finds the forward for a forwarded-tcpip channel: by address
// and port as requested, else by port alone when that is unambiguous
// (gateways differ in the address they echo back).
func (c *Client) lookupRemote(addr string, port int) *Forward {
	c.remoteMu.RLock()
	defer c.remoteMu.RUnlock()
	var byPort []*Forward
	for _, f := range c.remotes {
		if f.port != port {
			continue
		}
		if f.bindHost == addr {
			return f
		}
		byPort = append(byPort, f)
	}
	if len(byPort) == 1 {
		return byPort[0]
	}
	return nil
}

// acceptForwarded receives the gateway's forwarded-tcpip channels. It never
// blocks on one connection: each is served in its own goroutine.
func (c *Client) acceptForwarded(in <-chan ssh.NewChannel) {
	for nc := range in {
		var p forwardedTCPPayload
		if err := ssh.Unmarshal(nc.ExtraData(), &p); err != nil {
			nc.Reject(ssh.ConnectionFailed, "bad forwarded-tcpip payload: "+err.Error())
			continue
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			f := c.lookupRemote(p.Addr, int(p.Port))
			if f == nil {
				c.log.Warn("gateway opened a channel for no forward", "addr", net.JoinHostPort(p.Addr, strconv.Itoa(int(p.Port))))
				nc.Reject(ssh.Prohibited, "no forward for address")
				return
			}
			f.serveRemote(nc, net.JoinHostPort(p.OriginAddr, strconv.Itoa(int(p.OriginPort))))
		}()
	}
}

// serveRemote dials the exit for one connection the gateway accepted on
// the entry socket, then accepts the channel. Like OpenSSH, an exit that
// cannot be reached is reported to the gateway as a refused channel.
func (f *Forward) serveRemote(nc ssh.NewChannel, remote string) {
	id, ok := f.track(nil)
	if !ok {
		nc.Reject(ssh.Prohibited, "forward is closing")
		return
	}
	defer f.untrack(id)
	if f.accept != nil {
		f.serveAccepted(id, nc, remote)
		return
	}
	exitAddr := f.spec.ExitAddr()
	ctx, cancel := context.WithTimeout(f.ctx, exitDialTimeout)
	exit, err := f.c.cfg.dial()(ctx, "tcp", exitAddr)
	cancel()
	if err != nil {
		nc.Reject(ssh.ConnectionFailed, "cannot reach "+exitAddr+": "+err.Error())
		if f.ctx.Err() == nil {
			f.connFailed(id, remote, fmt.Errorf("cannot reach exit socket %s: %w", exitAddr, err))
		}
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		exit.Close()
		f.connFailed(id, remote, fmt.Errorf("accepting the gateway's channel: %w", err))
		return
	}
	f.c.wg.Add(1)
	go func() {
		defer f.c.wg.Done()
		ssh.DiscardRequests(reqs) // ends when the channel closes
	}()
	if !f.setLive(id, ch) {
		ch.Close()
		exit.Close()
		return
	}
	f.relay(id, remote, ch, exit)
}
