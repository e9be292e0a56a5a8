//go:build js && wasm

package main

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall/js"
)

// Web streams over Go readers and writers, for the page's sockets, views
// and shares. Each stream's callbacks are shared js.Funcs bound to the
// stream's id (see registry), so no per-stream js.Func needs releasing.

var (
	jsUint8Array     = jsGlobal.Get("Uint8Array")
	jsArrayBuffer    = jsGlobal.Get("ArrayBuffer")
	jsReadableStream = jsGlobal.Get("ReadableStream")
	jsWritableStream = jsGlobal.Get("WritableStream")

	sourcePullFunc   = js.FuncOf(sourcePull)
	sourceCancelFunc = js.FuncOf(sourceCancel)
	sinkWriteFunc    = js.FuncOf(sinkWrite)
	sinkCloseFunc    = js.FuncOf(sinkClose)
	sinkAbortFunc    = js.FuncOf(sinkAbort)
)

// streamChunk is the most one pull hands to the page: two SSH packets.
const streamChunk = 64 << 10

var jsStreams = struct {
	sync.Mutex
	sources map[int]*source
	sinks   map[int]*sink
}{sources: map[int]*source{}, sinks: map[int]*sink{}}

// source feeds a ReadableStream from r, one read per pull: nothing is read
// from r until the page asks for it, so a slow reader holds back r's
// producer (for an SSH channel: the gateway's window closes).
type source struct {
	r    io.Reader
	next func() (js.Value, error) // instead of r: a stream of objects
	done func(err error)          // once: at EOF (nil), error, or cancel (errCanceled)
	once sync.Once
	buf  []byte
}

var errCanceled = errors.New("canceled by the reader")

func (s *source) finish(err error) { s.once.Do(func() { s.done(err) }) }

// newReadable returns a ReadableStream<Uint8Array> of r. done is called once
// when the stream ends.
func newReadable(r io.Reader, done func(err error)) js.Value {
	return newSourceStream(&source{r: r, done: done})
}

// newObjectReadable returns a ReadableStream of the values next returns,
// until it returns io.EOF (or another error, which errors the stream).
func newObjectReadable(next func() (js.Value, error), done func(err error)) js.Value {
	return newSourceStream(&source{next: next, done: done})
}

func newSourceStream(s *source) js.Value {
	id := nextID()
	if s.done == nil {
		s.done = func(error) {}
	}
	jsStreams.Lock()
	jsStreams.sources[id] = s
	jsStreams.Unlock()
	src := jsObject.New()
	src.Set("pull", bind(sourcePullFunc, id))
	src.Set("cancel", bind(sourceCancelFunc, id))
	strategy := jsObject.New()
	strategy.Set("highWaterMark", 1) // one chunk read ahead, no more
	return jsReadableStream.New(src, strategy)
}

func takeSource(id js.Value, remove bool) *source {
	jsStreams.Lock()
	defer jsStreams.Unlock()
	s := jsStreams.sources[id.Int()]
	if remove {
		delete(jsStreams.sources, id.Int())
	}
	return s
}

// sourcePull is pull(controller): read once from r and enqueue it.
func sourcePull(_ js.Value, args []js.Value) any {
	id, ctrl := arg(args, 0), arg(args, 1)
	s := takeSource(id, false)
	if s == nil {
		return nil
	}
	return async(func() (any, error) {
		if s.buf == nil && s.next == nil {
			s.buf = make([]byte, streamChunk)
		}
		for {
			var n int
			var err error
			if s.next != nil {
				var v js.Value
				if v, err = s.next(); err == nil {
					ctrl.Call("enqueue", v)
					n = 1
				}
			} else if n, err = s.r.Read(s.buf); n > 0 {
				ctrl.Call("enqueue", bytesToJS(s.buf[:n]))
			}
			if err == io.EOF {
				takeSource(id, true)
				ctrl.Call("close")
				s.finish(nil)
				return nil, nil
			}
			if err != nil {
				takeSource(id, true)
				ctrl.Call("error", newError(err))
				s.finish(err)
				return nil, nil
			}
			if n > 0 {
				return nil, nil
			}
		}
	})
}

func sourceCancel(_ js.Value, args []js.Value) any {
	if s := takeSource(arg(args, 0), true); s != nil {
		s.finish(errCanceled)
	}
	return nil
}

// sink takes a WritableStream's chunks into w; each write's promise
// settles once w has taken the bytes, so a fast writer waits on w.
type sink struct {
	w     io.Writer
	close func() error // writable.close(): e.g. half-close
	abort func(error)  // writable.abort(reason), or a failed write
	once  sync.Once
	done  func(err error)
}

func (s *sink) finish(err error) { s.once.Do(func() { s.done(err) }) }

func newWritable(w io.Writer, closeFn func() error, abort func(error), done func(err error)) js.Value {
	id := nextID()
	s := &sink{w: w, close: closeFn, abort: abort, done: done}
	if s.done == nil {
		s.done = func(error) {}
	}
	jsStreams.Lock()
	jsStreams.sinks[id] = s
	jsStreams.Unlock()
	u := jsObject.New()
	u.Set("write", bind(sinkWriteFunc, id))
	u.Set("close", bind(sinkCloseFunc, id))
	u.Set("abort", bind(sinkAbortFunc, id))
	strategy := jsObject.New()
	strategy.Set("highWaterMark", 1)
	return jsWritableStream.New(u, strategy)
}

func takeSink(id js.Value, remove bool) *sink {
	jsStreams.Lock()
	defer jsStreams.Unlock()
	s := jsStreams.sinks[id.Int()]
	if remove {
		delete(jsStreams.sinks, id.Int())
	}
	return s
}

func sinkWrite(_ js.Value, args []js.Value) any {
	s := takeSink(arg(args, 0), false)
	if s == nil {
		return rejected(errors.New("write: the stream is closed"))
	}
	p, err := bytesFromJS(arg(args, 1))
	if err != nil {
		return rejected(err)
	}
	return async(func() (any, error) {
		if _, err := s.w.Write(p); err != nil {
			takeSink(arg(args, 0), true)
			s.abort(err)
			s.finish(err)
			return nil, err
		}
		return nil, nil
	})
}

func sinkClose(_ js.Value, args []js.Value) any {
	s := takeSink(arg(args, 0), true)
	if s == nil {
		return nil
	}
	return async(func() (any, error) {
		err := s.close()
		s.finish(err)
		return nil, err
	})
}

func sinkAbort(_ js.Value, args []js.Value) any {
	if s := takeSink(arg(args, 0), true); s != nil {
		err := errors.New("aborted by the writer")
		if r := arg(args, 1); r.Truthy() {
			err = jsReason(r)
		}
		s.abort(err)
		s.finish(err)
	}
	return nil
}

// bytesToJS copies p into a new Uint8Array. The array stays alive until
// Go's GC finalizes its js.Value, and Go's heap hardly grows while bytes
// stream through, so the GC is run every gcEvery bytes (see DESIGN: without
// it the page's JS heap grew ~1 MB per MiB).
func bytesToJS(p []byte) js.Value {
	a := jsUint8Array.New(len(p))
	js.CopyBytesToJS(a, p)
	collect(len(p))
	return a
}

// bytesFromJS copies a BufferSource (Uint8Array, any view, ArrayBuffer).
func bytesFromJS(v js.Value) ([]byte, error) {
	switch {
	case v.InstanceOf(jsUint8Array):
	case v.InstanceOf(jsArrayBuffer):
		v = jsUint8Array.New(v)
	case v.Type() == js.TypeObject && v.Get("buffer").Type() == js.TypeObject && v.Get("byteLength").Type() == js.TypeNumber:
		v = jsUint8Array.New(v.Get("buffer"), v.Get("byteOffset"), v.Get("byteLength"))
	default:
		return nil, errors.New("write: expected a Uint8Array, ArrayBuffer or other BufferSource (encode text with TextEncoder)")
	}
	p := make([]byte, v.Get("byteLength").Int())
	js.CopyBytesToGo(p, v)
	collect(len(p))
	return p, nil
}

const gcEvery = 32 << 20

var jsBytesSince atomic.Int64

func collect(n int) {
	if jsBytesSince.Add(int64(n)) >= gcEvery {
		jsBytesSince.Store(0)
		runtime.GC()
	}
}

// jsStreamReader reads a JavaScript ReadableStream (e.g. a request body)
// one chunk at a time, only as Go asks.
type jsStreamReader struct {
	ctx    context.Context
	reader js.Value
	buf    []byte
	err    error
}

func newJSStreamReader(ctx context.Context, stream js.Value) *jsStreamReader {
	return &jsStreamReader{ctx: ctx, reader: stream.Call("getReader")}
}

func (r *jsStreamReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		res, err := await(r.ctx, r.reader.Call("read"))
		if err != nil {
			r.err = err
			continue
		}
		if res.Get("done").Bool() {
			r.err = io.EOF
			continue
		}
		if r.buf, err = bytesFromJS(res.Get("value")); err != nil {
			r.err = err
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *jsStreamReader) Close() error {
	if r.err == nil {
		r.err = errors.New("closed")
		r.reader.Call("cancel").Call("catch", noopFunc)
	}
	return nil
}
