package setup

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// deepTOML returns size bytes of TOML nesting as deep as it can, in each shape that
// makes BurntSushi/toml v1.6.0 allocate memory quadratic in the depth.
func deepTOML(size int) map[string]string {
	n := size / 4
	return map[string]string{
		"inline tables": "analytics = " + strings.Repeat("{a=", n) + "1" + strings.Repeat("}", n),
		"dotted key":    strings.Repeat("a.", n) + "a = 1",
		"table header":  "[" + strings.Repeat("a.", n) + "a]",
	}
}

// TestConfigDeepNestingRefusedFast: a 64 KB config.toml nested thousands deep (today
// several GB of allocation and seconds to minutes of CPU) is refused at once, with the
// file, the line and the limit, allocating almost nothing.
func TestConfigDeepNestingRefusedFast(t *testing.T) {
	for name, doc := range deepTOML(64000) {
		p := writeConfig(t, doc)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		_, err := LoadConfig(p)
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), p+":1: ") || !strings.Contains(err.Error(), "at most") {
			t.Errorf("%s: %v; want a refusal naming %s:1 and the limit", name, err, p)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Errorf("%s: %d bytes allocated to refuse it", name, alloc)
		}
		if took > 2*time.Second {
			t.Errorf("%s: took %v", name, took)
		}
	}
}

// FuzzParseConfig: any config.toml content of up to maxConfigSize is accepted or
// refused quickly (the fuzzer's own timeout and memory limit catch a blow-up), and an
// accepted one has only the known key.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("analytics = true\n"))
	f.Add([]byte("# c\nanalytics = false # x\n"))
	for _, d := range deepTOML(512) {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxConfigSize {
			return
		}
		if _, err := parseConfig("config.toml", data); err != nil && !strings.HasPrefix(err.Error(), "config.toml") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}
