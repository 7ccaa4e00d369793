package policy_test

import (
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
)

// deepPolicies returns size bytes of TOML nesting as deep as it can, in each shape that
// makes BurntSushi/toml v1.6.0 allocate memory quadratic in the depth.
func deepPolicies(size int) map[string]string {
	n := size / 4
	return map[string]string{
		"inline tables": "profile = " + strings.Repeat("{a=", n) + "1" + strings.Repeat("}", n),
		"inline rules":  "rule = [" + strings.Repeat("{a=", n) + "1" + strings.Repeat("}", n) + "]",
		"dotted key":    strings.Repeat("a.", n) + "a = 1",
		"table header":  "[" + strings.Repeat("a.", n) + "a]",
		"array table":   "[[" + strings.Repeat("rule.", n) + "a]]",
		"arrays":        "proxy_ports = " + strings.Repeat("[", n) + strings.Repeat("]", n),
	}
}

// TestParseFileDeepNestingRefusedFast: a 64 KB policy file nested thousands deep
// (today gigabytes of allocation and up to minutes of CPU in the TOML decoder) is
// refused at once with the file, the line and the limit, allocating almost nothing.
func TestParseFileDeepNestingRefusedFast(t *testing.T) {
	for name, doc := range deepPolicies(64000) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		_, err := policy.ParseFile("deep.toml", []byte(doc))
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.HasPrefix(err.Error(), "deep.toml:1: ") || !strings.Contains(err.Error(), "at most") {
			t.Errorf("%s: %v; want a refusal naming deep.toml:1 and the limit", name, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Errorf("%s: %d bytes allocated to refuse it", name, alloc)
		}
		if took > 2*time.Second {
			t.Errorf("%s: took %v", name, took)
		}
	}
}

// TestParseFileAtTheLimitsIsBounded: the worst a policy file within the limits can do
// is bounded: 1 MiB of keys as deep as allowed decodes (and is refused for its
// content) within a fixed budget of memory and time.
func TestParseFileAtTheLimitsIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 1 MiB several times")
	}
	unit := map[string]string{ // K is replaced by a distinct key each time
		"dotted keys":   "K.b.c.d.e.f.g.h = 1\n",
		"table headers": "[K.b.c.d.e.f.g]\nh = 1\n",
		"inline tables": "K.b.c.d = {e.f = {g = {h = 1}}}\n",
	}
	for name, u := range unit {
		var b strings.Builder
		for i := 0; ; i++ {
			s := strings.Replace(u, "K", "k"+strconv.Itoa(i), 1)
			if b.Len()+len(s) > policy.MaxFileSize {
				break
			}
			b.WriteString(s)
		}
		doc := b.String()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		_, err := policy.ParseFile("wide.toml", []byte(doc))
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		// Measured: about 0.3-0.4 GB allocated in total (not live at once) and 1-2 s;
		// unbounded, 64 KB can take 28 GB.
		t.Logf("%s: %d bytes, %d MB allocated, %v", name, len(doc), (after.TotalAlloc-before.TotalAlloc)>>20, took)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<30 {
			t.Errorf("%s: %d MB allocated", name, alloc>>20)
		}
		if took > 20*time.Second {
			t.Errorf("%s: took %v", name, took)
		}
	}
}

func TestParseFileRefusesZones(t *testing.T) {
	for _, remote := range []string{"fe80::1%eth0", "fe80::1%1", "fe80::%lo", "fe80::1%eth0/64"} {
		doc := "[[rule]]\nid = \"z\"\naction = \"block\"\nremote = [\"" + remote + "\"]\n"
		f, err := policy.ParseFile("zone.toml", []byte(doc))
		if err == nil {
			t.Errorf("remote %q accepted as %v", remote, f.Rules[0].Remote)
			continue
		}
		if !strings.Contains(err.Error(), "zone.toml:4: rule[0].remote:") || !strings.Contains(err.Error(), "zone") {
			t.Errorf("remote %q: %v; want an error at zone.toml:4 about the zone", remote, err)
		}
	}
}
