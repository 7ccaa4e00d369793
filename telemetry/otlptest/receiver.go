// Package otlptest is a local OTLP/HTTP metrics receiver for tests: an httptest server
// on 127.0.0.1 that decodes the real protobuf payload (ExportMetricsServiceRequest)
// and counts connections, so a test can assert what was sent — or that nothing was.
package otlptest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"
)

// Receiver is a local OTLP/HTTP metrics endpoint.
type Receiver struct {
	srv   *httptest.Server
	conns atomic.Int64
	delay time.Duration
	stop  chan struct{}

	mu       sync.Mutex
	requests []*colmetricspb.ExportMetricsServiceRequest
	errs     []error
}

// New starts a receiver that answers after delay (0: at once); t.Cleanup stops it.
func New(t testing.TB, delay time.Duration) *Receiver {
	t.Helper()
	r := &Receiver{delay: delay, stop: make(chan struct{})}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.handle))
	r.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			r.conns.Add(1)
		}
	}
	r.srv.Start()
	t.Cleanup(r.Close)
	return r
}

// Close stops the server; a delayed handler returns at once.
func (r *Receiver) Close() {
	select {
	case <-r.stop:
		return
	default:
		close(r.stop)
	}
	r.srv.Close()
}

// Endpoint is the URL for OTEL_EXPORTER_OTLP_METRICS_ENDPOINT.
func (r *Receiver) Endpoint() string { return r.srv.URL + "/v1/metrics" }

// Connections is how many TCP connections were accepted.
func (r *Receiver) Connections() int64 { return r.conns.Load() }

// Point sets the standard OTLP environment of t so an exporter talks to r.
func (r *Receiver) Point(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", r.Endpoint())
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
}

func (r *Receiver) handle(w http.ResponseWriter, req *http.Request) {
	if r.delay > 0 {
		select {
		case <-time.After(r.delay):
		case <-r.stop:
		case <-req.Context().Done():
		}
	}
	body, err := io.ReadAll(req.Body)
	msg := &colmetricspb.ExportMetricsServiceRequest{}
	if err == nil {
		ct := req.Header.Get("Content-Type")
		if req.URL.Path != "/v1/metrics" || ct != "application/x-protobuf" {
			err = fmt.Errorf("unexpected request: %s %s, Content-Type %q", req.Method, req.URL.Path, ct)
		} else {
			err = proto.Unmarshal(body, msg)
		}
	}
	r.mu.Lock()
	if err != nil {
		r.errs = append(r.errs, err)
	} else {
		r.requests = append(r.requests, msg)
	}
	r.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&colmetricspb.ExportMetricsServiceResponse{})
	_, _ = w.Write(out)
}

// Metrics returns every decoded metric by name; decoding errors fail t.
func (r *Receiver) Metrics(t testing.TB) map[string]*metricspb.Metric {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, err := range r.errs {
		t.Errorf("OTLP receiver: %v", err)
	}
	out := map[string]*metricspb.Metric{}
	for _, req := range r.requests {
		for _, rm := range req.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					out[m.GetName()] = m
				}
			}
		}
	}
	return out
}

// ResourceAttr returns a string resource attribute of the requests received.
func (r *Receiver) ResourceAttr(key string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, req := range r.requests {
		for _, rm := range req.GetResourceMetrics() {
			if v, ok := Attrs(rm.GetResource().GetAttributes())[key]; ok {
				return v.GetStringValue(), true
			}
		}
	}
	return "", false
}

// Attrs indexes OTLP attributes by key.
func Attrs(kvs []*commonpb.KeyValue) map[string]*commonpb.AnyValue {
	m := map[string]*commonpb.AnyValue{}
	for _, kv := range kvs {
		m[kv.GetKey()] = kv.GetValue()
	}
	return m
}

// WantString checks a string attribute.
func WantString(t testing.TB, a map[string]*commonpb.AnyValue, k, want string) {
	t.Helper()
	v, ok := a[k]
	if !ok {
		t.Errorf("attribute %s missing", k)
		return
	}
	if got := v.GetStringValue(); got != want {
		t.Errorf("attribute %s = %q, want %q", k, got, want)
	}
}

// WantInt checks an integer attribute.
func WantInt(t testing.TB, a map[string]*commonpb.AnyValue, k string, want int64) {
	t.Helper()
	v, ok := a[k]
	if !ok {
		t.Errorf("attribute %s missing", k)
		return
	}
	if got := v.GetIntValue(); got != want {
		t.Errorf("attribute %s = %d, want %d", k, got, want)
	}
}
