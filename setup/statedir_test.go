package setup

import (
	"path/filepath"
	"testing"
)

func TestOnlyTheDefaultStateDirIsSecured(t *testing.T) {
	def, err := defaultStateDir()
	if err != nil {
		t.Fatal(err)
	}
	if !isDefaultStateDir(def) || !isDefaultStateDir(filepath.Join(def, ".")) {
		t.Errorf("the default state directory %s is not recognised", def)
	}
	if isDefaultStateDir(t.TempDir()) || isDefaultStateDir(filepath.Dir(def)) {
		t.Error("a directory the caller chose would get the protected DACL")
	}
}
