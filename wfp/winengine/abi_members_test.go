//go:build unix

package winengine

// checkABIMirrors compares offsets and sizes, which cannot show a C member that sits
// where the Go mirror has padding: a UINT32 before an 8-aligned pointer that the mirror
// leaves out, or one hidden behind a "_" pad field, moves nothing. This test closes that
// gap: it reads each structure's member list from the preprocessed mingw-w64 header and
// requires a one-to-one match between the C members and the mirror's named fields (an
// anonymous union counts as one member, matched by any of its member names).

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestABIMirrorsHaveEveryCMember(t *testing.T) {
	checkABIMembers(t, abiMirrors(), "")
}

// TestEveryMirrorIsChecked: a struct type added to a types file (the C mirrors, see
// doc.go) but to neither abiMirrors nor netEventMirrors would escape both ABI tests.
func TestEveryMirrorIsChecked(t *testing.T) {
	checked := map[string]bool{}
	for _, m := range slices.Concat(abiMirrors(), netEventMirrors()) {
		checked[m.goType.Name()] = true
	}
	files, err := filepath.Glob("*types*.go")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.TYPE {
				continue
			}
			for _, spec := range g.Specs {
				ts := spec.(*ast.TypeSpec)
				if _, isStruct := ts.Type.(*ast.StructType); !isStruct {
					continue
				}
				n++
				if !checked[ts.Name.Name] {
					t.Errorf("%s: struct %s is in neither abiMirrors nor netEventMirrors, so no ABI test checks it", name, ts.Name.Name)
				}
			}
		}
	}
	if n < 20 {
		t.Fatalf("found only %d struct types in %v: is the test running in the package directory?", n, files)
	}
}

// checkABIMembers fails for every C member of a mirrored structure that no Go field
// stands for, and for every Go field that names no C member. prelude is C placed after
// the SDK includes, as for compileABI.
func checkABIMembers(t *testing.T, mirrors []abiMirror, prelude string) {
	t.Helper()
	pp := preprocessSDK(t, prelude)
	for _, m := range mirrors {
		members, err := cStructMembers(pp, m.c)
		if err != nil {
			t.Errorf("%s: %v", m.c, err)
			continue
		}
		matched := make([]string, len(members)) // Go field standing for each C member
		for i := range m.goType.NumField() {
			f := m.goType.Field(i)
			if f.Name == "_" {
				continue
			}
			cn := cMember(m, f.Name)
			j := slices.IndexFunc(members, func(names []string) bool { return slices.Contains(names, cn) })
			switch {
			case j < 0:
				t.Errorf("%s: Go field %s (C %s) is no member of the C structure %v", m.c, f.Name, cn, members)
			case matched[j] != "":
				t.Errorf("%s: Go fields %s and %s both stand for the C member %v", m.c, matched[j], f.Name, members[j])
			default:
				matched[j] = f.Name
			}
		}
		for j, names := range members {
			if matched[j] == "" {
				t.Errorf("%s: C member %v has no field in the Go mirror %s", m.c, names, m.goType)
			}
		}
		t.Logf("%s: C members %v", m.c, members)
	}
}

// preprocessSDK returns the SDK headers (and prelude) after the C preprocessor of this
// GOARCH's mingw-w64 compiler.
func preprocessSDK(t *testing.T, prelude string) string {
	t.Helper()
	cc, pkg := mingwCompiler(t)
	if _, err := exec.LookPath(cc); err != nil {
		t.Fatalf("the ABI test needs %s to read the Windows SDK headers: install the Debian package %s (apt-get install %s): %v",
			cc, pkg, pkg, err)
	}
	src := filepath.Join(t.TempDir(), "members.c")
	text := "#define _WIN32_WINNT 0x0A00\n#include <stddef.h>\n#include <windows.h>\n#include <fwpmu.h>\n\n" + prelude
	if err := os.WriteFile(src, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(cc, "-E", "-P", src).Output()
	if err != nil {
		t.Fatalf("%s -E %s: %v", cc, src, err)
	}
	return string(out)
}

var (
	cIdent       = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
	cArrayOrBits = regexp.MustCompile(`\[[^\]]*\]|:.*$`)
)

// cStructMembers finds "typedef struct [tag] { ... } name;" in preprocessed C and
// returns its members: one name each, or all member names of an anonymous union or
// struct.
func cStructMembers(pp, name string) ([][]string, error) {
	end := regexp.MustCompile(`\}\s*` + regexp.QuoteMeta(name) + `\s*[;,]`)
	for _, loc := range end.FindAllStringIndex(pp, -1) {
		open := matchingOpen(pp, loc[0])
		if open < 0 {
			continue
		}
		// "typedef struct {" or "typedef struct tag {"
		head := strings.Fields(pp[max(0, open-200):open])
		if n := len(head); !(n >= 2 && head[n-2] == "typedef" && head[n-1] == "struct") &&
			!(n >= 3 && head[n-3] == "typedef" && head[n-2] == "struct") {
			continue
		}
		return parseMembers(pp[open+1 : loc[0]])
	}
	return nil, fmt.Errorf("no \"typedef struct { ... } %s;\" in the preprocessed headers", name)
}

// matchingOpen returns the index of the '{' that the '}' at close closes, or -1.
func matchingOpen(s string, close int) int {
	depth := 0
	for i := close; i >= 0; i-- {
		switch s[i] {
		case '}':
			depth++
		case '{':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// parseMembers splits a structure body into its members. An anonymous struct's members
// are members of the enclosing structure (C11); an anonymous union is one member, named
// by all its members' names, except that a union whose only member is an anonymous
// struct is that struct (the SDK's reserved blocks in FWPM_NET_EVENT_HEADER1).
func parseMembers(body string) ([][]string, error) {
	var members [][]string
	depth, start := 0, 0
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '{':
			depth++
		case '}':
			depth--
		case ';':
			if depth != 0 {
				continue
			}
			decl := strings.TrimSpace(body[start:i])
			start = i + 1
			if decl == "" {
				continue
			}
			if o := strings.IndexByte(decl, '{'); o >= 0 {
				c := strings.LastIndexByte(decl, '}')
				if after := cIdent.FindAllString(decl[c+1:], -1); len(after) > 0 {
					members = append(members, after[len(after)-1:]) // named nested union/struct
					continue
				}
				inner, err := parseMembers(decl[o+1 : c])
				if err != nil {
					return nil, err
				}
				kw := cIdent.FindAllString(decl[:o], -1)
				isStruct := len(kw) > 0 && kw[len(kw)-1] == "struct"
				if isStruct || onlyAnonymousStruct(decl[o+1:c]) {
					members = append(members, inner...)
				} else {
					members = append(members, slices.Concat(inner...)) // anonymous union: one member
				}
				continue
			}
			for part := range strings.SplitSeq(cArrayOrBits.ReplaceAllString(decl, ""), ",") {
				ids := cIdent.FindAllString(part, -1)
				if len(ids) == 0 {
					return nil, fmt.Errorf("no member name in %q", decl)
				}
				members = append(members, ids[len(ids)-1:])
			}
		}
	}
	return members, nil
}

// onlyAnonymousStruct reports whether a union body declares nothing but one anonymous
// struct.
func onlyAnonymousStruct(body string) bool {
	body = strings.TrimSpace(body)
	o := strings.IndexByte(body, '{')
	c := strings.LastIndexByte(body, '}')
	if o < 0 || c < o || strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(body[c+1:]), ";")) != "" {
		return false
	}
	kw := cIdent.FindAllString(body[:o], -1)
	return len(kw) > 0 && kw[len(kw)-1] == "struct" && matchingOpen(body, c) == o
}
