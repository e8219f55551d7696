package relay

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Reasons a frame or connection is refused, as metric labels.
const (
	reasonMalformed   = "malformed"       // the frame does not decode
	reasonText        = "text"            // a text WebSocket message
	reasonTooBig      = "too_big"         // above the read limit
	reasonUnexpected  = "unexpected_type" // a response or push type sent by a client
	reasonRequestID   = "zero_request_id" // a request with id 0
	reasonRateLimited = "rate_limited"    // far beyond the connection's frame rate
	reasonMaxConns    = "max_conns"
	reasonIPConns     = "ip_max_conns"
	reasonIPRate      = "ip_conn_rate"
	reasonShutdown    = "shutting_down"
	reasonHost        = "host"   // Host not in Access.Hosts (/v1/ws and /metrics)
	reasonOrigin      = "origin" // Origin refused by Access (/v1/ws and /metrics)
)

type metrics struct {
	connections       prometheus.Gauge
	connectionsTotal  prometheus.Counter
	rejectedConns     *prometheus.CounterVec
	stored            prometheus.Counter
	delivered         prometheus.Counter
	acked             prometheus.Counter
	expired           prometheus.Counter
	bytesStored       prometheus.Counter
	bytesDelivered    prometheus.Counter
	rejectedFrames    *prometheus.CounterVec
	storeLatency      *prometheus.HistogramVec
	blobBytes         prometheus.Counter
	prekeyClaims      prometheus.Counter
	panics            prometheus.Counter
	requestsThrottled prometheus.Counter
	deliveryBytes     prometheus.GaugeFunc
	deliveryWaits     prometheus.Counter
	mailboxConnLimit  prometheus.Counter
	slowReaders       prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, deliver *budget) (*metrics, error) {
	const ns = "ephemera_relay"
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "connections",
			Help: "Open client connections."}),
		connectionsTotal: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "connections_total",
			Help: "Client connections accepted."}),
		rejectedConns: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rejected_connections_total",
			Help: "Connections (and /metrics requests) refused before being served, by reason."}, []string{"reason"}),
		stored: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "messages_stored_total",
			Help: "Envelopes made durable."}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "messages_delivered_total",
			Help: "Deliver frames written."}),
		acked: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "messages_acknowledged_total",
			Help: "Envelopes deleted because their recipient acknowledged them."}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "messages_expired_total",
			Help: "Envelopes deleted by the sweeper because their TTL passed."}),
		bytesStored: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "bytes_stored_total",
			Help: "Envelope bytes made durable."}),
		bytesDelivered: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "bytes_delivered_total",
			Help: "Envelope bytes in Deliver frames written."}),
		rejectedFrames: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rejected_frames_total",
			Help: "Frames that closed their connection, by reason."}, []string{"reason"}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "store_latency_seconds",
			Help:    "Latency of store operations.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}},
			[]string{"op"}),
		blobBytes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "blob_bytes_total",
			Help: "Blob bytes written."}),
		prekeyClaims: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "prekey_claims_total",
			Help: "Prekey bundles handed out."}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "panics_total",
			Help: "Panics recovered while serving a connection (each one is a bug)."}),
		requestsThrottled: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "throttled_frames_total",
			Help: "Frames read late because their connection was above its frame rate."}),
		deliveryBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "delivery_buffered_bytes",
			Help: "Deliver frame bytes held in memory now (read and not yet written); at most the relay's delivery budget."},
			func() float64 { return float64(deliver.held()) }),
		deliveryWaits: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "delivery_budget_waits_total",
			Help: "Store reads for delivery that waited for room in a connection's, mailbox's or the relay's delivery budget."}),
		mailboxConnLimit: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "mailbox_conn_limit_total",
			Help: "Auth and Register refused because the mailbox had the most connections allowed."}),
		slowReaders: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "slow_readers_closed_total",
			Help: "Connections closed because they did not read a frame within the write timeout."}),
	}
	for _, c := range []prometheus.Collector{m.connections, m.connectionsTotal, m.rejectedConns, m.stored,
		m.delivered, m.acked, m.expired, m.bytesStored, m.bytesDelivered, m.rejectedFrames, m.storeLatency,
		m.blobBytes, m.prekeyClaims, m.panics, m.requestsThrottled, m.deliveryBytes, m.deliveryWaits,
		m.mailboxConnLimit, m.slowReaders} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Make the labelled series visible at zero, so dashboards and the load
	// tool find them before the first rejection.
	for _, r := range []string{reasonMalformed, reasonText, reasonTooBig, reasonUnexpected, reasonRequestID, reasonRateLimited} {
		m.rejectedFrames.WithLabelValues(r)
	}
	for _, r := range []string{reasonMaxConns, reasonIPConns, reasonIPRate, reasonShutdown, reasonHost, reasonOrigin} {
		m.rejectedConns.WithLabelValues(r)
	}
	return m, nil
}

// newRegistry is the registry used when Config.Registry is nil: it also
// exports the Go runtime and process metrics (process_resident_memory_bytes
// is what the load tool watches).
func newRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}
