package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// startLocal binds the entry socket of a -L or -D forward and starts accepting.
func (f *Forward) startLocal(ctx context.Context) error {
	addr := f.spec.EntryAddr()
	ln, err := f.c.cfg.listen()(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("%v: cannot bind entry socket %s: %w", f.spec, addr, err)
	}
	f.ln = ln
	f.entry = ln.Addr().String()
	if !f.c.addForward(f, f.acceptLocal) {
		ln.Close()
		return fmt.Errorf("%v: connection to gateway %s is closed", f.spec, f.c.addr)
	}
	return nil
}

func (f *Forward) acceptLocal() {
	defer f.finish()
	var delay time.Duration
	for {
		conn, err := f.ln.Accept()
		if err != nil {
			if f.ctx.Err() != nil {
				return
			}
			if isTemporary(err) {
				// Out of file descriptors and the like: back off, as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(delay):
				case <-f.ctx.Done():
				}
				continue
			}
			f.stop(fmt.Errorf("entry socket %s stopped accepting: %w", f.entry, err))
			return
		}
		delay = 0
		id, ok := f.track(conn)
		if !ok {
			conn.Close()
			return
		}
		if f.spec.Kind == Dynamic {
			go f.serveDynamic(id, conn)
		} else {
			go f.serveLocal(id, conn)
		}
	}
}

// isTemporary reports accept errors worth retrying, such as EMFILE.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// serveLocal opens a direct-tcpip channel to the exit for one entry connection.
func (f *Forward) serveLocal(id uint64, conn net.Conn) {
	defer f.untrack(id)
	remote := conn.RemoteAddr().String()
	ctx, cancel := context.WithTimeout(f.ctx, exitDialTimeout)
	exit, err := f.c.openDirect(ctx, f.spec.ExitHost, f.spec.ExitPort, conn.RemoteAddr())
	cancel()
	if err != nil {
		// Like OpenSSH: reset the entry connection so its peer sees the refusal.
		reset(conn)
		if f.ctx.Err() == nil {
			f.connFailed(id, remote, openError(f.spec.ExitAddr(), err))
		}
		return
	}
	f.relay(id, remote, conn, exit)
}

// reset closes conn with an RST where the platform allows it.
func reset(conn net.Conn) {
	if l, ok := conn.(interface{ SetLinger(int) error }); ok {
		l.SetLinger(0)
	}
	conn.Close()
}
