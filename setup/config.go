package setup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/internal/safefile"
	"github.com/wfpsandbox/wfpsandbox/internal/tomlguard"
)

// Limits of config.toml. The file holds a handful of top-level keys; the depth limits
// keep BurntSushi/toml's cost, quadratic in a key's depth, small (see tomlguard).
const (
	maxConfigSize    = 64 << 10
	maxConfigDepth   = 8
	maxConfigNesting = 4
)

// Config is config.toml in the state directory. Every key is optional; unknown keys
// are errors (a typo must not silently leave a setting off).
//
//	# config.toml
//	analytics = true   # send OpenTelemetry metrics (see package telemetry)
//	readers = ["S-1-5-32-545"]   # who may read wfpsandbox's WFP objects (Options.Readers)
//
//	[service]          # the optional wfpsandbox service (package service)
//	poll = "5m"        # how often it re-checks every recorded account (Go duration, >= 1s, <= 24h)
//	callers = ["S-1-5-21-…-1001"]  # SIDs that may ask it for status and set-proxy-ports
//	drop_metrics = true  # count the sandbox accounts' drops (wfpsandbox.drops); needs analytics
type Config struct {
	// Analytics turns metrics on.
	Analytics bool `toml:"analytics"`
	// Readers are the SIDs granted FWPM_ACTRL_READ on the WFP objects setup adds
	// (Options.Readers; BUILTIN\Users when absent).
	Readers []string `toml:"readers"`
	// Service configures the wfpsandbox service.
	Service ServiceConfig `toml:"service"`
}

// ServiceConfig is config.toml's [service] table.
type ServiceConfig struct {
	// Poll is how often the service re-checks every recorded account, as a Go
	// duration ("5m", "30s"); DefaultServicePoll when empty. At least
	// MinServicePoll, at most MaxServicePoll.
	Poll string `toml:"poll"`
	// Callers are SIDs (users or groups, canonical S-1-… form) that may ask the
	// service for status and set-proxy-ports besides SYSTEM and Administrators.
	Callers []string `toml:"callers"`
	// DropMetrics makes the service subscribe to the WFP net events and count the
	// sandbox accounts' drops per account and rule (telemetry.MetricDrops). It takes
	// effect only with analytics on (AnalyticsEnabled), and only where net event
	// collection is on; the service never turns collection on.
	DropMetrics bool `toml:"drop_metrics"`
}

// Bounds and default of [service] poll.
const (
	DefaultServicePoll = 5 * time.Minute
	MinServicePoll     = time.Second
	MaxServicePoll     = 24 * time.Hour
)

// PollInterval returns the parsed poll interval (DefaultServicePoll when empty).
// LoadConfig has validated it.
func (c ServiceConfig) PollInterval() time.Duration {
	if c.Poll == "" {
		return DefaultServicePoll
	}
	d, err := time.ParseDuration(c.Poll)
	if err != nil {
		return DefaultServicePoll
	}
	return d
}

// validate checks [service]; errors name the key.
func (c ServiceConfig) validate() (key string, err error) {
	if c.Poll != "" {
		d, err := time.ParseDuration(c.Poll)
		if err != nil {
			return "poll", fmt.Errorf("%q is not a Go duration (\"5m\", \"30s\")", c.Poll)
		}
		if d < MinServicePoll || d > MaxServicePoll {
			return "poll", fmt.Errorf("%s is out of range: want %s to %s", c.Poll, MinServicePoll, MaxServicePoll)
		}
	}
	seen := map[string]bool{}
	for _, s := range c.Callers {
		sid, err := account.ParseSID(s)
		if err != nil {
			return "callers", fmt.Errorf("%q: %w", s, err)
		}
		if sid.String() != s {
			return "callers", fmt.Errorf("%q is not in canonical form (%s)", s, sid)
		}
		if seen[s] {
			return "callers", fmt.Errorf("%s listed twice", s)
		}
		seen[s] = true
	}
	return "", nil
}

// AnalyticsEnv is the environment variable that turns analytics on ("1", "true",
// "yes", "on"; "0", "false", "no", "off" or empty leave them off).
const AnalyticsEnv = "WFPSANDBOX_ANALYTICS"

// LoadConfig reads a config file. A missing file is an empty Config. Errors name the
// file and line: "C:\ProgramData\wfpsandbox\config.toml:3: unknown key "analytic"".
//
// The file must be a regular file (not a link: it lives in the state directory) of at
// most maxConfigSize bytes, nested at most maxConfigDepth deep; anything else is an
// error naming the file and the limit, and nothing else is read.
func LoadConfig(path string) (Config, error) {
	var c Config
	data, err := safefile.ReadNoFollow(path, maxConfigSize)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	return parseConfig(path, data)
}

// parseConfig decodes config.toml's content; path is for errors.
func parseConfig(path string, data []byte) (Config, error) {
	var c Config
	var deep *tomlguard.Error
	if err := tomlguard.Check(data, maxConfigDepth, maxConfigNesting); errors.As(err, &deep) {
		return Config{}, fmt.Errorf("%s:%d: %w", path, deep.Line, err)
	}
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return Config{}, fmt.Errorf("%s:%d: %s", path, pe.Position.Line, pe.Message)
		}
		// Type errors are plain errors: "toml: line N (last key "k"): …".
		if m := tomlLineRe.FindStringSubmatch(err.Error()); m != nil {
			if m[2] != "" {
				return Config{}, fmt.Errorf("%s:%s: key %q: %s", path, m[1], m[2], m[3])
			}
			return Config{}, fmt.Errorf("%s:%s: %s", path, m[1], m[3])
		}
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0]
		return Config{}, fmt.Errorf("%s:%d: unknown key %q (known keys: analytics, readers, [service] poll, callers and drop_metrics)", path, keyLine(data, k), k.String())
	}
	// The decoder matches keys to fields case-insensitively; TOML keys are
	// case-sensitive, and "Analytics" next to "analytics" silently overrode it.
	for _, k := range md.Keys() {
		switch ks := k.String(); ks {
		case "analytics", "readers", "service", "service.poll", "service.callers", "service.drop_metrics":
		default:
			return Config{}, fmt.Errorf("%s:%d: unknown key %q: keys are case-sensitive (known keys: analytics, readers, [service] poll, callers and drop_metrics)", path, keyLine(data, k), ks)
		}
	}
	if key, err := c.Service.validate(); err != nil {
		return Config{}, fmt.Errorf("%s:%d: service.%s: %w", path, keyLine(data, toml.Key{"service", key}), key, err)
	}
	return c, nil
}

// tomlLineRe splits a BurntSushi/toml decode error into line and message.
var tomlLineRe = regexp.MustCompile(`^toml: line (\d+)(?: \(last key "([^"]*)"\))?: (.*)$`)

// keyLine finds the line where key k is defined: "k =" for a top-level key, "[k]" or
// "[[k]]" for a table, the "last =" line inside the table "[first]" for a key of a
// table (service.poll), or the table header its first component opens. BurntSushi/toml
// keeps key positions private, so this scans the text; 0 when not found.
func keyLine(data []byte, k toml.Key) int {
	if len(k) == 0 {
		return 0
	}
	if len(k) == 2 {
		if n := tableKeyLine(data, k[0], k[1]); n > 0 {
			return n
		}
	}
	first := k[0]
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			name := strings.Trim(line, "[] \t")
			if name == first || strings.HasPrefix(name, first+".") ||
				strings.Trim(name, `"'`) == first {
				return n
			}
			continue
		}
		key, _, ok := strings.Cut(line, "=")
		key = strings.Trim(strings.TrimSpace(key), `"'`)
		if ok && (key == first || strings.HasPrefix(key, first+".")) {
			return n
		}
	}
	return 0
}

// tableKeyLine finds "key =" inside the table "[table]", or "table.key =" at top
// level; 0 when not found.
func tableKeyLine(data []byte, table, key string) int {
	sc := bufio.NewScanner(bytes.NewReader(data))
	in := false
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			in = strings.Trim(strings.Trim(line, "[] \t"), `"'`) == table
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.Trim(strings.TrimSpace(k), `"'`)
		if (in && k == key) || (!in && k == table+"."+key) {
			return n
		}
	}
	return 0
}

// parseBoolEnv parses AnalyticsEnv.
func parseBoolEnv(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true, nil
	case "", "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%s=%q: want 1/true/yes/on or 0/false/no/off", AnalyticsEnv, v)
}

// AnalyticsEnabled decides whether metrics are sent: flag (the caller's explicit
// opt-in, the CLI's --analytics) or AnalyticsEnv or "analytics = true" in the state
// directory's config.toml. An unparsable environment value counts as off and is
// returned as a warning; a bad config file is an error.
func AnalyticsEnabled(flag bool, stateDir string) (on bool, warning, err error) {
	env, warning := parseBoolEnv(os.Getenv(AnalyticsEnv))
	cfg, err := LoadConfig(configPath(stateDir))
	if err != nil {
		return false, warning, err
	}
	return flag || env || cfg.Analytics, warning, nil
}

func configPath(stateDir string) string { return filepath.Join(stateDir, ConfigFile) }

// ConfigPath returns the path of config.toml in the state directory stateDir.
func ConfigPath(stateDir string) string { return configPath(stateDir) }
