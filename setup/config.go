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

	"github.com/BurntSushi/toml"

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
type Config struct {
	// Analytics turns metrics on.
	Analytics bool `toml:"analytics"`
	// Readers are the SIDs granted FWPM_ACTRL_READ on the WFP objects setup adds
	// (Options.Readers; BUILTIN\Users when absent).
	Readers []string `toml:"readers"`
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
		return Config{}, fmt.Errorf("%s:%d: unknown key %q (known keys: analytics, readers)", path, keyLine(data, k), k.String())
	}
	// The decoder matches keys to fields case-insensitively; TOML keys are
	// case-sensitive, and "Analytics" next to "analytics" silently overrode it.
	for _, k := range md.Keys() {
		if ks := k.String(); ks != "analytics" && ks != "readers" {
			return Config{}, fmt.Errorf("%s:%d: unknown key %q: keys are case-sensitive (known keys: analytics, readers)", path, keyLine(data, k), ks)
		}
	}
	return c, nil
}

// tomlLineRe splits a BurntSushi/toml decode error into line and message.
var tomlLineRe = regexp.MustCompile(`^toml: line (\d+)(?: \(last key "([^"]*)"\))?: (.*)$`)

// keyLine finds the line where key k is defined: "k =" for a top-level key, "[k]" or
// "[[k]]" for a table, or the table header its first component opens. BurntSushi/toml
// keeps key positions private, so this scans the text; 0 when not found.
func keyLine(data []byte, k toml.Key) int {
	if len(k) == 0 {
		return 0
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
