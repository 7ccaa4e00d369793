package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
	"github.com/wfpsandbox/wfpsandbox/wfp/winengine"
)

// engineFlag adds --engine to a command. The default is the live engine on Windows;
// elsewhere a command that needs an engine must be given memory:PATH.
func engineFlag(fs *flag.FlagSet) *string {
	return fs.String("engine", defaultEngine(),
		"filter engine: 'windows' (the live Base Filtering Engine) or 'memory:PATH' (a simulated host kept in the file PATH)")
}

func defaultEngine() string {
	if runtime.GOOS == "windows" {
		return "windows"
	}
	return ""
}

// openEngine opens the engine an --engine value names. A memory:PATH whose file does
// not exist is an error: only setup (and ensure, which runs setup) creates a simulated
// host (openEngineFor), so a mistyped path cannot make verify report a missing policy or
// uninstall report 0 writes and forget the record of the real host.
func openEngine(spec string) (wfp.Engine, error) {
	return openEngineFor(spec, false)
}

// openEngineFor opens the engine an --engine value names; with create, a memory:PATH
// whose file does not exist is an empty simulated host, which its first commit creates.
func openEngineFor(spec string, create bool) (wfp.Engine, error) {
	switch {
	case spec == "windows":
		e, err := winengine.Open(winengine.Options{
			Name:           "wfpsandbox",
			Description:    "wfpsandbox policy management session",
			TxnWaitTimeout: 10 * time.Second,
		})
		if err != nil {
			return nil, err // not e: a nil *Engine in an interface is not a nil interface
		}
		return e, nil
	case strings.HasPrefix(spec, "memory:"):
		path := strings.TrimPrefix(spec, "memory:")
		if path == "" {
			return nil, fmt.Errorf("--engine memory:PATH needs a file path")
		}
		if !create {
			if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("--engine %s: there is no simulated host at %s: check the path (only setup creates a simulated host)", spec, path)
			}
		}
		e, err := memengine.OpenFile(path)
		if err != nil {
			return nil, err
		}
		return e, nil
	case spec == "":
		return nil, fmt.Errorf("%w: there is no Windows Filtering Platform on %s; pass --engine memory:PATH to work on a simulated host",
			wfp.ErrUnavailable, runtime.GOOS)
	default:
		return nil, fmt.Errorf("unknown --engine %q: want 'windows' or 'memory:PATH'", spec)
	}
}
