package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/events"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

func init() {
	register(&command{
		name:    "events",
		summary: "list connection attempts dropped by wfpsandbox's filters, from the WFP net event log (which filter blocked this)",
		usage: "[--since DURATION] [--follow] [--account NAME | --sid SID] [--all] [--net-event-version N] " +
			"[--engine windows] [--format text|json]",
		run: runEvents,
	})
}

// eventLog is an open net event log with the engine that resolves its filter IDs.
type eventLog struct {
	src     events.Source
	filters events.Filters
	version int // n of the FWPM_NET_EVENTn structures read
	close   func() error
}

// netEventSourcer is implemented by the Windows engine (winengine.Engine.NetEventSource).
type netEventSourcer interface {
	NetEventSource(version int) (events.Source, int, error)
}

// openEventLog opens the net event log of the engine an --engine value names, with
// structure version version (-1: the newest the running Windows supports). Tests
// replace it with a fake log.
var openEventLog = func(spec string, version int) (*eventLog, error) {
	if spec == "" {
		return nil, fmt.Errorf("%w: events reads the Windows net event log, and there is no Windows Filtering Platform on %s",
			wfp.ErrUnavailable, runtime.GOOS)
	}
	if strings.HasPrefix(spec, "memory:") {
		return nil, fmt.Errorf("--engine %s: a simulated host has no net event log; events reads the live engine's (--engine windows)", spec)
	}
	e, err := openEngine(spec)
	if err != nil {
		return nil, err
	}
	ns, ok := e.(netEventSourcer)
	if !ok {
		e.Close()
		return nil, fmt.Errorf("--engine %s has no net event log", spec)
	}
	src, v, err := ns.NetEventSource(version)
	if err != nil {
		e.Close()
		return nil, err
	}
	return &eventLog{src: src, filters: e, version: v, close: e.Close}, nil
}

// netEventsDisabledHelp is what an operator needs to know when collection is off.
const netEventsDisabledHelp = events.CollectionOff + `
Then reproduce the blocked connection and run this command again. The log is a small ring buffer
(about 128 KB, some 100-150 events) that Windows empties at every reboot; to catch drops as they
happen, use --follow.`

// ringNote reminds the reader why an event may be missing.
const ringNote = "the WFP net event log is a small ring buffer (about 128 KB) emptied at reboot; use --follow to watch drops as they happen"

// eventsDoc is the JSON of `events` (without --follow).
type eventsDoc struct {
	StructVersion int `json:"structVersion"` // n of the FWPM_NET_EVENTn structures read
	*events.Report
}

func runEvents(ctx context.Context, c *cli, args []string) int {
	fs := c.flags("events")
	sinceFlag := durationFlag(fs, "since", 0, "only events of the last DURATION (e.g. 10m, 2h); default: the whole log")
	follow := fs.Bool("follow", false, "after the log, wait for new drops and print them as they happen, until Ctrl+C (JSON: one object per line)")
	name := fs.String("account", "", "only drops of this account (Windows only; resolved to its SID)")
	sid := fs.String("sid", "", "only drops of the account with this SID")
	all := fs.Bool("all", false, "also show drops by other providers' filters, with the provider's name")
	version := intRangeFlag(fs, "net-event-version", -1, 0, 5, "read FWPM_NET_EVENTn structures of this version (0-5) instead of the newest this Windows supports")
	engine := engineFlag(fs)
	if !c.parse(fs, args) {
		return exitError
	}
	sel := events.Selection{All: *all}
	if *sinceFlag < 0 {
		return c.fail("events", fmt.Errorf("--since %s: want a positive duration", *sinceFlag))
	}
	if *sinceFlag > 0 {
		sel.Since = time.Now().Add(-*sinceFlag)
	}
	switch {
	case *name != "" && *sid != "":
		return c.fail("events", fmt.Errorf("give --account or --sid, not both"))
	case *name != "":
		a, err := account.Resolve(*name)
		if err != nil {
			return c.fail("events", err)
		}
		sel.SID = a.SID.String()
	case *sid != "":
		s, err := account.ParseSID(*sid)
		if err != nil {
			return c.fail("events", err)
		}
		sel.SID = s.String()
	}
	if *version < -1 || *version > 5 {
		return c.fail("events", fmt.Errorf("--net-event-version %d: want 0 to 5", *version))
	}

	log, err := openEventLog(*engine, *version)
	if err != nil {
		return c.fail("events", err)
	}
	defer log.close()
	res := events.NewResolver(log.filters)
	res.LookupAccount = events.LookupAccountSID

	if *follow {
		return c.followEvents(ctx, log, res, sel)
	}
	rep, err := events.Collect(log.src, res, sel)
	if err != nil {
		return c.eventsFailed(err)
	}
	c.emit(eventsDoc{StructVersion: log.version, Report: rep}, func(w io.Writer) {
		rep.WriteText(w)
		if rep.Undecodable > 0 {
			fmt.Fprintf(w, "%d event(s) could not be fully decoded (see the notes)\n", rep.Undecodable)
		}
		fmt.Fprintf(w, "(read as FWPM_NET_EVENT%d; %s)\n", log.version, ringNote)
	})
	return exitOK
}

// eventsFailed reports a failed read, with the plain explanation for a log that is
// switched off.
func (c *cli) eventsFailed(err error) int {
	if errors.Is(err, wfp.ErrNetEventsDisabled) {
		return c.fail("events", fmt.Errorf("%w\n%s", err, netEventsDisabledHelp))
	}
	return c.fail("events", err)
}

// followEvents prints the log from --since (if given), then every new event the
// subscription delivers until ctx is done (Ctrl+C). Events are handed from the
// subscription's callback thread to this goroutine, which does the filter lookups:
// no WFP call is made from inside the callback.
func (c *cli) followEvents(ctx context.Context, log *eventLog, res *events.Resolver, sel events.Selection) int {
	var hidden events.Hidden
	n := 0
	show := func(e events.Event) {
		n++
		if c.format == "json" {
			b, err := json.Marshal(e)
			if err != nil {
				fmt.Fprintf(c.stderr, "wfpsandbox events: %v\n", err)
				return
			}
			fmt.Fprintf(c.stdout, "%s\n", b)
			return
		}
		fmt.Fprintf(textWriter{c.stdout}, "#%d  %s\n", n, strings.ReplaceAll(e.Row(), "\t", "  "))
		for _, note := range e.Notes {
			fmt.Fprintf(textWriter{c.stdout}, "  #%d: %s\n", n, note)
		}
	}
	if !sel.Since.IsZero() {
		raws, err := log.src.Enum(sel.Since)
		if err != nil {
			return c.eventsFailed(err)
		}
		for _, r := range raws {
			if e, ok := events.Process(r, res, sel, &hidden); ok {
				show(e)
			}
		}
	}
	if c.format != "json" {
		fmt.Fprintf(c.stderr, "wfpsandbox events: following new drops (FWPM_NET_EVENT%d); Ctrl+C to stop\n", log.version)
	}
	// Live events are not limited by --since.
	sel.Since = time.Time{}
	raws := make(chan events.Raw, 1024)
	done := make(chan error, 1)
	go func() {
		done <- log.src.Subscribe(ctx, func(r events.Raw) {
			select {
			case raws <- r:
			case <-ctx.Done():
			}
		})
	}()
	for {
		select {
		case r := <-raws:
			if e, ok := events.Process(r, res, sel, &hidden); ok {
				show(e)
			}
		case err := <-done:
			if err != nil {
				return c.eventsFailed(err)
			}
			for {
				select {
				case r := <-raws:
					if e, ok := events.Process(r, res, sel, &hidden); ok {
						show(e)
					}
					continue
				default:
				}
				break
			}
			if c.format != "json" {
				fmt.Fprintf(c.stderr, "wfpsandbox events: stopped after %d event(s)\n", n)
			}
			return exitOK
		}
	}
}
