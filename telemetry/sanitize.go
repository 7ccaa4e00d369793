package telemetry

import (
	"os"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxErrorLen is the largest sanitized error message, in bytes.
const MaxErrorLen = 256

// userPathRe matches a path under a user profile or home directory, on Windows
// (C:\Users\x\…, \\host\c$\Users\x\…, C:\Documents and Settings\x\…) and Unix
// (/home/x/…, /Users/x/…, /root/…, ~/…), up to the next delimiter (white space, a quote,
// a colon as in "open PATH: error").
var userPathRe = regexp.MustCompile(`(?i)(?:` +
	`(?:[a-z]:|\\\\[^\\/\s]+(?:[\\/][^\\/\s]+)?)?[\\/]+(?:users|documents and settings|home)[\\/]+` + userName + `(?:[\\/]` + pathRest + `)?` +
	`|/root(?:/` + pathRest + `)?` +
	`|~[\\/]` + pathRest +
	`)`)

// userName is the profile directory's name, which may contain spaces ("Alice Smith"):
// everything up to the next separator or delimiter other than a space. This may
// swallow text after a path that ends at the user's directory; that errs on the side
// of privacy.
const userName = `[^\\/\t\r\n"'<>|,;:]*`

// pathRest is the rest of a path: anything up to a delimiter.
const pathRest = `[^\s"'<>|,;:]*`

// pathDelims end a path (see pathRest).
const pathDelims = " \t\r\n\"'<>|,;:"

// placeholder replaces a user path.
const placeholder = "<user-path>"

// SanitizeError turns an error message into something safe to send as a metric
// attribute: paths under a user profile or home directory (and the current user's
// home and profile directories, wherever they are) are replaced by "<user-path>",
// control characters by spaces, runs of white space collapse to one, invalid UTF-8
// is dropped, and the result is cut to MaxErrorLen bytes on a rune boundary.
func SanitizeError(msg string) string {
	msg = strings.ToValidUTF8(msg, "")
	for _, dir := range userDirs() {
		msg = replaceFold(msg, dir, placeholder)
	}
	msg = replacePaths(msg)
	var b strings.Builder
	space := false
	for _, r := range msg {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '\u2028' || r == '\u2029' {
			if !space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		if unicode.Is(unicode.Cf, r) {
			// Format characters (bidi overrides such as U+202E, zero-width spaces)
			// can make a message read differently than it is; drop them.
			continue
		}
		space = false
		b.WriteRune(r)
	}
	out := strings.TrimRight(b.String(), " ")
	return truncate(out, MaxErrorLen)
}

// truncate cuts s to at most n bytes without splitting a rune; a cut is marked "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// userDirs are the current user's home and profile directories, longest first, so
// that a path under them is replaced even when it does not look like /home/… (a home
// on another drive, a roaming profile).
func userDirs() []string {
	var dirs []string
	for _, v := range []string{"HOME", "USERPROFILE", "APPDATA", "LOCALAPPDATA"} {
		if d := os.Getenv(v); len(d) > 3 { // never "/" or "C:\"
			dirs = append(dirs, d)
		}
	}
	if d, err := os.UserHomeDir(); err == nil && len(d) > 3 {
		dirs = append(dirs, d)
	}
	// Longest first: a profile's AppData before the profile itself.
	for i := 1; i < len(dirs); i++ {
		for j := i; j > 0 && len(dirs[j]) > len(dirs[j-1]); j-- {
			dirs[j], dirs[j-1] = dirs[j-1], dirs[j]
		}
	}
	return dirs
}

// replaceFold replaces every case-insensitive occurrence of old in s, with the rest of
// the path that follows it, by repl.
func replaceFold(s, old, repl string) string {
	lower, lowerOld := strings.ToLower(s), strings.ToLower(old)
	if len(lower) != len(s) || len(lowerOld) != len(old) {
		// Case mapping changed byte lengths; fall back to an exact match.
		lower, lowerOld = s, old
	}
	var b strings.Builder
	for {
		i := strings.Index(lower, lowerOld)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(old)
		// Swallow the rest of the path.
		for end < len(s) && !strings.ContainsRune(pathDelims, rune(s[end])) {
			end++
		}
		b.WriteString(s[:i])
		b.WriteString(repl)
		s, lower = s[end:], lower[end:]
	}
}

// replacePaths replaces the matches of userPathRe. A "/root" match counts only as a
// whole path component at the start of a token ("/root", "/root/x", not "/rooted"
// nor "/srv/root").
func replacePaths(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range userPathRe.FindAllStringIndex(s, -1) {
		if strings.HasPrefix(strings.ToLower(s[m[0]:m[1]]), "/root") {
			before := m[0] == 0 || strings.ContainsRune(pathDelims+"(=", rune(s[m[0]-1]))
			after := m[1] == len(s) || strings.ContainsRune(pathDelims+")", rune(s[m[1]]))
			if !before || !after {
				continue
			}
		}
		b.WriteString(s[last:m[0]])
		b.WriteString(placeholder)
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// MaxAccountLen is the largest sanitized account attribute, in bytes: a DOMAIN\name
// (15 + 1 + 20 characters on Windows) or a SID (at most 184 characters) fits.
const MaxAccountLen = 256

// SanitizeAccount makes an account name safe to send as an attribute: control and
// format characters are dropped, the result is cut to MaxAccountLen bytes on a rune
// boundary, and an empty result is Unknown.
func SanitizeAccount(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	s = strings.TrimSpace(s)
	if s == "" {
		return Unknown
	}
	return truncate(s, MaxAccountLen)
}

// ruleRe is what a wfpsandbox rule ID looks like: the profiles' rule names
// ("dns-v4", "guard-connect-v4") and a policy file's "file-<id>-v4", whose id is 1-40
// of a-z 0-9 - (policy/file.go).
var ruleRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

func sanitizeRule(s string) string {
	if s == RuleOther || ruleRe.MatchString(s) {
		return s
	}
	return Unknown
}

// layerRe is an SDK layer name without its FWPS_LAYER_ prefix (events.LayerName).
var layerRe = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

func sanitizeLayer(s string) string {
	if layerRe.MatchString(s) {
		return s
	}
	return Unknown
}

func sanitizeDirection(s string) string {
	switch s {
	case "out", "in", "forward":
		return s
	}
	return Unknown
}
