package events

import (
	"github.com/wfpsandbox/wfpsandbox/wfp"

	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what `wfpsandbox events` prints: the selected events, oldest first, and
// what was left out.
type Report struct {
	Events []Event `json:"events"`
	Hidden Hidden  `json:"hidden"`
	// Undecodable counts the shown events that could not be fully decoded
	// (Event.Incomplete).
	Undecodable int `json:"undecodable"`
}

// Collect enumerates src from sel.Since, decodes and resolves every event and keeps
// those sel shows.
func Collect(src Source, res *Resolver, sel Selection) (*Report, error) {
	raws, err := src.Enum(sel.Since)
	if err != nil {
		return nil, err
	}
	rep := &Report{Events: []Event{}}
	for _, r := range raws {
		if e, ok := Process(r, res, sel, &rep.Hidden); ok {
			rep.Events = append(rep.Events, e)
			if e.Incomplete {
				rep.Undecodable++
			}
		}
	}
	return rep, nil
}

// Process decodes and resolves one Raw and applies sel; ok is false when sel hides it
// (counted in h).
func Process(r Raw, res *Resolver, sel Selection, h *Hidden) (Event, bool) {
	e := Decode(r)
	if e.typ == wfp.NetEventTypeClassifyDrop && res != nil {
		res.Resolve(&e)
	}
	if !sel.Match(&e, h) {
		return Event{}, false
	}
	return e, true
}

// WriteText writes the report as a table, each event's notes indented below it.
func (rep *Report) WriteText(w io.Writer) {
	if len(rep.Events) == 0 {
		fmt.Fprintln(w, "no matching drops in the net event log")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, Header)
		for i := range rep.Events {
			fmt.Fprintf(tw, "%d\t%s\n", i+1, rep.Events[i].Row())
		}
		tw.Flush()
		for i := range rep.Events {
			rep.Events[i].writeNotes(w, i+1)
		}
	}
	h := rep.Hidden
	if h.NotOurs > 0 {
		fmt.Fprintf(w, "%d drop(s) by other providers' filters not shown (use --all)\n", h.NotOurs)
	}
	if h.OtherAccount > 0 {
		fmt.Fprintf(w, "%d drop(s) of other accounts not shown\n", h.OtherAccount)
	}
	if h.Older > 0 {
		fmt.Fprintf(w, "%d older event(s) not shown\n", h.Older)
	}
}

// Header is the text table's header line (tab-separated); rows are a number and Row.
const Header = "#\tTIME\tACCOUNT\tAPP\tPROTO\tLOCAL\tREMOTE\tDIR\tLAYER\tFILTER"

// Row is the event as one tab-separated table row (without the leading number).
func (e *Event) Row() string {
	t := "?"
	if !e.Time.IsZero() {
		t = e.Time.Local().Format(time.DateTime)
	}
	acct := orQ(e.Account)
	if e.Account == "" {
		acct = orQ(e.SID)
	}
	cols := []string{t, acct, orQ(e.App), orQ(e.Protocol), endpoint(e.LocalIP, e.LocalPort),
		endpoint(e.RemoteIP, e.RemotePort), orQ(e.Direction), orQ(e.Layer), e.filterText()}
	return strings.Join(cols, "\t")
}

func (e *Event) filterText() string {
	switch {
	case e.Filter != nil && e.Ours:
		where := ""
		switch e.Filter.Sublayer {
		case "account":
			where = " (account's own sublayer)"
		case "shared":
			where = " (shared sublayer)"
		}
		return fmt.Sprintf("%s {%s} rule %s%s", e.Filter.Name, e.Filter.Key, orQ(e.Filter.Rule), where)
	case e.Filter != nil:
		prov := e.Filter.Provider
		if prov == "" {
			prov = "no provider"
			if e.Filter.ProviderKey != "" {
				prov = "provider {" + e.Filter.ProviderKey + "}"
			}
		}
		return fmt.Sprintf("%s {%s} (%s)", e.Filter.Name, e.Filter.Key, prov)
	case e.FilterID != nil:
		return "filter ID " + strconv.FormatUint(*e.FilterID, 10)
	}
	return "?"
}

func (e *Event) writeNotes(w io.Writer, n int) {
	for _, note := range e.Notes {
		fmt.Fprintf(w, "  #%d: %s\n", n, note)
	}
}

func endpoint(ip string, port *uint16) string {
	switch {
	case ip == "" && port == nil:
		return "?"
	case port == nil:
		return ip
	case ip == "":
		return "?:" + strconv.Itoa(int(*port))
	case strings.Contains(ip, ":"):
		return "[" + ip + "]:" + strconv.Itoa(int(*port))
	}
	return ip + ":" + strconv.Itoa(int(*port))
}

func orQ(s string) string {
	if s == "" {
		return "?"
	}
	return s
}
