package relay

import (
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Wrong tokens from one address make it wait before its next attempt, so
// guessing costs time: after freeTokenFailures failures the address waits
// TokenBackoff, doubling with each further failure up to maxBackoffFactor
// times that. While it waits every attempt is refused unchecked, right
// token or not. A right token clears the record.
const (
	freeTokenFailures = 3
	maxBackoffFactor  = 64
	maxBackoffEntries = 16384 // addresses remembered; beyond, expired ones go first
)

type backoff struct {
	base time.Duration
	mu   sync.Mutex
	m    map[netip.Prefix]*failures
}

type failures struct {
	n     int
	until time.Time // no attempt before
}

func newBackoff(base time.Duration) *backoff {
	return &backoff{base: base, m: map[netip.Prefix]*failures{}}
}

// wait is how long client must still wait; 0 when it may try.
func (b *backoff) wait(client netip.Addr) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.m[clientKey(client)]
	if f == nil {
		return 0
	}
	return max(0, time.Until(f.until))
}

// fail records a wrong token from client and returns its failures so far
// and the wait it now has.
func (b *backoff) fail(client netip.Addr) (int, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	key := clientKey(client)
	f := b.m[key]
	if f == nil {
		if len(b.m) >= maxBackoffEntries {
			b.pruneLocked()
		}
		f = &failures{}
		b.m[key] = f
	}
	f.n++
	if f.n <= freeTokenFailures {
		return f.n, 0
	}
	d := b.base << min(f.n-freeTokenFailures-1, 6) // 1x .. maxBackoffFactor x
	f.until = time.Now().Add(d)
	return f.n, d
}

func (b *backoff) success(client netip.Addr) {
	b.mu.Lock()
	delete(b.m, clientKey(client))
	b.mu.Unlock()
}

// pruneLocked forgets addresses whose wait ended long ago, or, if none,
// any: the table stays bounded under a flood of addresses.
func (b *backoff) pruneLocked() {
	old := time.Now().Add(-maxBackoffFactor * b.base)
	for k, f := range b.m {
		if f.until.Before(old) {
			delete(b.m, k)
		}
	}
	for k := range b.m {
		if len(b.m) < maxBackoffEntries {
			break
		}
		delete(b.m, k)
	}
}

func backoffReason(wait time.Duration) string {
	return fmt.Sprintf("too many wrong tokens from this address: retry in %v", wait.Round(100*time.Millisecond)+100*time.Millisecond)
}

// noteTokenFailure counts a failed authentication: a wrong token (not a
// missing one) also counts toward the address's backoff.
func (r *Relay) noteTokenFailure(client netip.Addr, err error) {
	if err != errWrongToken {
		return
	}
	r.metrics.tokenFailures.Inc()
	n, wait := r.backoff.fail(client)
	attrs := []any{"from", client.String(), "failures", n}
	if wait > 0 {
		attrs = append(attrs, "backoff_s", wait.Seconds())
	}
	r.log.Warn("wrong token", attrs...)
}
