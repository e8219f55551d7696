package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ephemera-im/ephemera/net/wsconn"
)

// Metrics is one scrape of a relay's /metrics: each counter, gauge or
// untyped family by name, summed over its label sets.
type Metrics map[string]float64

// Scrape reads the Prometheus text exposition at url.
func Scrape(ctx context.Context, hc *http.Client, url string) (Metrics, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	out := make(Metrics, len(fams))
	for name, f := range fams {
		var sum float64
		for _, m := range f.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetUntyped() != nil:
				sum += m.GetUntyped().GetValue()
			}
		}
		out[name] = sum
	}
	return out, nil
}

// Find returns the value of the first name present.
func (m Metrics) Find(names ...string) (float64, bool) {
	for _, n := range names {
		if v, ok := m[n]; ok {
			return v, true
		}
	}
	return 0, false
}

// MetricsURLFor derives a relay's /metrics URL from its WebSocket URL when
// the relay is on this machine (a loopback host), or returns "".
func MetricsURLFor(wsURL string) string {
	u, err := url.Parse(wsURL)
	if err != nil || !wsconn.IsLoopbackHost(u.Hostname()) {
		return ""
	}
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
		u.Scheme = "http"
	case "wss", "https":
		u.Scheme = "https"
	default:
		return ""
	}
	u.Path, u.RawQuery, u.Fragment = "/metrics", "", ""
	return u.String()
}

// Names of the relay metrics the load tool reads.
const (
	MetricRSS          = "process_resident_memory_bytes"
	MetricCPU          = "process_cpu_seconds_total"
	MetricStored       = "ephemera_relay_messages_stored_total"
	MetricDelivered    = "ephemera_relay_messages_delivered_total"
	MetricAcknowledged = "ephemera_relay_messages_acknowledged_total"
	MetricHeapInuse    = "go_memstats_heap_inuse_bytes"
	MetricStackInuse   = "go_memstats_stack_inuse_bytes"
	MetricGoroutines   = "go_goroutines"
)

// connectionGauges are the names the relay's open-connections gauge may
// have; the first present is used.
var connectionGauges = []string{
	"ephemera_relay_connections",
	"ephemera_relay_connections_open",
	"ephemera_relay_open_connections",
	"ephemera_relay_connections_current",
	"ephemera_relay_active_connections",
}

// Connections returns the relay's open-connections gauge, if it has one.
func (m Metrics) Connections() (float64, bool) {
	if v, ok := m.Find(connectionGauges...); ok {
		return v, true
	}
	for name, v := range m {
		if strings.HasPrefix(name, "ephemera_relay_") && strings.Contains(name, "connections") &&
			!strings.HasSuffix(name, "_total") {
			return v, true
		}
	}
	return 0, false
}
