//go:build wine

package winetest

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// record is one line of the emulator's call log (wine/fwpemu/api.c), or one of its
// "wfpemu.memory" accounting lines.
type record struct {
	Seq      int             `json:"seq"`
	PID      int             `json:"pid"`
	Fn       string          `json:"fn"`
	Status   string          `json:"status"`
	Txn      string          `json:"txn"`
	Injected bool            `json:"injected"`
	Args     json.RawMessage `json:"args"`
	Out      json.RawMessage `json:"out"`

	Event        string `json:"event"`
	Allocs       uint64 `json:"allocs"`
	Frees        uint64 `json:"frees"`
	Outstanding  uint64 `json:"outstanding"`
	BadFrees     uint64 `json:"badFrees"`
	OpenSessions uint64 `json:"openSessions"`
	Leak         bool   `json:"leak"`
}

const statusOK = "0x00000000"

type callLog []record

func readCallLog(t *testing.T, path string) callLog {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var log callLog
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: bad log line %q: %v", path, sc.Text(), err)
		}
		log = append(log, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return log
}

// calls returns the records of one function, in order.
func (l callLog) calls(fn string) []record {
	var out []record
	for _, r := range l {
		if r.Fn == fn {
			out = append(out, r)
		}
	}
	return out
}

// writes returns the Add and Delete calls, failed ones included.
func (l callLog) writes() []record {
	var out []record
	for _, r := range l {
		if strings.HasPrefix(r.Fn, "Fwpm") && (strings.Contains(r.Fn, "Add0") || strings.Contains(r.Fn, "DeleteByKey0")) {
			out = append(out, r)
		}
	}
	return out
}

// memory returns the accounting line written at process exit.
func (l callLog) memory(t *testing.T) record {
	t.Helper()
	for _, r := range l {
		if r.Fn == "wfpemu.memory" && r.Event == "ProcessExit" {
			return r
		}
	}
	t.Fatal("the call log has no wfpemu.memory ProcessExit line")
	return record{}
}

// checkMemory fails when the process leaked memory the DLL returned, freed memory the
// DLL did not return, or exited with an engine session still open.
func (l callLog) checkMemory(t *testing.T) {
	t.Helper()
	m := l.memory(t)
	if m.Leak || m.Outstanding != 0 || m.BadFrees != 0 || m.OpenSessions != 0 || m.Allocs != m.Frees {
		t.Errorf("memory at exit: allocs %d, frees %d, outstanding %d, bad frees %d, open sessions %d",
			m.Allocs, m.Frees, m.Outstanding, m.BadFrees, m.OpenSessions)
	}
}

func decode[T any](t *testing.T, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	return v
}

// The decoded arguments, as jsonobj.c writes them.

type logValue struct {
	Type     uint32      `json:"type"`
	TypeName string      `json:"typeName"`
	Value    json.Number `json:"value"`
	Valid    bool        `json:"valid"`
	SDDL     string      `json:"sddl"`
	Advapi   *string     `json:"sddlAdvapi"`
}

type logCondition struct {
	FieldKey      string   `json:"fieldKey"`
	FieldKeyName  string   `json:"fieldKeyName"`
	MatchType     uint32   `json:"matchType"`
	MatchTypeName string   `json:"matchTypeName"`
	Value         logValue `json:"value"`
}

type logFilter struct {
	Key         string   `json:"key"`
	Name        *string  `json:"name"`
	Flags       uint32   `json:"flags"`
	ProviderKey *string  `json:"providerKey"`
	LayerKey    string   `json:"layerKey"`
	SubLayerKey string   `json:"subLayerKey"`
	Weight      logValue `json:"weight"`
	Action      struct {
		Type uint32 `json:"type"`
	} `json:"action"`
	Conditions []logCondition `json:"conditions"`
}

type logProvider struct {
	Key         string  `json:"key"`
	Name        *string `json:"name"`
	Flags       uint32  `json:"flags"`
	ServiceName *string `json:"serviceName"`
}

type logSublayer struct {
	Key         string  `json:"key"`
	Name        *string `json:"name"`
	Flags       uint32  `json:"flags"`
	ProviderKey *string `json:"providerKey"`
	Weight      uint32  `json:"weight"`
}
