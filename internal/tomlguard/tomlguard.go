// Package tomlguard bounds how deeply a TOML document nests before it is decoded.
//
// BurntSushi/toml (v1.6.0) allocates memory quadratic in the depth of a key: a 64 KB
// document of nested inline tables ({a={a={…}}}) makes it allocate about 28 GB, one of
// dotted keys (a.a.a.… = 1) about 10 GB, a table header ([a.a.a.…]) about 3 GB. The
// documents wfpsandbox reads (policy files, config.toml) are shallow, so Check refuses,
// in one linear pass and without allocating, any document whose keys are deeper than a
// limit, before the decoder sees it.
//
// Depth is counted the way the decoder builds its tables: the segments of the current
// table header ([[a.b]] counts one more than [a.b]: the array), plus the segments of
// every key on the way to a value (a.b.c = counts 3, and so do the keys of enclosing
// inline tables), plus one per enclosing array. Nesting is the number of arrays and
// inline tables open at once. Strings (basic, literal and their multi-line forms, with
// escapes) and comments are skipped exactly as TOML v1.0.0 defines them
// (https://toml.io/en/v1.0.0#string), so brackets, dots or quotes inside them count for
// nothing; outside them only [ ] { } . = , and newlines matter, so Check needs no other
// understanding of the syntax and leaves every other error to the decoder.
package tomlguard

import "fmt"

// Error is a document refused for its depth or nesting.
type Error struct {
	Line  int    // 1-based line where the limit was exceeded
	What  string // "depth" or "nesting"
	Got   int    // the depth or nesting reached (the first value past the limit)
	Limit int
}

// Error says what went too deep and the limit, for a caller to prefix with the file
// and e.Line ("policy.toml:3: keys nested 9 deep …").
func (e *Error) Error() string {
	if e.What == "nesting" {
		return fmt.Sprintf("arrays and inline tables nested %d deep, at most %d", e.Got, e.Limit)
	}
	return fmt.Sprintf("keys nested %d deep (table header, dotted keys, inline tables and arrays together), at most %d", e.Got, e.Limit)
}

type frame struct {
	depth int  // depth of what this container holds
	table bool // an inline table (keys inside), else an array (values inside)
}

// Check returns an *Error when data nests deeper than maxDepth or opens more than
// maxNesting arrays and inline tables at once; nil otherwise, also for a document that
// is not valid TOML (the decoder reports that).
func Check(data []byte, maxDepth, maxNesting int) error {
	const (
		inKey    = iota // reading a key (top level, or inside an inline table)
		inValue         // after "=", or inside an array
		inHeader        // inside a [table] or [[array]] header
		inRest          // after a header's closing bracket, up to the end of the line
	)
	var stack []frame
	state, segs, started := inKey, 0, false
	tableDepth := 0
	line := 1
	fail := func(what string, got, limit int) error {
		return &Error{Line: line, What: what, Got: got, Limit: limit}
	}
	base := func() int {
		if len(stack) == 0 {
			return tableDepth
		}
		return stack[len(stack)-1].depth
	}
	// A segment begins: the first character of a key (or header) component.
	begin := func() {
		if !started {
			started, segs = true, 1
		}
	}
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch c {
		case '\n':
			line++
			if len(stack) == 0 {
				// A newline ends a top-level statement; inside arrays (and TOML 1.1
				// inline tables) it is white space.
				state, segs, started = inKey, 0, false
			}
			continue
		case ' ', '\t', '\r':
			continue
		case '#':
			for i+1 < len(data) && data[i+1] != '\n' {
				i++
			}
			continue
		case '"', '\'':
			if state == inKey || state == inHeader {
				begin()
			}
			end, lines := skipString(data, i)
			line += lines
			i = end - 1
			continue
		}
		switch state {
		case inRest:
			// "]" of "[[a]]", or junk the decoder will refuse.
		case inHeader:
			switch c {
			case '.':
				if segs++; segs > maxDepth {
					return fail("depth", segs, maxDepth)
				}
			case ']':
				d := segs
				if i+1 < len(data) && data[i+1] == ']' {
					d++ // [[array of tables]]
				}
				if d > maxDepth {
					return fail("depth", d, maxDepth)
				}
				tableDepth, state = d, inRest
			default:
				begin()
			}
		case inKey:
			switch {
			case c == '[' && len(stack) == 0 && !started:
				state, segs, started = inHeader, 0, false
				if i+1 < len(data) && data[i+1] == '[' {
					i++
				}
			case c == '.':
				segs++
			case c == '=':
				if d := base() + max(segs, 1); d > maxDepth {
					return fail("depth", d, maxDepth)
				}
				state = inValue
			case c == '}' && len(stack) > 0 && stack[len(stack)-1].table:
				// "{}" or a trailing comma (TOML 1.1).
				stack = stack[:len(stack)-1]
				state = inValue
			case c == ',':
				segs, started = 0, false
			default:
				begin()
			}
			if d := base() + segs; d > maxDepth {
				return fail("depth", d, maxDepth)
			}
		case inValue:
			switch c {
			case '[', '{':
				d := base() + max(segs, 1) // the depth of the key holding the value
				if len(stack) > 0 && !stack[len(stack)-1].table {
					d = base() // an element of an array
				}
				f := frame{depth: d, table: c == '{'}
				if !f.table {
					f.depth++
				}
				if len(stack)+1 > maxNesting {
					return fail("nesting", len(stack)+1, maxNesting)
				}
				if f.depth > maxDepth {
					return fail("depth", f.depth, maxDepth)
				}
				stack = append(stack, f)
				if f.table {
					state, segs, started = inKey, 0, false
				}
			case ']', '}':
				if len(stack) > 0 {
					stack = stack[:len(stack)-1]
				}
			case ',':
				if len(stack) > 0 && stack[len(stack)-1].table {
					state, segs, started = inKey, 0, false
				}
			}
		}
	}
	return nil
}

// skipString returns the index just past the string that starts at data[start] (a
// quote), and how many newlines it holds. Basic strings ("…", """…""") take backslash
// escapes; literal ones (single quotes, three for multi-line) do not; a multi-line string may end with up to
// two more quotes than its delimiter (`"""a""""` is `a"`). A single-line string ends at
// a newline too (the decoder refuses that); an unterminated one runs to the end.
func skipString(data []byte, start int) (end, lines int) {
	q := data[start]
	basic := q == '"'
	multi := start+2 < len(data) && data[start+1] == q && data[start+2] == q
	i := start + 1
	if multi {
		i = start + 3
	} else if start+1 < len(data) && data[start+1] == q {
		return start + 2, 0 // "" or ''
	}
	for i < len(data) {
		c := data[i]
		switch {
		case basic && c == '\\':
			if i+1 < len(data) && data[i+1] == '\n' {
				lines++
			}
			i += 2
			continue
		case c == '\n':
			if !multi {
				return i, lines // let the main loop see the newline
			}
			lines++
		case c == q && !multi:
			return i + 1, lines
		case c == q && i+2 < len(data) && data[i+1] == q && data[i+2] == q:
			i += 3
			for n := 0; n < 2 && i < len(data) && data[i] == q; n++ {
				i++
			}
			return i, lines
		}
		i++
	}
	return len(data), lines
}
