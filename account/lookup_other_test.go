//go:build !windows

package account

import (
	"errors"
	"strings"
	"testing"
)

func TestStubsSayNotWindows(t *testing.T) {
	_, _, err1 := LookupName("sbx")
	_, _, _, err2 := LookupSID(Everyone)
	_, err3 := Resolve("sbx")
	_, err4 := IsElevated()
	err5 := RequireElevation("setup")
	for i, err := range []error{err1, err2, err3, err4, err5} {
		if !errors.Is(err, ErrNotWindows) || !strings.Contains(err.Error(), "--sid") {
			t.Errorf("stub %d: error %v, want ErrNotWindows suggesting --sid", i+1, err)
		}
	}
}
