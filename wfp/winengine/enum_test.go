//go:build windows || unix

package winengine

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// fakeEnum serves n providers from C memory the way FwpmProviderEnum0 does and
// records what the enumeration does with its handle and page arrays.
type fakeEnum struct {
	a          *arena
	n, next    int
	calls      int
	failCreate error
	failEnumAt int // 1-based Enum call that fails; 0 = none
	failEnum   error
	failDelete error
	nullEntry  int // index of an entry returned as NULL; -1 = none
	nullArray  bool
	created    int
	destroyed  int
	freed      []unsafe.Pointer
	handed     []unsafe.Pointer
}

const fakeHandle = 0x1234

func (f *fakeEnum) calls0() enumCalls[fwpmProvider0] {
	return enumCalls[fwpmProvider0]{
		create: "FwpmProviderCreateEnumHandle0", enum: "FwpmProviderEnum0", destroy: "FwpmProviderDestroyEnumHandle0",
		createFn: func(eh *uintptr) error {
			if f.failCreate != nil {
				return f.failCreate
			}
			f.created++
			*eh = fakeHandle
			return nil
		},
		enumFn: func(eh uintptr, n uint32, entries ***fwpmProvider0, got *uint32) error {
			f.calls++
			if eh != fakeHandle {
				return syscall.Errno(wfp.ErrInvalidEnumerator)
			}
			if f.calls == f.failEnumAt {
				return f.failEnum
			}
			k := min(int(n), f.n-f.next)
			*got = uint32(k)
			if k == 0 || f.nullArray {
				return nil
			}
			arr := unsafe.Slice((**fwpmProvider0)(f.a.alloc(uintptr(k)*unsafe.Sizeof(uintptr(0)))), k)
			for i := range arr {
				if f.next+i == f.nullEntry {
					continue
				}
				p, err := composeProvider(f.a, &wfp.Provider{Key: wfp.GUID{Data1: uint32(f.next + i)}, Name: fmt.Sprint("p", f.next+i)})
				if err != nil {
					return err
				}
				arr[i] = p
			}
			f.next += k
			*entries = &arr[0]
			f.handed = append(f.handed, unsafe.Pointer(&arr[0]))
			return nil
		},
		destroyFn: func(eh uintptr) error {
			if eh != fakeHandle {
				return syscall.Errno(wfp.ErrInvalidEnumerator)
			}
			f.destroyed++
			return f.failDelete
		},
		free: func(p unsafe.Pointer) { f.freed = append(f.freed, p) },
	}
}

func runFake(t *testing.T, f *fakeEnum) ([]*wfp.Provider, error) {
	t.Helper()
	f.a = newArena()
	t.Cleanup(f.a.Dispose)
	return enumerate("provider {x}", f.calls0(), parseProvider)
}

func TestEnumeratePages(t *testing.T) {
	for _, n := range []int{0, 1, enumPageSize - 1, enumPageSize, 2 * enumPageSize, 2*enumPageSize + 50} {
		f := &fakeEnum{n: n, nullEntry: -1}
		got, err := runFake(t, f)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if len(got) != n {
			t.Errorf("n=%d: %d providers", n, len(got))
		}
		for i, p := range got {
			if p.Key.Data1 != uint32(i) || p.Name != fmt.Sprint("p", i) {
				t.Errorf("n=%d: entry %d is %v %q", n, i, p.Key, p.Name)
				break
			}
		}
		// One Enum call per full page plus the short (possibly empty) last one.
		if want := n/enumPageSize + 1; f.calls != want {
			t.Errorf("n=%d: %d Enum calls, want %d", n, f.calls, want)
		}
		if f.created != 1 || f.destroyed != 1 {
			t.Errorf("n=%d: created %d, destroyed %d handles", n, f.created, f.destroyed)
		}
		if fmt.Sprint(f.freed) != fmt.Sprint(f.handed) {
			t.Errorf("n=%d: freed %d page arrays, engine handed out %d", n, len(f.freed), len(f.handed))
		}
	}
}

func TestEnumerateErrorPaths(t *testing.T) {
	cases := []struct {
		name       string
		f          *fakeEnum
		want       string // substring of the error
		code       wfp.Code
		destroyed  int
		freedPages int
	}{
		{"create fails", &fakeEnum{n: 5, nullEntry: -1, failCreate: syscall.Errno(wfp.ErrProviderNotFound)},
			"FwpmProviderCreateEnumHandle0 provider {x}", wfp.ErrProviderNotFound, 0, 0},
		{"second page fails", &fakeEnum{n: 250, nullEntry: -1, failEnumAt: 2, failEnum: syscall.Errno(wfp.ErrTimeout)},
			"FwpmProviderEnum0 provider {x}", wfp.ErrTimeout, 1, 1},
		{"destroy fails", &fakeEnum{n: 5, nullEntry: -1, failDelete: syscall.Errno(wfp.ErrInvalidEnumerator)},
			"FwpmProviderDestroyEnumHandle0", wfp.ErrInvalidEnumerator, 1, 1},
		{"NULL entry", &fakeEnum{n: 150, nullEntry: 103},
			"entry 3: FWPM_PROVIDER0: NULL pointer", 0, 1, 2},
		{"NULL page array", &fakeEnum{n: 5, nullEntry: -1, nullArray: true},
			"entries: NULL pointer with 5 entries", 0, 1, 0},
	}
	for _, tc := range cases {
		got, err := runFake(t, tc.f)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
			continue
		}
		if got != nil {
			t.Errorf("%s: %d results returned with the error", tc.name, len(got))
		}
		if tc.code != 0 {
			var ce *wfp.CallError
			if !errors.As(err, &ce) || ce.Code != tc.code {
				t.Errorf("%s: %v is not a CallError with %s", tc.name, err, tc.code)
			}
		}
		if tc.f.destroyed != tc.destroyed {
			t.Errorf("%s: enum handle destroyed %d times, want %d", tc.name, tc.f.destroyed, tc.destroyed)
		}
		if len(tc.f.freed) != tc.freedPages || fmt.Sprint(tc.f.freed) != fmt.Sprint(tc.f.handed) {
			t.Errorf("%s: freed %d page arrays, engine handed out %d, want %d", tc.name, len(tc.f.freed), len(tc.f.handed), tc.freedPages)
		}
	}
}

func TestEnumerateIsBounded(t *testing.T) {
	defer func(n int) { maxEnumEntries = n }(maxEnumEntries)
	maxEnumEntries = 3 * enumPageSize
	f := &fakeEnum{n: 10 * enumPageSize, nullEntry: -1}
	got, err := runFake(t, f)
	if err == nil || !strings.Contains(err.Error(), "more than 300 entries") || got != nil {
		t.Fatalf("an engine that keeps returning full pages: %d results, error %v", len(got), err)
	}
	if f.calls != 3 || f.destroyed != 1 || len(f.freed) != 3 {
		t.Errorf("%d Enum calls, %d handles destroyed, %d pages freed; want 3, 1, 3", f.calls, f.destroyed, len(f.freed))
	}
}

func TestFilterParserSelectsBeforeDecoding(t *testing.T) {
	a := newArena()
	defer a.Dispose()
	ours, theirs := wfp.GUID{Data1: 1}, wfp.GUID{Data1: 2}
	mk := func(key uint32, provider *wfp.GUID, broken bool) *fwpmFilter0 {
		f := sampleFilter()
		f.Key = wfp.GUID{Data1: key}
		f.ProviderKey = provider
		c, err := composeFilter(a, f)
		if err != nil {
			t.Fatal(err)
		}
		if broken { // a condition count with no conditions behind it: undecodable
			c.filterCondition = nil
		}
		return c
	}
	entries := []*fwpmFilter0{
		mk(10, &ours, false),
		mk(11, &theirs, false),
		mk(12, nil, false),
		mk(13, &theirs, true), // another provider's broken filter must not break ours
		mk(14, &ours, false),
	}
	run := func(provider *wfp.GUID) ([]*wfp.Filter, error) {
		page, err := parsePage(&entries[0], uint32(len(entries)), filterParser(provider))
		return dropNil(page), err
	}
	got, err := run(&ours)
	if err != nil || len(got) != 2 || got[0].Key.Data1 != 10 || got[1].Key.Data1 != 14 {
		t.Fatalf("our filters: %v, %v; want keys 10 and 14", got, err)
	}
	all, err := run(nil)
	if err != nil || len(all) != 4 {
		t.Fatalf("every filter: %d, %v; want the 4 decodable ones", len(all), err)
	}
	entries[0] = mk(10, &ours, true)
	if _, err := run(&ours); err == nil {
		t.Fatal("one of our own filters could not be decoded and the enumeration still succeeded")
	}
}

func TestCallErrorCarriesTheDWORD(t *testing.T) {
	ce := callError("FwpmFilterAdd0", wfp.ObjectName("filter", wfp.GUID{Data1: 1}, "block DNS"), syscall.Errno(0x80320009))
	if !errors.Is(ce, wfp.ErrAlreadyExists) || ce.Call != "FwpmFilterAdd0" {
		t.Errorf("callError: %#v", ce)
	}
	want := `FwpmFilterAdd0 filter {00000001-0000-0000-0000-000000000000} "block DNS": FWP_E_ALREADY_EXISTS (0x80320009)`
	if ce.Error() != want {
		t.Errorf("message %q, want %q", ce.Error(), want)
	}
}
