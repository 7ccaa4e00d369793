package tomlguard

import (
	"errors"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestCheck(t *testing.T) {
	const depth, nesting = 4, 2
	for _, c := range []struct {
		name string
		doc  string
		what string // "" accepted, else "depth" or "nesting"
		line int
	}{
		{"empty", "", "", 0},
		{"flat", "a = 1\nb = \"x\"\n", "", 0},
		{"policy layout", "profile = \"strict\"\n[[rule]]\nid = \"x\"\nports = [22, \"1-2\"]\n", "", 0},
		{"dotted key at the limit", "a.b.c.d = 1", "", 0},
		{"dotted key past it", "a.b.c.d.e = 1", "depth", 1},
		{"quoted dots are one segment", `"a.b.c.d.e" = 1`, "", 0},
		{"literal quoted dots", `'a.b.c.d.e'.x = 1`, "", 0},
		{"header at the limit", "[a.b.c.d]", "", 0},
		{"header past it", "x = 1\n[a.b.c.d.e]\n", "depth", 2},
		{"array of tables counts one more", "[[a.b.c.d]]", "depth", 1},
		{"header plus key", "[a.b.c]\nd = 1\n", "", 0},
		{"header plus dotted key", "[a.b.c]\nd.e = 1\n", "depth", 2},
		{"header depth resets", "[a.b.c]\n[x]\nd.e.f = 1\n", "", 0},
		{"inline tables", "a = {b = {c = {d = 1}}}", "nesting", 1},
		{"inline table keys add up", "a.b = {c.d.e = 1}", "depth", 1},
		{"inline table at the limit", "a.b = {c.d = 1}", "", 0},
		{"arrays nest", "a = [[[1]]]", "nesting", 1},
		{"arrays add depth", "a.b.c = [[1]]", "depth", 1},
		{"arrays of inline tables", "a.b = [{c = 1}, {d = 2}]", "", 0},
		{"arrays of inline tables past it", "a.b = [{c.d = 1}]", "depth", 1},
		{"multi-line array", "a = [\n 1,\n 2,\n]\nb.c.d.e.f = 1\n", "depth", 5},
		{"floats are not keys", "a = [1.5, 2.5, 3.5, 4.5, 5.5]", "", 0},
		{"brackets in strings", `a = "[[[[{{{{a.b.c.d.e"` + "\nb = 'x.y.z.w.v[[[['", "", 0},
		{"escaped quote", `a = "\"[[[[" ` + "\nb = 1", "", 0},
		{"multi-line basic", "a = \"\"\"\n[[[[\na.b.c.d.e = 1\n\"\"\"\nb = 1", "", 0},
		{"multi-line basic, extra quotes", "a = \"\"\"x\"\"\"\"\"\nb.c.d.e.f = 1", "depth", 2},
		{"multi-line literal", "a = '''\n{{{{ \\'''\nb.c.d.e.f = 1", "depth", 3},
		{"comments", "# [[[[ a.b.c.d.e = 1\na = 1 # {{{{\n", "", 0},
		{"comment does not hide the next line", "a = 1 # x\nb.c.d.e.f = 1", "depth", 2},
		{"line counted through strings", "a = \"\"\"\n\n\n\"\"\"\nb.c.d.e.f = 1", "depth", 5},
	} {
		err := Check([]byte(c.doc), depth, nesting)
		var e *Error
		switch {
		case c.what == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.what != "" && !errors.As(err, &e):
			t.Errorf("%s: accepted, want a %s error", c.name, c.what)
		case c.what != "" && (e.What != c.what || e.Line != c.line):
			t.Errorf("%s: %v; want %s at line %d", c.name, err, c.what, c.line)
		}
	}
}

// TestCheckMatchesDecoder: for documents Check accepts, the decoder's real depth is
// within the limit (a cross-check of the counting against BurntSushi/toml itself).
func TestCheckMatchesDecoder(t *testing.T) {
	for _, doc := range []string{
		"a.b.c.d = 1", "[a.b.c]\nd = 1", "a.b = {c.d = 1}", "a.b = [{c = 1}]", "a.b.c = [1]",
		"[[a.b]]\nc = 1", `"x.y".z = 1`,
	} {
		if err := Check([]byte(doc), 4, 2); err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		var v map[string]any
		if _, err := toml.Decode(doc, &v); err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if d := depthOf(v); d > 4 {
			t.Errorf("%q: decoded depth %d > 4", doc, d)
		}
	}
}

func depthOf(v any) int {
	best := 0
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			best = max(best, 1+depthOf(e))
		}
	case []map[string]any:
		for _, e := range x {
			best = max(best, 1+depthOf(e))
		}
	case []any:
		for _, e := range x {
			best = max(best, 1+depthOf(e))
		}
	}
	return best
}

// TestCheckIsLinearAndAllocationFree: a 64 KB document of each deep shape — each of
// which makes BurntSushi/toml v1.6.0 allocate gigabytes — is refused without a single
// allocation but the error.
func TestCheckIsLinearAndAllocationFree(t *testing.T) {
	for name, doc := range deepDocs(64 << 10) {
		allocs := testing.AllocsPerRun(5, func() {
			if err := Check(doc, 8, 4); err == nil {
				t.Fatalf("%s: accepted", name)
			}
		})
		if allocs > 2 {
			t.Errorf("%s: %v allocations per Check", name, allocs)
		}
	}
}

// deepDocs returns documents of size bytes that nest as deep as they can.
func deepDocs(size int) map[string][]byte {
	n := size / 4
	return map[string][]byte{
		"inline tables": []byte("a = " + strings.Repeat("{a=", n) + "1" + strings.Repeat("}", n)),
		"dotted key":    []byte(strings.Repeat("a.", n) + "a = 1"),
		"table header":  []byte("[" + strings.Repeat("a.", n) + "a]"),
		"array table":   []byte("[[" + strings.Repeat("a.", n) + "a]]"),
		"arrays":        []byte("a = " + strings.Repeat("[", n) + strings.Repeat("]", n)),
	}
}

func FuzzCheck(f *testing.F) {
	for _, d := range deepDocs(256) {
		f.Add(d)
	}
	f.Add([]byte("a = \"\"\"x\"\"\"\"\"\n[[rule]]\nid = 'x'\nports = [1, \"2-3\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if Check(data, 4, 2) != nil {
			return
		}
		var v map[string]any
		if _, err := toml.Decode(string(data), &v); err != nil {
			return
		}
		if d := depthOf(v); d > 4 {
			t.Fatalf("accepted a document of depth %d > 4:\n%q", d, data)
		}
	})
}
