//go:build !js

package client_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"strings"
	"time"

	"tunnelkit/relay"
	"tunnelkit/relay/client"
)

// Dial a TCP service through a relay, half-close, and read the answer.
func ExampleDial() {
	relayURL, echo, stop := exampleRelay()
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, relayURL, echo, nil)
	if err != nil {
		log.Fatal(err) // e.g. relay refused 10.0.0.5:5432: not in allow list
	}
	defer conn.Close()
	io.WriteString(conn, "hello through the relay")
	conn.(*client.Conn).CloseWrite()
	reply, _ := io.ReadAll(conn)
	fmt.Println(string(reply))
	// Output: hello through the relay
}

// Listen on the relay host; connections arrive as relay streams.
func ExampleListen() {
	relayURL, _, stop := exampleRelay()
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ln, err := client.Listen(ctx, relayURL, "127.0.0.1:0", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() { // a TCP client on the relay host
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			io.WriteString(c, "hi")
			c.Close()
		}
	}()
	conn, err := ln.Accept()
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	msg, _ := io.ReadAll(conn)
	fmt.Println(string(msg))
	// Output: hi
}

// exampleRelay runs a relay allowing an echo service and listening on
// 127.0.0.1, and returns its URL and the echo's address.
func exampleRelay() (relayURL, echo string, stop func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	r, err := relay.New(relay.Config{Allow: []string{l.Addr().String()}, AllowListen: []string{"127.0.0.1:*"}})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	return "ws" + strings.TrimPrefix(srv.URL, "http"), l.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.Shutdown(ctx)
		srv.Close()
		l.Close()
	}
}
