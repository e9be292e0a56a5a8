// Package lab is a network inside one process for tunnelkit's training lab:
// named hosts, each with its own loopback (127.0.0.1, "localhost") and one
// external address, listeners and dialers bound to a host, and connections
// that never touch the operating system's network. A socket bound to a
// host's loopback is reachable from that host only; one bound to its
// external address or to 0.0.0.0 from every host of the lab, as on real
// machines.
package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

var errEOF = io.EOF

// Loopback is every host's own loopback address.
var Loopback = netip.MustParseAddr("127.0.0.1")

// acceptBacklog bounds connections waiting in Accept, like listen(2)'s.
const acceptBacklog = 64

// Network is a lab network: hosts by name and by external address.
type Network struct {
	mu     sync.Mutex
	hosts  []*Host
	byName map[string]*Host
	byAddr map[netip.Addr]*Host
}

// New returns an empty lab network.
func New() *Network {
	return &Network{byName: map[string]*Host{}, byAddr: map[netip.Addr]*Host{}}
}

// AddHost adds a host with its name and external address.
func (n *Network) AddHost(name string, addr netip.Addr) (*Host, error) {
	name = strings.ToLower(name)
	if name == "" || name == "localhost" || !addr.Is4() || addr.IsLoopback() || addr.IsUnspecified() {
		return nil, fmt.Errorf("lab: host %q at %s: want a name and an IPv4 address that is neither loopback nor 0.0.0.0", name, addr)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.byName[name] != nil || n.byAddr[addr] != nil {
		return nil, fmt.Errorf("lab: host %q or address %s is taken", name, addr)
	}
	h := &Host{Name: name, Addr: addr, n: n, nextPort: firstEphemeral, nextSrc: firstEphemeral}
	n.hosts = append(n.hosts, h)
	n.byName[name] = h
	n.byAddr[addr] = h
	return h, nil
}

// Host returns the host called name, or nil.
func (n *Network) Host(name string) *Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.byName[strings.ToLower(name)]
}

// Hosts returns the hosts in the order they were added.
func (n *Network) Hosts() []*Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.hosts)
}

// Socket describes a listening socket of the lab.
type Socket struct {
	Host string `json:"host"` // the host it is bound on
	Addr string `json:"addr"` // bound address: 127.0.0.1:P, the host's address, or 0.0.0.0:P
	Port int    `json:"port"`
	Bind string `json:"bind"` // "loopback", "external" or "all"
	Tag  string `json:"tag"`  // who listens: "sshd", "relay", "pinger", ...
}

// Sockets lists every listening socket, by host then port.
func (n *Network) Sockets() []Socket {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []Socket
	for _, h := range n.hosts {
		for _, ls := range h.listeners {
			for _, l := range ls {
				out = append(out, l.socket())
			}
		}
	}
	order := map[string]int{}
	for i, h := range n.hosts {
		order[h.Name] = i
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Host != out[j].Host {
			return order[out[i].Host] < order[out[j].Host]
		}
		return out[i].Port < out[j].Port
	})
	return out
}

// Host is one machine of the lab. Its methods have the shapes of
// net.Dialer.DialContext, net.ListenConfig.Listen and
// net.Resolver.LookupNetIP, so that relays and gateways take them as seams.
type Host struct {
	Name string
	Addr netip.Addr

	n         *Network
	listeners map[uint16][]*listener // guarded by n.mu
	nextPort  uint16                 // next port 0 may get
	nextSrc   uint16                 // next source port of a dial
}

// firstEphemeral is where picked ports start, as Linux's default range.
const firstEphemeral = 32768

func (h *Host) String() string { return h.Name }

// LookupNetIP resolves as this host would: "localhost" is its loopback, a
// lab host name its external address, an IP literal itself.
func (h *Host) LookupNetIP(_ context.Context, network, name string) ([]netip.Addr, error) {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if a, err := netip.ParseAddr(name); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	if name == "localhost" {
		return []netip.Addr{Loopback}, nil
	}
	if o := h.n.Host(name); o != nil {
		return []netip.Addr{o.Addr}, nil
	}
	return nil, &net.DNSError{Err: "no such host in the lab", Name: name, IsNotFound: true}
}

// resolve turns "host:port" into an address as seen from h.
func (h *Host) resolve(ctx context.Context, addr string) (netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("lab: bad port in %q", addr)
	}
	if host == "" || host == "*" {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port)), nil
	}
	ips, err := h.LookupNetIP(ctx, "ip4", host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(ips[0], uint16(port)), nil
}

func checkNetwork(network string) error {
	if network != "tcp" && network != "tcp4" {
		return fmt.Errorf("lab: network %q: the lab has TCP over IPv4 only", network)
	}
	return nil
}

// Dial connects from h to addr ("host:port", names resolved as h would).
func (h *Host) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	ap, err := h.resolve(ctx, addr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: err}
	}
	dst := net.TCPAddrFromAddrPort(ap)
	fail := func(errno error) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: dst, Err: errno}
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	target, src := h, Loopback
	switch {
	case ap.Addr().IsLoopback():
	case ap.Addr().IsUnspecified():
		return fail(syscall.ECONNREFUSED) // Linux would try loopback; name the host instead
	default:
		target, src = n.byAddr[ap.Addr()], h.Addr
		if target == nil {
			return fail(syscall.EHOSTUNREACH)
		}
		if target == h {
			src = h.Addr
		}
	}
	l := target.match(ap.Addr(), ap.Port())
	if l == nil {
		return fail(syscall.ECONNREFUSED)
	}
	from := net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, h.sourcePort()))
	client, server := newPair(from, dst)
	select {
	case l.queue <- server:
		return client, nil
	default:
		return fail(syscall.ECONNREFUSED) // backlog full
	}
}

// sourcePort picks the next source port; the caller holds n.mu.
func (h *Host) sourcePort() uint16 {
	p := h.nextSrc
	h.nextSrc++
	if h.nextSrc < firstEphemeral {
		h.nextSrc = firstEphemeral
	}
	return p
}

// match finds the listener a connection to addr:port on h reaches; the
// caller holds n.mu.
func (h *Host) match(addr netip.Addr, port uint16) *listener {
	for _, l := range h.listeners[port] {
		if l.bind.IsUnspecified() || l.bind == addr || (l.bind.IsLoopback() && addr.IsLoopback()) {
			return l
		}
	}
	return nil
}

// Listen binds addr on h: "127.0.0.1:P" or "localhost:P" (this host only),
// the host's name or address (every host), "0.0.0.0:P", "*:P" or ":P" (both).
// Port 0 picks a free port.
func (h *Host) Listen(ctx context.Context, network, addr string) (net.Listener, error) {
	return h.ListenAs(ctx, "", network, addr)
}

// ListenAs is Listen with a tag naming who listens, shown by Sockets.
func (h *Host) ListenAs(ctx context.Context, tag, network, addr string) (net.Listener, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	ap, err := h.resolve(ctx, addr)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Err: err}
	}
	fail := func(errno error) (net.Listener, error) {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: net.TCPAddrFromAddrPort(ap), Err: errno}
	}
	bind := ap.Addr()
	if !bind.IsUnspecified() && !bind.IsLoopback() && bind != h.Addr {
		return fail(syscall.EADDRNOTAVAIL) // not an address of this host
	}
	if bind.IsLoopback() {
		bind = Loopback
	}
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	port := ap.Port()
	if port == 0 {
		if port = h.freePort(bind); port == 0 {
			return fail(syscall.EADDRINUSE)
		}
	} else if h.conflicts(bind, port) {
		return fail(syscall.EADDRINUSE)
	}
	if h.listeners == nil {
		h.listeners = map[uint16][]*listener{}
	}
	l := &listener{h: h, bind: bind, port: port, tag: tag, queue: make(chan net.Conn, acceptBacklog), done: make(chan struct{})}
	h.listeners[port] = append(h.listeners[port], l)
	return l, nil
}

// conflicts reports whether bind:port overlaps a bound socket, as bind(2)
// without SO_REUSEPORT; the caller holds n.mu.
func (h *Host) conflicts(bind netip.Addr, port uint16) bool {
	for _, l := range h.listeners[port] {
		if l.bind == bind || l.bind.IsUnspecified() || bind.IsUnspecified() {
			return true
		}
	}
	return false
}

// freePort finds a port bind can take; the caller holds n.mu.
func (h *Host) freePort(bind netip.Addr) uint16 {
	for range 65536 - firstEphemeral {
		p := h.nextPort
		h.nextPort++
		if h.nextPort < firstEphemeral {
			h.nextPort = firstEphemeral
		}
		if !h.conflicts(bind, p) {
			return p
		}
	}
	return 0
}

// listener is a socket listening on a lab host.
type listener struct {
	h     *Host
	bind  netip.Addr
	port  uint16
	tag   string
	queue chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.queue:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
	}
}

// Close frees the port and resets the connections not yet accepted.
func (l *listener) Close() error {
	closed := false
	l.once.Do(func() {
		closed = true
		n := l.h.n
		n.mu.Lock()
		ls := l.h.listeners[l.port]
		if i := slices.Index(ls, l); i >= 0 {
			ls = slices.Delete(ls, i, i+1)
		}
		if len(ls) == 0 {
			delete(l.h.listeners, l.port)
		} else {
			l.h.listeners[l.port] = ls
		}
		n.mu.Unlock()
		close(l.done)
		for {
			select {
			case c := <-l.queue:
				c.Close()
			default:
				return
			}
		}
	})
	if !closed {
		return &net.OpError{Op: "close", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
	}
	return nil
}

func (l *listener) Addr() net.Addr {
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(l.bind, l.port))
}

func (l *listener) socket() Socket {
	bind := "external"
	switch {
	case l.bind.IsUnspecified():
		bind = "all"
	case l.bind.IsLoopback():
		bind = "loopback"
	}
	return Socket{Host: l.h.Name, Addr: l.Addr().String(), Port: int(l.port), Bind: bind, Tag: l.tag}
}
