package selftest

import (
	"net/netip"
	"time"

	"github.com/wfpsandbox/wfpsandbox/events"
)

// RunWindow is when one probe run of an identity in the policy phase happened; net
// events are tied to the run whose window holds their time stamp.
type RunWindow struct {
	Identity   Identity
	Start, End time.Time
}

// eventSlack widens a run's window for net events: their time stamps come from the
// kernel, the window from this process's clock.
const eventSlack = time.Second

// Attribute ties the policy phase's blocks to net events: for every cell whose policy
// outcome is blocked, a CLASSIFY_DROP in the window of that identity's run with the
// same protocol, remote address and (TCP, UDP) remote port becomes the cell's Drop, so
// judge counts the block as the policy's only if the dropping filter is ours. evs must
// be resolved (events.Resolver); ours says whether a provider key is the selftest's.
// It returns how many cells got a drop. Cells without a matching event keep Drop nil
// (the log is a small ring and may have lost it; the report says attribution was
// partial).
func (r *Report) Attribute(wins []RunWindow, evs []events.Event, ours func(providerKey string) bool) int {
	n := 0
	for i := range r.Cells {
		c := &r.Cells[i]
		if c.Policy.Outcome != OutcomeBlocked {
			continue
		}
		p, ok := r.probe(c.Probe)
		if !ok {
			continue
		}
		target, ok := r.Host.Addresses.Target(p.Scope)
		if !ok {
			continue
		}
		proto := map[ProbeKind]string{KindTCPConnect: "tcp", KindUDPSend: "udp", KindRawICMP: "icmp"}[p.Kind]
		if p.Kind == KindRawICMP && target.Is6() {
			proto = "icmpv6"
		}
		if proto == "" {
			continue
		}
		for _, w := range wins {
			if w.Identity != c.Identity {
				continue
			}
			for _, e := range evs {
				if e.Type != "CLASSIFY_DROP" || e.Protocol != proto || e.Time.Before(w.Start.Add(-eventSlack)) || e.Time.After(w.End.Add(eventSlack)) {
					continue
				}
				ip, err := netip.ParseAddr(e.RemoteIP)
				if err != nil || ip.Unmap() != target.Unmap() {
					continue
				}
				if (proto == "tcp" || proto == "udp") && (e.RemotePort == nil || *e.RemotePort != p.Port) {
					continue
				}
				if d := DropFromEvent(e, ours); d != nil {
					c.Policy.Drop = d
					n++
					break
				}
			}
		}
	}
	return n
}
