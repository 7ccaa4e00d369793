package service

import (
	"context"
	"encoding/json"
	"testing"
)

// FuzzParseRequest: the decoder never panics; what it accepts is valid, within every
// limit, and decodes again to the same request once re-encoded; and Handle answers
// anything with one response and no panic.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"version":1,"op":"status","sid":"` + sidStrict + `"}`,
		`{"version":1,"op":"set-proxy-ports","sid":"` + sidStrict + `","proxyPorts":[3128,8080]}`,
		`{"version":1,"op":"events","sid":"` + sidStrict + `","since":"15m"}`,
		`{"version":2}`, `{"version":1,"op":"status","sid":"S-1-5-18","x":1}`, `[]`, ``, `{"version":1e400}`,
	} {
		f.Add([]byte(s))
	}
	// A service with no engine behind it: requests that pass validation and
	// authorization fail on the engine, which is what is wanted here.
	svc, err := New(Config{StateDir: f.TempDir(), Open: func() (wfpEngine, error) { return nil, errNoEngine }, Callers: []string{sidCaller}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ParseRequest(data)
		if err != nil {
			if req != nil {
				t.Fatalf("a request and an error: %+v %v", req, err)
			}
		} else {
			if err := req.Validate(); err != nil {
				t.Fatalf("accepted an invalid request %q: %v", data, err)
			}
			if len(req.ProxyPorts) > MaxProxyPorts || len(data) > MaxRequestSize {
				t.Fatalf("accepted beyond the limits: %q", data)
			}
			again, err := json.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			req2, err := ParseRequest(again)
			if err != nil || req2.Op != req.Op || req2.SID != req.SID || len(req2.ProxyPorts) != len(req.ProxyPorts) || req2.Since != req.Since {
				t.Fatalf("round trip of %q: %q %+v %v", data, again, req2, err)
			}
		}
		for i, c := range []Caller{stranger, caller} {
			resp := svc.Handle(context.Background(), c, data)
			if resp == nil || resp.Version != ProtocolVersion || (resp.OK == (resp.Error != nil)) {
				t.Fatalf("response %+v", resp)
			}
			if err != nil && resp.OK {
				t.Fatalf("an invalid request %q was answered OK", data)
			}
			if i == 0 && resp.OK {
				t.Fatalf("a stranger got an OK answer to %q", data)
			}
		}
	})
}
