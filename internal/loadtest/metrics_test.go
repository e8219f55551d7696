package loadtest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

const sampleMetrics = `# HELP ephemera_relay_connections Open client connections.
# TYPE ephemera_relay_connections gauge
ephemera_relay_connections 12
# TYPE ephemera_relay_messages_stored_total counter
ephemera_relay_messages_stored_total 1000
# TYPE ephemera_relay_rejected_frames_total counter
ephemera_relay_rejected_frames_total{reason="malformed"} 2
ephemera_relay_rejected_frames_total{reason="text"} 3
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.2345e+07
`

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, sampleMetrics)
	}))
	defer srv.Close()
	m, err := Scrape(context.Background(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		MetricStored: 1000, MetricRSS: 12345000, "ephemera_relay_rejected_frames_total": 5,
	} {
		if got := m[name]; got != want {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
	if c, ok := m.Connections(); !ok || c != 12 {
		t.Errorf("connections: got %v %v, want 12 true", c, ok)
	}
}
