package relay

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics live on a registry of their own, so many relays can coexist.
type metrics struct {
	reg           *prometheus.Registry
	active        *prometheus.GaugeVec
	total         *prometheus.CounterVec
	bytesUp       prometheus.Counter // client -> target
	bytesDown     prometheus.Counter // target -> client
	refusals      *prometheus.CounterVec
	dialDuration  prometheus.Histogram
	tokenFailures prometheus.Counter
}

func newMetrics() *metrics {
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tunnelkit_relay_bytes_total",
		Help: "Stream bytes relayed, by direction (up: client to target, down: target to client).",
	}, []string{"direction"})
	m := &metrics{
		reg: prometheus.NewRegistry(),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tunnelkit_relay_streams_active",
			Help: "Streams open now, by kind (dial, listen, accept).",
		}, []string{"kind"}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tunnelkit_relay_streams_total",
			Help: "Streams opened, by kind (dial, listen, accept).",
		}, []string{"kind"}),
		bytesUp:   bytes.WithLabelValues("up"),
		bytesDown: bytes.WithLabelValues("down"),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tunnelkit_relay_refusals_total",
			Help: "Streams refused, by reason.",
		}, []string{"reason"}),
		dialDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tunnelkit_relay_dial_duration_seconds",
			Help:    "Time to resolve and connect to a dial target.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9),
		}),
	}
	m.tokenFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tunnelkit_relay_token_failures_total",
		Help: "Wrong tokens presented (each counts toward its address's backoff).",
	})
	m.reg.MustRegister(m.active, m.total, bytes, m.refusals, m.dialDuration, m.tokenFailures,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
