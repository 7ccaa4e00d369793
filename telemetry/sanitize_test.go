package telemetry

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestSanitizeError(t *testing.T) {
	t.Setenv("HOME", "/srv/homes/bob")
	t.Setenv("USERPROFILE", `D:\Profiles\carol`)
	cases := []struct {
		in, want string
	}{
		{"FwpmFilterAdd0: FWP_E_TIMEOUT (0x80320012)", "FwpmFilterAdd0: FWP_E_TIMEOUT (0x80320012)"},
		{`open C:\Users\alice\AppData\Local\x.json: denied`, "open <user-path>: denied"},
		{`open c:\users\Alice Smith\x y: denied`, "open <user-path> y: denied"},
		{`profile C:\Users\Alice Smith: gone`, "profile <user-path>: gone"},
		{`read \\fs01\home$\Users\dave\f.txt failed`, "read <user-path> failed"},
		{`C:\Documents and Settings\eve\ntuser.dat locked`, "<user-path> locked"},
		{"open /home/frank/.config/x: no such file", "open <user-path>: no such file"},
		{"open /Users/grace/Library/x: EPERM", "open <user-path>: EPERM"},
		{"open /root/.cache/x: EPERM", "open <user-path>: EPERM"},
		{"stat '/root': EPERM", "stat '<user-path>': EPERM"},
		{"open ~/secret: denied", "open <user-path>: denied"},
		{"open /srv/homes/bob/notes: denied", "open <user-path>: denied"},
		{`load D:\Profiles\carol\ntuser.dat: busy`, "load <user-path>: busy"},
		{"line1\nline2\r\n\tline3\x00\x1b[31m", "line1 line2 line3 [31m"},
		{"bad \xff utf8", "bad utf8"},
		{"keep C:\\ProgramData\\wfpsandbox\\setup-marker.json", "keep C:\\ProgramData\\wfpsandbox\\setup-marker.json"},
		{"keep /var/lib/x and /rooted/y", "keep /var/lib/x and /rooted/y"},
	}
	for _, c := range cases {
		if got := SanitizeError(c.in); got != c.want {
			t.Errorf("SanitizeError(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestSanitizeErrorBounds(t *testing.T) {
	for _, in := range []string{
		strings.Repeat("é", 300),
		strings.Repeat("a", 255) + "€€€",
		strings.Repeat("a\n", 400),
		strings.Repeat("/home/x/", 100),
	} {
		got := SanitizeError(in)
		if len(got) > MaxErrorLen {
			t.Errorf("len %d > %d for input of %d bytes", len(got), MaxErrorLen, len(in))
		}
		if !utf8.ValidString(got) {
			t.Errorf("invalid UTF-8 out: %q", got)
		}
		for _, r := range got {
			if unicode.IsControl(r) {
				t.Errorf("control character %U in %q", r, got)
			}
		}
	}
	if got := SanitizeError(strings.Repeat("é", 300)); !strings.HasSuffix(got, "…") {
		t.Errorf("truncation not marked: %q", got)
	}
}

func TestSanitizeErrorDropsFormatCharacters(t *testing.T) {
	// U+202E (right-to-left override) and U+200B (zero-width space) are Unicode
	// format characters, not control characters: they must not reach a dashboard.
	got := SanitizeError("access\u200b denied \u202Eexe.live\u202C FWP_E_TIMEOUT")
	if got != "access denied exe.live FWP_E_TIMEOUT" {
		t.Errorf("SanitizeError = %q", got)
	}
}
