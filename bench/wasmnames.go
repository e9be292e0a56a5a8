package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// wasmFuncNames maps the function indices of the served tunnelkit.wasm
// (built with -s, so the DevTools profiler shows only "wasm-function[N]")
// to Go names. It builds the same module twice, stripped and not: only if
// the stripped one is byte-identical to web/dist/tunnelkit.wasm are the
// indices known to match.
func wasmFuncNames(ctx context.Context, e *Env) (map[int]string, error) {
	dist, err := os.ReadFile(filepath.Join(e.Root, "web", "dist", "tunnelkit.wasm"))
	if err != nil {
		return nil, err
	}
	build := func(out, ldflags string) error {
		cmd := exec.CommandContext(ctx, "go", "build", "-tags", "nethttpomithttp2", "-trimpath", "-ldflags="+ldflags, "-o", out, "./wasm")
		cmd.Dir = e.Root
		cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building the wasm: %v: %s", err, firstLines(string(b), 4))
		}
		return nil
	}
	stripped, named := filepath.Join(e.Dir, "stripped.wasm"), filepath.Join(e.Dir, "named.wasm")
	if err := build(stripped, "-s -w"); err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(stripped); err != nil || !bytes.Equal(b, dist) {
		return nil, errors.New("web/dist/tunnelkit.wasm differs from a fresh build of ./wasm (run make wasm)")
	}
	if err := build(named, "-w"); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(named)
	if err != nil {
		return nil, err
	}
	return parseNameSection(b)
}

// parseNameSection reads the function names subsection of a module's
// "name" custom section.
func parseNameSection(b []byte) (map[int]string, error) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return nil, errors.New("not a wasm module")
	}
	p := b[8:]
	uleb := func() (int, bool) {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, false
		}
		p = p[n:]
		return int(v), true
	}
	for len(p) > 0 {
		id := p[0]
		p = p[1:]
		size, ok := uleb()
		if !ok || size > len(p) {
			return nil, errors.New("malformed section")
		}
		sec := p[:size]
		p = p[size:]
		if id != 0 {
			continue
		}
		q := p
		p = sec
		nlen, ok := uleb()
		if !ok || nlen > len(p) || string(p[:nlen]) != "name" {
			p = q
			continue
		}
		p = p[nlen:]
		for len(p) > 0 {
			sub := p[0]
			p = p[1:]
			ssize, ok := uleb()
			if !ok || ssize > len(p) {
				return nil, errors.New("malformed name section")
			}
			body, rest := p[:ssize], p[ssize:]
			if sub == 1 {
				p = body
				count, _ := uleb()
				names := make(map[int]string, count)
				for range count {
					idx, ok1 := uleb()
					l, ok2 := uleb()
					if !ok1 || !ok2 || l > len(p) {
						return nil, errors.New("malformed function names")
					}
					names[idx] = string(p[:l])
					p = p[l:]
				}
				return names, nil
			}
			p = rest
		}
		return nil, errors.New("name section has no function names")
	}
	return nil, errors.New("no name section (built with -s?)")
}
