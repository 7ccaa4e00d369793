package setup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), ConfigFile)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfig(t *testing.T) {
	c, err := LoadConfig(filepath.Join(t.TempDir(), "missing.toml"))
	if err != nil || c.Analytics {
		t.Errorf("missing file: %+v %v", c, err)
	}
	c, err = LoadConfig(writeConfig(t, "# comment\n\nanalytics = true # yes\n"))
	if err != nil || !c.Analytics {
		t.Errorf("analytics = true: %+v %v", c, err)
	}
	for _, tc := range []struct{ body, want string }{
		{"analytics = true\nanalytic = false\n", ":2: unknown key \"analytic\""},
		{"\n\n[telemetry]\nendpoint = \"x\"\n", ":3: unknown key \"telemetry\""},
		{"analytics = \"yes\"\n", ":1: key \"analytics\": incompatible types"},
		{"analytics = true\nanalytics = false\n", ":2: "},
		{"analytics = \n", ":1: "},
		// Keys are case-sensitive: Analytics silently overrode analytics.
		{"analytics = false\nAnalytics = true\n", ":2: unknown key \"Analytics\": keys are case-sensitive"},
		{"READERS = [\"S-1-5-32-545\"]\n", ":1: unknown key \"READERS\""},
	} {
		p := writeConfig(t, tc.body)
		_, err := LoadConfig(p)
		if err == nil || !strings.Contains(err.Error(), p+tc.want) {
			t.Errorf("config %q: error %v, want it to contain %q", tc.body, err, p+tc.want)
		}
	}
}

func TestAnalyticsEnabled(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		flag bool
		env  string
		cfg  string
		want bool
		warn bool
	}{
		{false, "", "", false, false},
		{true, "", "", true, false},
		{false, "1", "", true, false},
		{false, "TRUE", "", true, false},
		{false, "off", "", false, false},
		{false, "maybe", "", false, true},
		{false, "", "analytics = true", true, false},
		{false, "0", "analytics = true", true, false},
	} {
		t.Setenv(AnalyticsEnv, tc.env)
		if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(tc.cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		on, warn, err := AnalyticsEnabled(tc.flag, dir)
		if err != nil || on != tc.want || (warn != nil) != tc.warn {
			t.Errorf("flag %v env %q cfg %q: on %v warn %v err %v", tc.flag, tc.env, tc.cfg, on, warn, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte("x = 1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := AnalyticsEnabled(true, dir); err == nil {
		t.Error("bad config accepted")
	}
}

func TestDefaultStateDir(t *testing.T) {
	abs := filepath.Join(t.TempDir(), "st")
	t.Setenv(StateDirEnv, abs)
	if d, err := DefaultStateDir(); err != nil || d != abs {
		t.Errorf("with %s=%s: %q, %v", StateDirEnv, abs, d, err)
	}
	t.Setenv(StateDirEnv, "relative/dir")
	if _, err := DefaultStateDir(); err == nil {
		t.Error("relative override accepted")
	}
	t.Setenv(StateDirEnv, "")
	d, err := DefaultStateDir()
	if err != nil || !filepath.IsAbs(d) || filepath.Base(d) != "wfpsandbox" {
		t.Errorf("default: %q, %v", d, err)
	}
}

func TestLoadConfigService(t *testing.T) {
	const sid = "S-1-5-21-1111111111-2222222222-3333333333-1001"
	c, err := LoadConfig(writeConfig(t, "analytics = false\n[service]\npoll = \"30s\"\ncallers = [\""+sid+"\", \"S-1-5-32-545\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Service.PollInterval(); got != 30*time.Second {
		t.Errorf("poll %v, want 30s", got)
	}
	if len(c.Service.Callers) != 2 || c.Service.Callers[0] != sid {
		t.Errorf("callers %v", c.Service.Callers)
	}
	if c.Service.DropMetrics {
		t.Error("drop_metrics on although the file does not say so")
	}
	c, err = LoadConfig(writeConfig(t, "analytics = true\n[service]\ndrop_metrics = true\n"))
	if err != nil || !c.Service.DropMetrics {
		t.Errorf("drop_metrics = true: %+v %v", c.Service, err)
	}
	c, err = LoadConfig(writeConfig(t, "analytics = true\n"))
	if err != nil || c.Service.PollInterval() != DefaultServicePoll || len(c.Service.Callers) != 0 || c.Service.DropMetrics {
		t.Errorf("no [service]: %+v %v", c.Service, err)
	}
	for _, tc := range []struct{ body, want string }{
		{"[service]\npoll = \"5m\"\npol = \"1m\"\n", ":3: unknown key \"service.pol\""},
		{"[service]\n\npoll = \"500ms\"\n", ":3: service.poll: 500ms is out of range"},
		{"[service]\npoll = \"25h\"\n", ":2: service.poll: 25h is out of range"},
		{"[service]\npoll = \"often\"\n", ":2: service.poll: \"often\" is not a Go duration"},
		{"[service]\npoll = 5\n", ":2: key \"service.poll\": incompatible types"},
		{"# c\n[service]\ncallers = [\"nobody\"]\n", ":3: service.callers: \"nobody\""},
		{"[service]\ncallers = [\"S-1-5-032-545\"]\n", ":2: service.callers: \"S-1-5-032-545\""},
		{"[service]\ncallers = [\"S-1-5-18\", \"S-1-5-18\"]\n", ":2: service.callers: S-1-5-18 listed twice"},
		{"service.poll = \"0s\"\n", ":1: service.poll: 0s is out of range"},
		{"[service]\ndrop_metrics = \"yes\"\n", ":2: key \"service.drop_metrics\": incompatible types"},
		{"[service]\ndrop_metrics = 1\n", ":2: key \"service.drop_metrics\": incompatible types"},
		{"[service]\ndropmetrics = true\n", ":2: unknown key \"service.dropmetrics\""},
		{"[service]\nDrop_Metrics = true\n", ":2: unknown key \"service.Drop_Metrics\": keys are case-sensitive"},
	} {
		p := writeConfig(t, tc.body)
		_, err := LoadConfig(p)
		if err == nil || !strings.Contains(err.Error(), p+tc.want) {
			t.Errorf("config %q: error %v, want it to contain %q", tc.body, err, p+tc.want)
		}
	}
}
