package wfp

import (
	"errors"
	"fmt"
	"testing"
)

func TestIsAccessDenied(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&CallError{Call: "FwpmFilterGetByKey0", Code: ErrAccessDenied}, true},
		{fmt.Errorf("read: %w", &CallError{Call: "FwpmTransactionBegin0", Code: 0x80070005}), true},
		{&CallError{Call: "FwpmFilterGetByKey0", Code: ErrFilterNotFound}, false},
		{errors.New("access denied"), false},
		{nil, false},
	} {
		if got := IsAccessDenied(tc.err); got != tc.want {
			t.Errorf("IsAccessDenied(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
