package telemetry

import (
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

// receiver is a local OTLP/HTTP metrics endpoint that decodes the real protobuf
// payload and counts connections.
type receiver struct {
	srv   *httptest.Server
	conns atomic.Int64
	delay time.Duration
	stop  chan struct{}

	mu       sync.Mutex
	requests []*colmetricspb.ExportMetricsServiceRequest
	errs     []error
}

func newReceiver(t *testing.T, delay time.Duration) *receiver {
	t.Helper()
	r := &receiver{delay: delay, stop: make(chan struct{})}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.handle))
	r.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			r.conns.Add(1)
		}
	}
	r.srv.Start()
	t.Cleanup(func() {
		close(r.stop)
		r.srv.Close()
	})
	return r
}

// endpoint is the URL for OTEL_EXPORTER_OTLP_METRICS_ENDPOINT.
func (r *receiver) endpoint() string { return r.srv.URL + "/v1/metrics" }

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
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
		if req.URL.Path != "/v1/metrics" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			err = &badRequest{path: req.URL.Path, ctype: req.Header.Get("Content-Type")}
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

type badRequest struct{ path, ctype string }

func (b *badRequest) Error() string { return "unexpected request " + b.path + " " + b.ctype }

// metrics returns every decoded metric by name.
func (r *receiver) metrics(t *testing.T) map[string]*metricspb.Metric {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, err := range r.errs {
		t.Errorf("receiver: %v", err)
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

// resourceAttr returns a resource attribute of the first request.
func (r *receiver) resourceAttr(key string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, req := range r.requests {
		for _, rm := range req.GetResourceMetrics() {
			if v, ok := attrs(rm.GetResource().GetAttributes())[key]; ok {
				return v.GetStringValue(), true
			}
		}
	}
	return "", false
}

func attrs(kvs []*commonpb.KeyValue) map[string]*commonpb.AnyValue {
	m := map[string]*commonpb.AnyValue{}
	for _, kv := range kvs {
		m[kv.GetKey()] = kv.GetValue()
	}
	return m
}
