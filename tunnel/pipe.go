package tunnel

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

type closeWriter interface{ CloseWrite() error }

// pipe copies entry -> exit and exit -> entry until both directions end, then
// closes both. An EOF in one direction is passed on as a half-close
// (CloseWrite) while the other direction keeps flowing; an error in either
// direction ends both. Counters move per chunk so live stats see long
// transfers progress.
func pipe(entry, exit io.ReadWriteCloser, out, in counter) (bytesIn, bytesOut int64) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		bytesOut = copyHalf(exit, entry, out)
	}()
	bytesIn = copyHalf(entry, exit, in)
	<-done
	entry.Close()
	exit.Close()
	return bytesIn, bytesOut
}

// Join copies a -> b and b -> a until both directions end, passing an EOF on
// as a half-close, then closes both; it returns the bytes copied each way.
// It is what every forwarded connection runs, for servers and tests that
// bridge connections the same way.
func Join(a, b io.ReadWriteCloser) (aToB, bToA int64) {
	bToA, aToB = pipe(a, b, counter{}, counter{})
	return aToB, bToA
}

// counter is where one direction's bytes are added per chunk: a forward's
// total and its connection's own; either may be nil.
type counter struct{ total, conn *atomic.Int64 }

func (c counter) add(n int64) {
	if c.total != nil {
		c.total.Add(n)
	}
	if c.conn != nil {
		c.conn.Add(n)
	}
}

func copyHalf(dst, src io.ReadWriteCloser, count counter) (n int64) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			if nw > 0 {
				n += int64(nw)
				count.add(int64(nw))
			}
			if werr == nil && nw != nr {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				break
			}
		}
		if errors.Is(rerr, io.EOF) {
			if cw, ok := dst.(closeWriter); ok && cw.CloseWrite() == nil {
				return n
			}
			break // cannot half-close: end both directions
		}
		if rerr != nil {
			break
		}
	}
	src.Close()
	dst.Close()
	return n
}
