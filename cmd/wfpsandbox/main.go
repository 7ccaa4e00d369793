// Command wfpsandbox installs, verifies and removes the Windows Filtering Platform
// policy that locks a sandbox offline account out of the network's bypass surfaces.
//
// The CLI holds no logic of its own: it parses flags, calls the library packages
// (setup, policy, reconcile, arbiter) and prints text or JSON with documented exit
// codes. Run `wfpsandbox help` for the commands.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"unicode"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// Exit codes, documented in the README ("Exit codes"). Scripts and fleet tools
// (Intune detection, Ansible) depend on them: never renumber.
const (
	exitOK          = 0 // success; verify: compliant; ensure: current
	exitDrift       = 1 // verify: policy missing, drifted or overridden by another filter
	exitError       = 2 // error or bad input; nothing was changed
	exitWFPFailed   = 3 // setup: the other steps are done but the WFP step failed (retried next run)
	exitSetupNeeded = 4 // ensure --no-elevate: setup is needed (reasons printed)
)

// command is one subcommand. Each lives in its own cmd_*.go file and registers itself
// from init.
type command struct {
	name    string
	summary string // one line for `help`
	usage   string // flags synopsis
	run     func(ctx context.Context, c *cli, args []string) int
	hidden  bool // not listed by help (an internal helper, e.g. selftest-probe)
}

var commands = map[string]*command{}

func register(cmd *command) {
	if _, dup := commands[cmd.name]; dup {
		panic("wfpsandbox: command registered twice: " + cmd.name)
	}
	commands[cmd.name] = cmd
}

// cli carries what every command needs: where to write and in which format.
type cli struct {
	stdout, stderr io.Writer
	format         string // "text" or "json"
	helped         bool   // the command was asked for --help: its usage is printed, exit 0
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr, format: "text"}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if cmd, ok := commands[args[1]]; ok {
				cmd.run(ctx, c, []string{"--help"}) // prints the usage with every flag
				return exitOK
			}
			if !strings.HasPrefix(args[1], "-") {
				// "help stup" printed the list and exited 0, as if stup had help.
				fmt.Fprintf(stderr, "wfpsandbox: unknown command %q; run 'wfpsandbox help' for the list\n", args[1])
				return exitError
			}
		}
		c.help(stdout)
		if len(args) == 0 {
			return exitError
		}
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		err := fmt.Errorf("unknown command %q; run 'wfpsandbox help' for the list", args[0])
		fmt.Fprintf(stderr, "wfpsandbox: %v\n", err)
		if wantsJSON(args) {
			c.format = "json"
			c.emit(errorDoc{Error: err.Error()}, nil)
		}
		return exitError
	}
	code := cmd.run(ctx, c, args[1:])
	if c.helped {
		return exitOK
	}
	return code
}

func (c *cli) help(w io.Writer) {
	fmt.Fprintln(w, "wfpsandbox — lock a Windows sandbox account out of the network with WFP filters")
	fmt.Fprintln(w, "\nusage: wfpsandbox <command> [flags]   (every command takes --format text|json)")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n, cmd := range commands {
		if !cmd.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nexit codes: 0 ok, 1 verify found drift, 2 error (nothing changed), 3 setup done but WFP step failed, 4 setup needed")
}

// flags returns a FlagSet for a command with the flags every command shares.
func (c *cli) flags(cmd string) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	// parse reports errors and prints the usage itself (flagError, printUsage).
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.Func("format", "output format: text or json (default text)", func(s string) error {
		if s != "text" && s != "json" {
			return fmt.Errorf("%q: want text or json", s)
		}
		c.format = s
		return nil
	})
	return fs
}

// parse parses args, rejecting stray positional arguments. It returns false when the
// command should stop: after printing the usage on stdout for -h/--help (c.helped: the
// exit code is then 0), else after printing why, and the command exits with exitError.
//
// A usage error is printed as JSON on stdout too when the arguments ask for JSON, even
// if parsing stopped before --format json (at a bad flag or a stray argument).
func (c *cli) parse(fs *flag.FlagSet, args []string) bool {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		c.helped = true
		printUsage(c.stdout, commands[fs.Name()], fs)
		return false
	}
	if (err != nil || fs.NArg() > 0) && wantsJSON(args) {
		c.format = "json"
	}
	if err != nil {
		c.fail(fs.Name(), fmt.Errorf("%w; run 'wfpsandbox %s --help' for its flags", flagError(err), fs.Name()))
		return false
	}
	if fs.NArg() > 0 {
		c.fail(fs.Name(), fmt.Errorf("unexpected argument %q (flags go before arguments, and this command takes none); run 'wfpsandbox %s --help' for its flags", fs.Arg(0), fs.Name()))
		return false
	}
	return true
}

// wantsJSON reports whether args (before a "--") ask for --format json, in any of the
// spellings the flag package accepts.
func wantsJSON(args []string) bool {
	for i, a := range args {
		switch a {
		case "--":
			return false
		case "--format=json", "-format=json":
			return true
		case "--format", "-format":
			if i+1 < len(args) && args[i+1] == "json" {
				return true
			}
		}
	}
	return false
}

// emit prints doc as indented JSON, or calls text for the text format.
func (c *cli) emit(doc any, text func(w io.Writer)) {
	if c.format == "json" {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			fmt.Fprintf(c.stderr, "wfpsandbox: writing JSON: %v\n", err)
		}
		return
	}
	text(textWriter{c.stdout})
}

// textWriter writes text output with control characters (other than newline and tab)
// and bidirectional-text controls shown as \xNN or \uNNNN escapes. The text prints
// names and descriptions of other owners' WFP objects, which are anyone's strings: an
// escape sequence in a foreign filter's name could otherwise move the cursor and
// overwrite "NOT compliant" on the administrator's terminal.
type textWriter struct{ w io.Writer }

func (t textWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(t.w, escapeControls(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// escapeControls replaces control and bidi-control runes of s, but newline and tab.
func escapeControls(s string) string {
	clean := true
	for _, r := range s {
		if isHostileRune(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case !isHostileRune(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			fmt.Fprintf(&b, "\\u%04x", r)
		}
	}
	return b.String()
}

func isHostileRune(r rune) bool {
	return (unicode.IsControl(r) && r != '\n' && r != '\t') || unicode.Is(unicode.Bidi_Control, r)
}

// errorDoc is the JSON printed on stdout when a command fails with --format json.
type errorDoc struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"` // the WFP status name, when the error carries one
}

// fail reports err and returns exitError. With --format json the error also goes to
// stdout as {"error": ...} so that scripts reading stdout always get JSON.
func (c *cli) fail(cmd string, err error) int {
	msg := strings.TrimSpace(err.Error())
	fmt.Fprintf(c.stderr, "wfpsandbox %s: %s\n", cmd, escapeControls(msg))
	if c.format == "json" {
		doc := errorDoc{Error: msg}
		if code, ok := wfp.CodeOf(err); ok {
			doc.Code = code.Name()
		}
		c.emit(doc, nil)
	}
	return exitError
}
