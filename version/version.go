// Package version holds wfpsandbox's release version and build details.
package version

import "runtime/debug"

// Tool is the release version of wfpsandbox. Release builds may override it with
// -ldflags "-X github.com/wfpsandbox/wfpsandbox/version.Tool=1.2.3".
var Tool = "0.1.0-dev"

// Info describes the running binary.
type Info struct {
	Version   string `json:"version"`
	GoVersion string `json:"goVersion"`
	Commit    string `json:"commit,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
}

// Get returns the version and, when the binary was built from a git checkout with
// VCS stamping, its commit.
func Get() Info {
	info := Info{Version: Tool}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	info.GoVersion = bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}
