package memengine_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// install adds the baseline's shape (provider, sublayer, 12 filters with a user SD) in one
// transaction, as setup does on a fresh host.
func install(b *testing.B, s *memengine.Session, sd []byte) {
	if err := s.BeginTransaction(); err != nil {
		b.Fatal(err)
	}
	if err := s.AddProvider(provider(provA, true)); err != nil {
		b.Fatal(err)
	}
	if err := s.AddSublayer(sublayer(subA, ptr(provA), true)); err != nil {
		b.Fatal(err)
	}
	for i := range 12 {
		f := filter(guid(i), subA, ptr(provA), true)
		f.Conditions = append(f.Conditions, wfp.Condition{Field: wfp.FieldALEUserID, Match: wfp.MatchEqual, Value: wfp.SD(sd)})
		if _, err := s.AddFilter(f); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.CommitTransaction(); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkInstallMemory(b *testing.B) {
	sd := userSD(b)
	for b.Loop() {
		install(b, memengine.NewBFE().Open(), sd)
	}
}

func BenchmarkInstallFile(b *testing.B) {
	sd := userSD(b)
	dir := b.TempDir()
	i := 0
	for b.Loop() {
		i++
		s, err := memengine.OpenFile(filepath.Join(dir, fmt.Sprintf("host%d.json", i)))
		if err != nil {
			b.Fatal(err)
		}
		install(b, s, sd)
	}
}

// BenchmarkVerifyFile is a converged re-run's read side: enumerate our provider's filters
// from the file.
func BenchmarkVerifyFile(b *testing.B) {
	s, err := memengine.OpenFile(filepath.Join(b.TempDir(), "host.json"))
	if err != nil {
		b.Fatal(err)
	}
	install(b, s, userSD(b))
	for b.Loop() {
		if fs, err := s.Filters(ptr(provA)); err != nil || len(fs) != 12 {
			b.Fatal(len(fs), err)
		}
	}
}
