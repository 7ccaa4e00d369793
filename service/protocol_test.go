package service

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestParseRequestAcceptsValid(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Request
	}{
		{`{"version":1,"op":"status","sid":"` + sidStrict + `"}`, Request{Version: 1, Op: OpStatus, SID: sidStrict}},
		{" {\"op\":\"set-proxy-ports\",\"version\":1,\"sid\":\"" + sidStrict + "\",\"proxyPorts\":[3128,65535,1]}\n",
			Request{Version: 1, Op: OpSetProxyPorts, SID: sidStrict, ProxyPorts: []uint16{3128, 65535, 1}}},
		{`{"version":1,"op":"events","sid":"` + sidStrict + `","since":"15m"}`, Request{Version: 1, Op: OpEvents, SID: sidStrict, Since: "15m"}},
		{`{"version":1,"op":"events","sid":"` + sidStrict + `"}`, Request{Version: 1, Op: OpEvents, SID: sidStrict}},
	} {
		got, err := ParseRequest([]byte(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got.Op != tc.want.Op || got.SID != tc.want.SID || got.Since != tc.want.Since ||
			len(got.ProxyPorts) != len(tc.want.ProxyPorts) {
			t.Errorf("%s: got %+v, want %+v", tc.in, got, tc.want)
		}
		for i := range got.ProxyPorts {
			if got.ProxyPorts[i] != tc.want.ProxyPorts[i] {
				t.Errorf("%s: ports %v", tc.in, got.ProxyPorts)
			}
		}
	}
}

func TestParseRequestRefuses(t *testing.T) {
	ports := func(n int) string {
		var s []string
		for i := 1; i <= n; i++ {
			s = append(s, strconv.Itoa(1000+i))
		}
		return "[" + strings.Join(s, ",") + "]"
	}
	sp := `{"version":1,"op":"set-proxy-ports","sid":"` + sidStrict + `","proxyPorts":`
	for _, tc := range []struct{ in, code, want string }{
		{``, CodeBadRequest, "empty"},
		{`   `, CodeBadRequest, "empty"},
		{`[1]`, CodeBadRequest, "not a JSON object"},
		{`{"op":"status"`, CodeBadRequest, "not a JSON object"},
		{`{"op":"status","sid":"` + sidStrict + `"}`, CodeBadRequest, `no "version"`},
		{`{"version":"1","op":"status","sid":"` + sidStrict + `"}`, CodeBadRequest, "not an integer"},
		{`{"version":2,"op":"status","sid":"` + sidStrict + `"}`, CodeVersion, "protocol version 2"},
		{`{"version":0,"op":"status","sid":"` + sidStrict + `"}`, CodeVersion, "protocol version 0"},
		{`{"version":1,"op":"status","sid":"` + sidStrict + `","admin":true}`, CodeBadRequest, `unknown field "admin"`},
		{`{"version":1,"op":"status","sid":"` + sidStrict + `"} {}`, CodeBadRequest, "not a JSON object"},
		{`{"version":1,"op":"status","sid":"` + sidStrict + `"}x`, CodeBadRequest, ""},
		{`{"version":1,"sid":"` + sidStrict + `"}`, CodeBadRequest, `no "op"`},
		{`{"version":1,"op":"uninstall","sid":"` + sidStrict + `"}`, CodeBadRequest, `unknown op "uninstall"`},
		{`{"version":1,"op":"status"}`, CodeBadRequest, `no "sid"`},
		{`{"version":1,"op":"status","sid":"S-1-5-18"}`, CodeBadRequest, "sid S-1-5-18"},
		{`{"version":1,"op":"status","sid":"S-1-5-32-544"}`, CodeBadRequest, "sid S-1-5-32-544"},
		{`{"version":1,"op":"status","sid":"s-1-5-21-1111111111-2222222222-3333333333-1001"}`, CodeBadRequest, "sid"},
		{`{"version":1,"op":"status","sid":"S-1-5-21-01111111111-2222222222-3333333333-1001"}`, CodeBadRequest, "sid"},
		{`{"version":1,"op":"status","sid":"` + sidStrict + `","proxyPorts":[1]}`, CodeBadRequest, `takes no "proxyPorts"`},
		{`{"version":1,"op":"status","sid":"` + sidStrict + `","proxyPorts":[]}`, CodeBadRequest, `takes no "proxyPorts"`},
		{`{"version":1,"op":"set-proxy-ports","sid":"` + sidStrict + `","proxyPorts":[1],"since":"1h"}`, CodeBadRequest, `takes no "since"`},
		{`{"version":1,"op":"set-proxy-ports","sid":"` + sidStrict + `"}`, CodeBadRequest, `no "proxyPorts"`},
		{sp + `[]}`, CodeBadRequest, `no "proxyPorts"`},
		{sp + `[0]}`, CodeBadRequest, "port 0"},
		{sp + `[65536]}`, CodeBadRequest, "65536"},
		{sp + `[-1]}`, CodeBadRequest, "-1"},
		{sp + `[80.5]}`, CodeBadRequest, "80.5"},
		{sp + `["80"]}`, CodeBadRequest, "string"},
		{sp + `[80,443,80]}`, CodeBadRequest, "80 listed twice"},
		{sp + ports(17) + `}`, CodeBadRequest, "17 proxy ports, at most 16"},
		{`{"version":1,"op":"events","sid":"` + sidStrict + `","since":"25h"}`, CodeBadRequest, "out of range"},
		{`{"version":1,"op":"events","sid":"` + sidStrict + `","since":"-1m"}`, CodeBadRequest, "out of range"},
		{`{"version":1,"op":"events","sid":"` + sidStrict + `","since":"yesterday"}`, CodeBadRequest, "not a Go duration"},
		{`{"version":1,"op":"status","sid":"` + sidStrict + `","pad":"` + strings.Repeat("x", MaxRequestSize) + `"}`, CodeTooLarge, "more than"},
	} {
		_, err := ParseRequest([]byte(tc.in))
		var re *RequestError
		if !errors.As(err, &re) {
			t.Errorf("%.80s: error %v, want a *RequestError", tc.in, err)
			continue
		}
		if re.Code != tc.code || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.80s: %s %v, want %s containing %q", tc.in, re.Code, err, tc.code, tc.want)
		}
	}
	// 16 ports are accepted: the limit is exact.
	if _, err := ParseRequest([]byte(sp + ports(16) + `}`)); err != nil {
		t.Errorf("16 ports: %v", err)
	}
}

func TestReadFrame(t *testing.T) {
	in := `{"version":1,"op":"status","sid":"` + sidStrict + `"}` + "\n" + "next"
	r := NewFrameReader(strings.NewReader(in))
	got, err := r.ReadFrame()
	if err != nil || string(got) != in[:strings.IndexByte(in, '\n')] {
		t.Fatalf("frame %q %v", got, err)
	}
	if _, err := r.ReadFrame(); err == nil {
		t.Error("an unterminated frame at EOF was accepted")
	}
	big := NewFrameReader(strings.NewReader(strings.Repeat("x", MaxRequestSize+10) + "\n"))
	_, err = big.ReadFrame()
	var re *RequestError
	if !errors.As(err, &re) || re.Code != CodeTooLarge {
		t.Errorf("oversized frame: %v", err)
	}
}
