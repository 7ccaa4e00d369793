package arbiter

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// FromPlan returns what a plan would install: its filters in its sublayer.
func FromPlan(p *policy.Plan) Set {
	return Set{Filters: p.Filters, Sublayers: []*wfp.Sublayer{p.Sublayer}}
}

// FromEngine reads every provider's filters and sublayers from an engine (Filters(nil),
// Sublayers(nil)), so that filters of other providers — a third-party hard permit in a
// higher sublayer, say — take part in the evaluation.
func FromEngine(e wfp.Engine) (set Set, err error) {
	// One read-only transaction (FWPM_TXN_READ_ONLY) around both enumerations, so the
	// sublayers and filters are one snapshot; it is aborted, having nothing to commit.
	if err := e.BeginReadTransaction(); err != nil {
		return Set{}, fmt.Errorf("explain: begin read-only transaction: %w", err)
	}
	defer func() {
		if aerr := e.AbortTransaction(); aerr != nil && err == nil {
			set, err = Set{}, fmt.Errorf("explain: end read-only transaction (abort): %w", aerr)
		}
	}()
	subs, err := e.Sublayers(nil)
	if err != nil {
		return Set{}, fmt.Errorf("explain: enumerate sublayers: %w", err)
	}
	filters, err := e.Filters(nil)
	if err != nil {
		return Set{}, fmt.Errorf("explain: enumerate filters: %w", err)
	}
	return Set{Filters: filters, Sublayers: subs}, nil
}

// Request is an explain question in the CLI's terms.
type Request struct {
	As        string    // SID of the account the process runs as
	Token     TokenKind // shape of its token; TokenNormal when empty
	Direction Direction
	Proto     string // tcp, udp, icmp, icmpv6
	Remote    string // ADDR, ADDR:PORT, [V6ADDR]:PORT
}

// BuildFlow turns a request into a flow.
func BuildFlow(r Request) (Flow, error) {
	sid, err := account.ParseSID(r.As)
	if err != nil {
		return Flow{}, fmt.Errorf("explain: account: %w", err)
	}
	tok, err := TokenFor(r.Token, sid)
	if err != nil {
		return Flow{}, fmt.Errorf("explain: %w", err)
	}
	proto, err := ParseProto(r.Proto)
	if err != nil {
		return Flow{}, fmt.Errorf("explain: %w", err)
	}
	remote, err := ParseRemote(r.Remote, proto)
	if err != nil {
		return Flow{}, fmt.Errorf("explain: %w", err)
	}
	f := Flow{Direction: r.Direction, Protocol: proto, Remote: remote, Token: tok}
	if err := f.Validate(); err != nil {
		return Flow{}, fmt.Errorf("explain: %w", err)
	}
	return f, nil
}

// ParseRemote parses ADDR, ADDR:PORT, [V6ADDR] or [V6ADDR]:PORT. TCP and UDP need a
// port; for ICMP the port, if given, is the ICMP code.
func ParseRemote(s string, proto uint8) (netip.AddrPort, error) {
	var ap netip.AddrPort
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		ap = netip.AddrPortFrom(a, 0)
	} else if ap, err = netip.ParseAddrPort(s); err != nil {
		return ap, fmt.Errorf("remote %q is not ADDR, ADDR:PORT or [V6ADDR]:PORT", s)
	}
	if ap.Addr().Zone() != "" {
		return ap, fmt.Errorf("remote %q: zones are not supported", s)
	}
	if (proto == ProtoTCP || proto == ProtoUDP) && ap.Port() == 0 {
		return ap, fmt.Errorf("remote %q: %s needs a port (ADDR:PORT, [V6ADDR]:PORT)", s, ProtoName(proto))
	}
	if (proto == ProtoICMP || proto == ProtoICMPv6) && ap.Port() > 255 {
		return ap, fmt.Errorf("remote %q: for ICMP the port is the ICMP code, 0-255", s)
	}
	return ap, nil
}

// Doc is the JSON form of a decision, the output of `wfpsandbox explain --format json`.
type Doc struct {
	Decision     string     `json:"decision"` // permit or block
	Layer        string     `json:"layer"`    // the deciding layer
	Layers       []LayerDoc `json:"layers"`   // every layer evaluated
	Filter       *FilterRef `json:"filter"`   // the deciding filter; null when none matched
	Flow         string     `json:"flow"`
	Trace        []string   `json:"trace"`
	Cautions     []string   `json:"cautions"`
	NotEvaluated []string   `json:"notEvaluated"`
}

// LayerDoc is the outcome at one layer.
type LayerDoc struct {
	Layer    string     `json:"layer"`
	Decision string     `json:"decision"`
	Hard     bool       `json:"hard"`
	Filter   *FilterRef `json:"filter"`
}

// FilterRef names a filter.
type FilterRef struct {
	Key  wfp.GUID `json:"key"`
	Name string   `json:"name"`
}

func ref(f *wfp.Filter) *FilterRef {
	if f == nil {
		return nil
	}
	return &FilterRef{Key: f.Key, Name: f.Name}
}

// Doc returns the JSON form of d for flow.
func (d Decision) Doc(flow Flow) Doc {
	doc := Doc{
		Decision: d.Action.String(), Layer: d.Layer.String(), Filter: ref(d.Filter), Flow: flow.String(),
		Trace: d.Trace, Cautions: d.Cautions, NotEvaluated: d.NotEvaluated, Layers: []LayerDoc{},
	}
	if doc.Cautions == nil {
		doc.Cautions = []string{}
	}
	if doc.NotEvaluated == nil {
		doc.NotEvaluated = []string{}
	}
	for _, l := range d.Layers {
		doc.Layers = append(doc.Layers, LayerDoc{Layer: l.Layer.String(), Decision: l.Action.String(), Hard: l.Hard, Filter: ref(l.Filter)})
	}
	return doc
}

// Text returns the readable form of d: the decision, the deciding layer and filter,
// then the trace.
func (d Decision) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "decision: %s\n", d.Action)
	fmt.Fprintf(&b, "layer:    %s\n", d.Layer)
	if d.Filter != nil {
		fmt.Fprintf(&b, "filter:   %s %q\n", d.Filter.Key, d.Filter.Name)
	} else {
		b.WriteString("filter:   none matched\n")
	}
	for _, c := range d.Cautions {
		b.WriteString("caution:  " + c + "\n")
	}
	b.WriteString("trace:\n")
	for _, line := range d.Trace {
		b.WriteString("  " + line + "\n")
	}
	return b.String()
}
