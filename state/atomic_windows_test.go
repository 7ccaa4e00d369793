//go:build windows

package state

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWriteRecordWhileAReaderHoldsIt: os.Open opens without FILE_SHARE_DELETE, so while
// a reader (an unelevated ensure) holds the record open, replacing it fails; the write
// must wait for the reader rather than fail the record step.
func TestWriteRecordWhileAReaderHoldsIt(t *testing.T) {
	// Not t.TempDir: its cleanup fails under Wine (Go's POSIX-semantics delete).
	dir, err := os.MkdirTemp("", "wfpsandbox-atomic-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "target")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		r.Close()
		close(released)
	}()
	err = writeFileAtomic(path, []byte("new"), 0o644)
	<-released
	if err != nil {
		t.Fatalf("writeFileAtomic while the file was open for reading: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("content %q, want new", b)
	}
}
