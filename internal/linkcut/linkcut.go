// Package linkcut is a loopback TCP proxy whose link can be cut: Cut
// closes its listener and every connection through it (both ends see the
// link die, as when a Wi-Fi drops or a proxy restarts), Restore listens
// again on the same port. For tests and the soak only.
package linkcut

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// Proxy forwards each connection on Addr to its target.
type Proxy struct {
	Addr string // "127.0.0.1:PORT", the same across cuts

	targetMu sync.Mutex
	target   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	cuts  atomic.Int64
}

// Start listens on a free loopback port and forwards to target.
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	return p, nil
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.pipe(c) }()
		}
	}()
}

// Retarget sends new connections to addr (the ones open stay).
func (p *Proxy) Retarget(addr string) {
	p.targetMu.Lock()
	p.target = addr
	p.targetMu.Unlock()
}

func (p *Proxy) pipe(c net.Conn) {
	p.targetMu.Lock()
	target := p.target
	p.targetMu.Unlock()
	up, err := net.Dial("tcp", target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, up) {
		c.Close()
		up.Close()
		return
	}
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if cw, ok := dst.(*net.TCPConn); ok {
			cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(up, c)
	go cp(c, up)
	<-done
	<-done
	p.untrack(c, up)
	c.Close()
	up.Close()
}

func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
	}
}

// Cut closes the listener and resets every connection through the proxy.
func (p *Proxy) Cut() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
	}
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
		p.cuts.Add(1)
	}
}

// Restore listens again on Addr.
func (p *Proxy) Restore() error {
	p.mu.Lock()
	up := p.ln != nil
	p.mu.Unlock()
	if up {
		return errors.New("linkcut: not cut")
	}
	ln, err := net.Listen("tcp", p.Addr)
	if err != nil {
		return err
	}
	p.serve(ln)
	return nil
}

// Cuts counts the cuts so far.
func (p *Proxy) Cuts() int64 { return p.cuts.Load() }

// Close cuts the link for good and waits for the proxy's goroutines.
func (p *Proxy) Close() {
	p.Cut()
	p.wg.Wait()
}
