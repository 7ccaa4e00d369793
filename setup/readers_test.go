package setup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/state"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// objectSDs returns the sd every object on h's engine was added with, as SDDL.
func objectSDs(t *testing.T, h *host) map[string]string {
	t.Helper()
	s, err := memengine.OpenFile(h.engine)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := map[string]string{}
	add := func(what string, b []byte) {
		if len(b) == 0 {
			out[what] = ""
			return
		}
		sd, err := account.ParseSD(b)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		out[what] = sd.SDDL()
	}
	sdOf := func(kind string, key wfp.GUID) []byte {
		b, err := s.SecurityDescriptor(kind, key)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ps, _ := s.Providers()
	for _, p := range ps {
		add("provider "+p.Name, sdOf("provider", p.Key))
	}
	ss, _ := s.Sublayers(nil)
	for _, x := range ss {
		add("sublayer "+x.Name, sdOf("sublayer", x.Key))
	}
	fs, _ := s.Filters(nil)
	for _, f := range fs {
		add("filter "+f.Key.String(), sdOf("filter", f.Key))
	}
	return out
}

func wantSDs(t *testing.T, got map[string]string, readers ...account.SID) {
	t.Helper()
	b, err := account.ObjectSD(readers)
	if err != nil {
		t.Fatal(err)
	}
	sd, _ := account.ParseSD(b)
	want := sd.SDDL()
	if len(got) < 3 {
		t.Fatalf("only %d objects installed", len(got))
	}
	for what, sddl := range got {
		if sddl != want {
			t.Errorf("%s added with sd %q, want %q", what, sddl, want)
		}
	}
}

// Every object setup adds carries the descriptor granting FWPM_ACTRL_READ to
// BUILTIN\Users by default (today: NULL, so an unelevated ensure can read nothing).
func TestRunGrantsReadToUsers(t *testing.T) {
	h := newHost(t)
	h.run(h.opts(sidA))
	wantSDs(t, objectSDs(t, h), account.BuiltinUsers)
}

// Options.Readers, else config.toml's readers key, chooses the principals.
func TestRunReadersConfigurable(t *testing.T) {
	h := newHost(t)
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.dir, ConfigFile), []byte("readers = [\"S-1-5-11\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.run(h.opts(sidA))
	wantSDs(t, objectSDs(t, h), account.AuthenticatedUsers)

	h2 := newHost(t)
	o := h2.opts(sidA)
	o.Readers = []string{"BU", sidB}
	h2.run(o)
	b, _ := account.ParseSID(sidB)
	wantSDs(t, objectSDs(t, h2), account.BuiltinUsers, b)
}

// A bad reader is bad input: nothing is opened or written.
func TestRunBadReaderChangesNothing(t *testing.T) {
	h := newHost(t)
	o := h.opts(sidA)
	o.Readers = []string{"Users"}
	_, err := Run(context.Background(), o)
	if !errors.Is(err, ErrInput) {
		t.Fatalf("Run with reader %q = %v, want ErrInput", o.Readers[0], err)
	}
	if h.opens != 0 {
		t.Errorf("engine opened %d times for a bad reader", h.opens)
	}
	if _, err := os.Stat(h.engine); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("engine file exists after a bad reader: %v", err)
	}
}

// A host installed before the read grant (objects with no descriptor) gets it from the
// next setup, although nothing else about the objects changed.
func TestRunGrantsReadToAnOldInstall(t *testing.T) {
	h := newHost(t)
	s, err := memengine.OpenFile(h.engine)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := policy.Build(policy.Options{SID: sidA})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reconcile.Install(s, plan, reconcile.Options{}); err != nil { // no descriptors
		t.Fatal(err)
	}
	s.Close()
	if got := objectSDs(t, h); got["provider "+plan.Provider.Name] != "" {
		t.Fatalf("the old install already has a descriptor: %v", got)
	}
	rep := h.run(h.opts(sidA))
	if rep.Writes != 0 {
		t.Errorf("setup rewrote %d objects; the descriptor is set in place", rep.Writes)
	}
	wantSDs(t, objectSDs(t, h), account.BuiltinUsers)
}

// The readers a setup granted are recorded (canonical SIDs), and a later setup that
// names none — no --reader, no config.toml readers — keeps them instead of resetting
// the objects to BUILTIN\Users; config.toml's readers, once set, win over the record.
func TestRunKeepsTheRecordedReaders(t *testing.T) {
	h := newHost(t)
	o := h.opts(sidA)
	o.Readers = []string{sidB, "BU"}
	h.run(o)
	b, _ := account.ParseSID(sidB)
	rec, err := state.Read(h.dir, sidA)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{sidB, account.BuiltinUsers.String()}; !slices.Equal(rec.Readers, want) {
		t.Fatalf("recorded readers %v, want %v", rec.Readers, want)
	}

	h.run(h.opts(sidA)) // no readers given
	wantSDs(t, objectSDs(t, h), b, account.BuiltinUsers)
	if rec, _ := state.Read(h.dir, sidA); !slices.Equal(rec.Readers, []string{sidB, account.BuiltinUsers.String()}) {
		t.Errorf("the rerun recorded readers %v", rec.Readers)
	}

	if err := os.WriteFile(filepath.Join(h.dir, ConfigFile), []byte("readers = [\"S-1-5-11\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.run(h.opts(sidA))
	wantSDs(t, objectSDs(t, h), account.AuthenticatedUsers)
	if rec, _ := state.Read(h.dir, sidA); !slices.Equal(rec.Readers, []string{account.AuthenticatedUsers.String()}) {
		t.Errorf("after config.toml readers the record says %v", rec.Readers)
	}
}
