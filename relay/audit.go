package relay

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// audit writes one record per stream when it ends: who, from where, what,
// how much and why it ended.
func (r *Relay) audit(s *stream) {
	level := slog.LevelInfo
	msg := "stream"
	if s.refusal != "" {
		level, msg = slog.LevelWarn, "refused"
	}
	attrs := []slog.Attr{
		slog.Uint64("id", s.id),
		slog.String("kind", s.kind),
		slog.String("from", s.client.String()),
		slog.String("target", clientText(s.target)),
		slog.String("addr", s.addr),
		slog.Int64("bytes_up", s.up.Load()),
		slog.Int64("bytes_down", s.down.Load()),
		// Seconds, not slog.Duration: its JSON form is nanoseconds.
		slog.Float64("duration_s", math.Round(time.Since(s.start).Seconds()*1000)/1000),
		slog.Int("close_code", int(s.code)),
		slog.String("close_reason", clientText(s.reason)),
	}
	if name := s.tokenName(); name != "" {
		attrs = append(attrs, slog.String("token", name))
	}
	if s.refusal != "" {
		attrs = append(attrs, slog.String("reason", s.refusal))
	}
	if s.hint != "" {
		attrs = append(attrs, slog.String("hint", s.hint))
	}
	r.log.LogAttrs(context.Background(), level, msg, attrs...)
}

// maxLoggedText bounds each client-chosen string in the log (a target, a
// path, a Host, an Origin): a client must not choose the size of a log line.
const maxLoggedText = 256

// clientText is s as the log should carry it: cut to maxLoggedText bytes,
// saying how long it was when cut.
func clientText(s string) string {
	if len(s) <= maxLoggedText {
		return s
	}
	return fmt.Sprintf("%s... (%d bytes)", truncate(s, maxLoggedText), len(s))
}
