package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Profile is a CPU and allocation profile of one tunnelkit component under
// the bench's load, taken with bench/profiled.
type Profile struct {
	Name      string `json:"name"`
	Load      string `json:"load"`
	CPUFile   string `json:"cpu_file"`
	AllocFile string `json:"allocs_file"`
	TopCPU    string `json:"top_cpu"`
	TopAllocs string `json:"top_alloc_space"`
	Err       string `json:"error,omitempty"`
}

// profiles runs the relay dial bridge and the native client (through the
// relay) under throughput and round-trip load with profiling on.
func profiles(ctx context.Context, e *Env) []Profile {
	bin := filepath.Join(e.Dir, "profiled")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./bench/profiled")
	cmd.Dir = e.Root
	if out, err := cmd.CombinedOutput(); err != nil {
		return []Profile{{Name: "profiles", Err: fmt.Sprintf("bench/profiled does not build: %v: %s", err, firstLines(string(out), 5))}}
	}
	os.MkdirAll(e.Out, 0o755)
	stamp := time.Now().UTC().Format("20060102-150405")
	load := fmt.Sprintf("%s through it, then %d round trips", sizeLabel(e.Mode.NativeBytes), e.Mode.RTTRounds)

	var out []Profile
	// The relay's dial bridge, driven by the bench's WebSocket client.
	{
		p := Profile{Name: "relay dial bridge", Load: load,
			CPUFile:   filepath.Join(e.Out, "relay-cpu-"+stamp+".pprof"),
			AllocFile: filepath.Join(e.Out, "relay-allocs-"+stamp+".pprof")}
		err := func() error {
			proc, err := startProc(ctx, "profiled relay", []string{bin, "relay", "-cpu", p.CPUFile, "-allocs", p.AllocFile,
				"-allow", e.Sink.Addr(), "-allow", e.Echo.Addr()}, nil)
			if err != nil {
				return err
			}
			defer proc.Stop()
			o, err := proc.waitOutput(ctx, func(s string) bool { return strings.Contains(s, "listening ") }, 10*time.Second)
			if err != nil {
				return err
			}
			addr := strings.Fields(o[strings.Index(o, "listening ")+len("listening "):])[0]
			r := &relayProc{Addr: addr, WS: "ws://" + addr}
			path := relayDialPath(r, e)
			if err := profileLoad(ctx, e, path); err != nil {
				return err
			}
			return endProfiled(proc)
		}()
		out = append(out, finishProfile(ctx, p, err))
	}
	// The native client: `tunnelkit ssh -L` wiring, through `tunnelkit serve`.
	{
		p := Profile{Name: "native client -L via relay", Load: load,
			CPUFile:   filepath.Join(e.Out, "client-cpu-"+stamp+".pprof"),
			AllocFile: filepath.Join(e.Out, "client-allocs-"+stamp+".pprof")}
		err := func() error {
			r, err := startRelay(ctx, e, []string{e.Sshd.Addr}, nil, 0)
			if err != nil {
				return err
			}
			defer r.Stop()
			p1, _ := freePort()
			p2, _ := freePort()
			proc, err := startProc(ctx, "profiled ssh", []string{bin, "ssh", "-cpu", p.CPUFile, "-allocs", p.AllocFile,
				"-gateway", e.Sshd.Addr, "-user", e.Sshd.User, "-key", e.Sshd.KeyFile, "-known-hosts", e.Sshd.KnownHosts,
				"-relay", r.WS,
				"-L", fmt.Sprintf("127.0.0.1:%d:%s", p1, e.Sink.Addr()),
				"-L", fmt.Sprintf("127.0.0.1:%d:%s", p2, e.Echo.Addr())}, nil)
			if err != nil {
				return err
			}
			defer proc.Stop()
			if _, err := proc.waitOutput(ctx, func(s string) bool { return strings.Contains(s, "ready") }, 15*time.Second); err != nil {
				return err
			}
			path := &Path{DialSink: tcpDialer(loopback(p1)), DialEcho: tcpDialer(loopback(p2))}
			if err := profileLoad(ctx, e, path); err != nil {
				return err
			}
			return endProfiled(proc)
		}()
		out = append(out, finishProfile(ctx, p, err))
	}
	return append(out, pageProfile(ctx, e), pageLoadProfile(ctx, e))
}

func relayDialPath(r *relayProc, e *Env) *Path {
	return &Path{
		DialSink: func(ctx context.Context) (net.Conn, error) { return dialWS(ctx, r.dialURL(e.Sink.Addr()), wsTunnelkit) },
		DialEcho: func(ctx context.Context) (net.Conn, error) { return dialWS(ctx, r.dialURL(e.Echo.Addr()), wsTunnelkit) },
	}
}

func profileLoad(ctx context.Context, e *Env, p *Path) error {
	if _, _, err := measureThroughput(ctx, e, p, e.Mode.NativeBytes); err != nil {
		return err
	}
	_, _, err := measureRTT(ctx, e, p, e.Mode.RTTRounds)
	return err
}

// endProfiled asks the helper to write its profiles and waits for it.
func endProfiled(p *Proc) error {
	syscall.Kill(p.Pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		return p.Failure("profiled helper did not exit after SIGTERM")
	}
	if p.err != nil {
		return p.Failure("profiled helper")
	}
	return nil
}

func finishProfile(ctx context.Context, p Profile, err error) Profile {
	if err != nil {
		p.Err = err.Error()
		return p
	}
	p.TopCPU = pprofTop(ctx, p.CPUFile)
	p.TopAllocs = pprofTop(ctx, p.AllocFile, "-sample_index=alloc_space")
	return p
}

func pprofTop(ctx context.Context, file string, extra ...string) string {
	args := append([]string{"tool", "pprof", "-top", "-nodecount=15"}, extra...)
	out, err := exec.CommandContext(ctx, "go", append(args, file)...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("go tool pprof %s: %v: %s", file, err, out)
	}
	os.WriteFile(strings.TrimSuffix(file, ".pprof")+".txt", out, 0o644)
	return string(out)
}
