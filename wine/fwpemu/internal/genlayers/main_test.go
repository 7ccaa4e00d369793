package main

import (
	"bytes"
	"os"
	"testing"
)

// The checked-in zlayers.h must be what the generator makes from the current wfp tables,
// or the emulation DLL would accept or refuse conditions differently from package wfp.
func TestZlayersUpToDate(t *testing.T) {
	want, err := generate("../../../../wfp/znames.go")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../zlayers.h")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("wine/fwpemu/zlayers.h is stale: run go run ./wine/fwpemu/internal/genlayers -names wfp/znames.go -out wine/fwpemu/zlayers.h")
	}
}
