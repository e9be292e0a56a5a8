//go:build js && wasm

package main

import (
	"context"
	"errors"
	"io"
	"sync"
	"syscall/js"
	"time"

	"tunnelkit/internal/share"
	"tunnelkit/tunnel"
)

// s.share("-R [bind:]port", files): the page serves files over HTTP on the
// gateway's entry socket (internal/share's net/http server on a -R whose
// exit is the page). Files are read from their Blobs only as requested.

var (
	sessionShareFunc = js.FuncOf(sessionShare)
	shareCloseFunc   = js.FuncOf(shareClose)
	jsBlob           = jsGlobal.Get("Blob")
)

var shares = struct {
	sync.Mutex
	byID map[int]*shareHandle
}{byID: map[int]*shareHandle{}}

type shareHandle struct {
	cancel context.CancelCauseFunc
	done   chan struct{}
}

func sessionShare(_ js.Value, args []js.Value) any {
	s := lookupSession(arg(args, 0))
	spec := arg(args, 1)
	files, err := sharedFiles(arg(args, 2))
	if err != nil {
		return rejected(err)
	}
	return async(func() (any, error) {
		l, err := s.listen("share", spec)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithCancelCause(s.ctx)
		for i := range files {
			blob := files[i].blob
			files[i].f.Open = func() io.ReadSeeker { return &blobReader{ctx: ctx, blob: blob, size: files[i].f.Size} }
		}
		list := make([]share.File, len(files))
		for i := range files {
			list[i] = files[i].f
		}
		h := &shareHandle{cancel: cancel, done: make(chan struct{})}
		id := nextID()
		go func() {
			defer close(h.done)
			share.Serve(ctx, l, share.Handler(list))
			l.Close()
			shares.Lock()
			delete(shares.byID, id) // ended with the session, or closed
			shares.Unlock()
		}()
		shares.Lock()
		shares.byID[id] = h
		shares.Unlock()
		entry := l.Addr().String()
		o := s.opts
		obj := jsObject.New()
		obj.Set("entry", entry)
		obj.Set("port", l.Port())
		obj.Set("url", "http://"+entry+"/")
		obj.Set("files", len(list))
		spec := tunnel.Spec{Kind: tunnel.Remote, EntryPort: l.Port(), ExitHost: "localhost", ExitPort: 8000}
		obj.Set("command", spec.Command(o.user, o.host, o.port)+"  # then python3 -m http.server 8000 in the files' folder")
		obj.Set("close", bind(shareCloseFunc, id))
		return obj, nil
	})
}

// shareClose is share.close(): it resolves once the gateway stopped listening.
func shareClose(_ js.Value, args []js.Value) any {
	shares.Lock()
	h := shares.byID[arg(args, 0).Int()]
	delete(shares.byID, arg(args, 0).Int())
	shares.Unlock()
	if h == nil {
		return jsPromise.Call("resolve")
	}
	return async(func() (any, error) {
		h.cancel(errors.New("share closed"))
		<-h.done
		return js.Undefined(), nil
	})
}

type sharedFile struct {
	f    share.File
	blob js.Value
}

// sharedFiles takes a FileList, an array of Files (or Blobs), or an object
// {name: Blob}.
func sharedFiles(v js.Value) ([]sharedFile, error) {
	bad := errors.New(`share: expected files: a FileList, an array of File, or {name: Blob}`)
	if v.Type() != js.TypeObject {
		return nil, bad
	}
	var out []sharedFile
	add := func(name string, b js.Value) error {
		if !b.InstanceOf(jsBlob) {
			return bad
		}
		if n := b.Get("name"); name == "" && n.Type() == js.TypeString {
			name = n.String()
		}
		if name == "" {
			name = "file"
		}
		f := share.File{Name: name, Size: int64(b.Get("size").Float()), Type: b.Get("type").String()}
		if m := b.Get("lastModified"); m.Type() == js.TypeNumber {
			f.ModTime = time.UnixMilli(int64(m.Float()))
		}
		out = append(out, sharedFile{f: f, blob: b})
		return nil
	}
	if jsGlobal.Get("Array").Call("isArray", v).Bool() || v.Get("item").Type() == js.TypeFunction {
		for i := range v.Length() {
			if err := add("", v.Index(i)); err != nil {
				return nil, err
			}
		}
	} else {
		entries := jsObject.Call("entries", v)
		for i := range entries.Length() {
			kv := entries.Index(i)
			if err := add(kv.Index(0).String(), kv.Index(1)); err != nil {
				return nil, err
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("share: no files given")
	}
	return out, nil
}

// blobReader reads a Blob as an io.ReadSeeker, a window at a time.
type blobReader struct {
	ctx        context.Context
	blob       js.Value
	size, off  int64
	cache      []byte
	cacheStart int64
}

const blobWindow = 1 << 20

func (b *blobReader) Read(p []byte) (int, error) {
	if b.off >= b.size {
		return 0, io.EOF
	}
	if b.off < b.cacheStart || b.off >= b.cacheStart+int64(len(b.cache)) {
		end := min(b.off+blobWindow, b.size)
		ab, err := await(b.ctx, b.blob.Call("slice", float64(b.off), float64(end)).Call("arrayBuffer"))
		if err != nil {
			return 0, err
		}
		if b.cache, err = bytesFromJS(ab); err != nil {
			return 0, err
		}
		b.cacheStart = b.off
		if len(b.cache) == 0 {
			return 0, io.ErrUnexpectedEOF
		}
	}
	n := copy(p, b.cache[b.off-b.cacheStart:])
	b.off += int64(n)
	return n, nil
}

func (b *blobReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += b.off
	case io.SeekEnd:
		offset += b.size
	}
	if offset < 0 {
		return 0, errors.New("seek before the start")
	}
	b.off = offset
	return offset, nil
}
