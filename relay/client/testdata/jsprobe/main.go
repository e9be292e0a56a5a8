//go:build js

// Command jsprobe exercises relay/client inside a browser page for
// TestBrowser: it carries data through the relay the page came from and
// publishes what it saw as JSON in globalThis.probeResult.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"tunnelkit/relay/client"
)

const size = 64 << 20

type result struct {
	EchoMBps, UpMBps, DownMBps float64
	HashMBps                   float64 // send into io.Discard: the page's own cost
	DownSum                    string
	DownBytes                  int64
	RefusedCode                int
	RefusedReason              string
	MaxHeapMB                  float64
	FloodRead                  int64  // bytes read from the flood
	FloodSum                   string // their SHA-256
	FloodError                 string // why the stream ended, if not at the end
	TalkSum                    string // SHA-256 of what the talker sent first
	TalkReply                  string // its hash line for what the page sent
	TalkSent                   string // SHA-256 of what the page sent
	Leaked                     int    // goroutines left over after every stream closed
	Stacks                     string // of all goroutines, when some were left over
	Error                      string
}

func main() {
	q, _ := url.ParseQuery(js.Global().Get("location").Get("search").String()[1:])
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var res result
	stop := sampleHeap(&res.MaxHeapMB)
	err := run(ctx, q, &res)
	for i := 0; i < 250; i++ {
		if res.Leaked, res.Stacks = leftOver(); res.Leaked == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err != nil {
		res.Error = err.Error()
	}
	b, _ := json.Marshal(res)
	js.Global().Set("probeResult", string(b))
}

func run(ctx context.Context, q url.Values, res *result) error {
	if err := listen(ctx); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if err := flood(ctx, q.Get("flood"), res); err != nil {
		return fmt.Errorf("flood: %w", err)
	}
	start := time.Now()
	if _, err := send(io.Discard); err != nil {
		return err
	}
	res.HashMBps = rate(size, start)
	var err error
	if res.EchoMBps, err = echo(ctx, q.Get("echo")); err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	if res.UpMBps, err = upload(ctx, q.Get("hasher")); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if res.DownMBps, res.DownSum, res.DownBytes, err = download(ctx, q.Get("source")); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	if err := talk(ctx, q.Get("talker"), res); err != nil {
		return fmt.Errorf("talker: %w", err)
	}
	_, err = client.Dial(ctx, q.Get("relay"), q.Get("refused"), nil)
	var ce *client.CloseError
	if !errors.As(err, &ce) {
		return fmt.Errorf("dial to a refused target: %v, want a *CloseError", err)
	}
	res.RefusedCode, res.RefusedReason = int(ce.Code), ce.Reason
	return nil
}

// listen binds a port on the relay host, publishes it as probeListen and
// echoes one connection.
func listen(ctx context.Context) error {
	ln, err := client.Listen(ctx, "", "127.0.0.1:0", nil)
	if err != nil {
		return err
	}
	defer ln.Close()
	js.Global().Set("probeListen", ln.Addr().String())
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := io.Copy(c, c); err != nil {
		return err
	}
	return c.(*client.Conn).CloseWrite()
}

// flood dials a service that sends far more than the flow window, reads
// nothing until the test says the relay has stopped sending
// (probeFloodGo), then reads until the stream ends.
func flood(ctx context.Context, target string, res *result) error {
	c, err := client.Dial(ctx, "", target, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	js.Global().Set("probeFloodReady", true)
	for !js.Global().Get("probeFloodGo").Truthy() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	h := sha256.New()
	res.FloodRead, err = io.Copy(h, c)
	res.FloodSum = sum(h)
	if err != nil {
		res.FloodError = err.Error()
	}
	return nil
}

// talk writes size bytes to a service that sends talkSize bytes before it
// reads anything, while reading them, then reads its reply.
func talk(ctx context.Context, target string, res *result) error {
	c, err := client.Dial(ctx, "", target, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	var sendErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if res.TalkSent, sendErr = send(c); sendErr == nil {
			sendErr = c.(*client.Conn).CloseWrite()
		}
	}()
	h := sha256.New()
	_, err = io.CopyN(h, c, talkSize)
	res.TalkSum = sum(h)
	var reply []byte
	if err == nil {
		reply, err = io.ReadAll(c)
		res.TalkReply = string(reply)
	}
	wg.Wait()
	if err != nil || sendErr != nil {
		return fmt.Errorf("read %v, write %v", err, sendErr)
	}
	return nil
}

const talkSize = 32 << 20

// send writes size bytes to w in writes of 1.5 MiB (so the client splits
// them at the 1 MiB message limit) and returns their SHA-256.
func send(w io.Writer) (string, error) {
	buf := make([]byte, 3<<19)
	for i := range buf {
		buf[i] = byte(i*7 + i>>8)
	}
	h := sha256.New()
	for n := 0; n < size; {
		m := min(len(buf), size-n)
		binary.LittleEndian.PutUint64(buf, uint64(n)) // no two chunks alike
		if _, err := w.Write(buf[:m]); err != nil {
			return "", err
		}
		h.Write(buf[:m])
		n += m
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func echo(ctx context.Context, target string) (float64, error) {
	c, err := client.Dial(ctx, "", target, nil)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	var sent string
	var sendErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if sent, sendErr = send(c); sendErr == nil {
			sendErr = c.(*client.Conn).CloseWrite()
		}
	}()
	h := sha256.New()
	n, err := io.Copy(h, c)
	wg.Wait()
	if err != nil || sendErr != nil {
		return 0, fmt.Errorf("read %v, write %v", err, sendErr)
	}
	if got := sum(h); n != size || got != sent {
		return 0, fmt.Errorf("echoed %d bytes with SHA-256 %s, sent %d with %s", n, got, size, sent)
	}
	return rate(n, start), nil
}

func upload(ctx context.Context, target string) (float64, error) {
	c, err := client.Dial(ctx, "", target, nil)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	sent, err := send(c)
	if err != nil {
		return 0, err
	}
	if err := c.(*client.Conn).CloseWrite(); err != nil {
		return 0, err
	}
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("reply: %v", err)
	}
	if want := fmt.Sprintf("%s %d\n", sent, size); reply != want {
		return 0, fmt.Errorf("hasher replied %q, want %q", reply, want)
	}
	return rate(size, start), nil
}

func download(ctx context.Context, target string) (float64, string, int64, error) {
	c, err := client.Dial(ctx, "", target, nil)
	if err != nil {
		return 0, "", 0, err
	}
	defer c.Close()
	start := time.Now()
	h := sha256.New()
	n, err := io.Copy(h, c)
	return rate(n, start), sum(h), n, err
}

// sampleHeap records the largest JavaScript heap seen until stop is called.
func sampleHeap(maxMB *float64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if m := js.Global().Get("performance").Get("memory"); !m.IsUndefined() {
				*maxMB = max(*maxMB, m.Get("usedJSHeapSize").Float()/1e6)
			}
			select {
			case <-t.C:
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// leftOver counts the goroutines started by the code under test (not the
// runtime's event handler, not the heap sampler) and returns their stacks.
func leftOver() (int, string) {
	buf := make([]byte, 256<<10)
	n := 0
	var stacks []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "\ncreated by ") && !strings.Contains(g, "main.sampleHeap") {
			n++
			stacks = append(stacks, g)
		}
	}
	return n, strings.Join(stacks, "\n\n")
}

func sum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

func rate(n int64, start time.Time) float64 {
	return float64(n) / time.Since(start).Seconds() / 1e6
}
