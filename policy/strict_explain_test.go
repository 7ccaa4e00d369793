package policy_test

import (
	"net/netip"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/arbiter"
	"github.com/wfpsandbox/wfpsandbox/policy"
)

const (
	sandboxSID = "S-1-5-21-3623811015-3361044348-30300820-1013"
	otherSID   = "S-1-5-21-3623811015-3361044348-30300820-1001"
)

func buildPlan(t *testing.T, opts policy.Options) *policy.Plan {
	t.Helper()
	if opts.SID == "" {
		opts.SID = sandboxSID
	}
	p, err := policy.Build(opts)
	if err != nil {
		t.Fatalf("policy.Build(%+v): %v", opts, err)
	}
	return p
}

func explain(t *testing.T, p *policy.Plan, as string, kind arbiter.TokenKind, dir arbiter.Direction, proto, remote string) arbiter.Decision {
	t.Helper()
	f, err := arbiter.BuildFlow(arbiter.Request{As: as, Token: kind, Direction: dir, Proto: proto, Remote: remote})
	if err != nil {
		t.Fatal(err)
	}
	d, err := arbiter.Evaluate(arbiter.FromPlan(p), f)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

type strictCase struct {
	dir    arbiter.Direction
	proto  string
	remote string
	rule   string // deciding rule ID; "" = no filter decided
	block  bool
	why    string
}

// Expectations follow from StrictRules' documented order inside our sublayer: baseline
// blocks (range 3) > loopback permits for 127.0.0.0/8 and ::1/128 (range 2) > block
// everything (range 1), at ALE_AUTH_CONNECT and ALE_AUTH_RECV_ACCEPT; and from Flow's
// classification of ::ffff: addresses as V6 addresses.
var strictAllLoopback = []strictCase{
	{arbiter.Outbound, "tcp", "127.0.0.1:8080", "strict-loopback-connect-v4", false, "loopback v4"},
	{arbiter.Outbound, "udp", "127.0.0.1:5353", "strict-loopback-connect-v4", false, "any protocol to loopback without proxy ports"},
	{arbiter.Outbound, "tcp", "127.255.255.255:80", "strict-loopback-connect-v4", false, "still inside 127.0.0.0/8: loopback, nothing beyond"},
	{arbiter.Outbound, "tcp", "[::1]:8080", "strict-loopback-connect-v6", false, "loopback v6"},
	{arbiter.Outbound, "tcp", "8.8.8.8:443", "strict-block-connect-v4", true, "not loopback"},
	{arbiter.Outbound, "tcp", "[2606:4700::1111]:443", "strict-block-connect-v6", true, "not loopback"},
	{arbiter.Outbound, "tcp", "[::ffff:127.0.0.1]:8080", "strict-block-connect-v6", true, "a V6 flow; ::ffff:127.0.0.1 is not in ::1/128"},
	{arbiter.Outbound, "tcp", "[::ffff:8.8.8.8]:443", "strict-block-connect-v6", true, "a V6 flow; not in ::1/128"},
	{arbiter.Outbound, "tcp", "[::127.0.0.1]:8080", "strict-block-connect-v6", true, "IPv4-compatible form is not ::1"},
	{arbiter.Outbound, "tcp", "0.0.0.0:80", "strict-block-connect-v4", true, "0.0.0.0 is not in 127/8"},
	{arbiter.Outbound, "tcp", "[::]:80", "strict-block-connect-v6", true, ":: is not ::1"},
	{arbiter.Outbound, "tcp", "128.0.0.1:80", "strict-block-connect-v4", true, "just past 127/8"},
	{arbiter.Outbound, "tcp", "126.255.255.255:80", "strict-block-connect-v4", true, "just before 127/8"},
	{arbiter.Outbound, "tcp", "[::2]:80", "strict-block-connect-v6", true, "just past ::1"},
	{arbiter.Outbound, "tcp", "[fe80::1]:80", "strict-block-connect-v6", true, "link-local is not loopback"},
	{arbiter.Outbound, "udp", "127.0.0.1:53", "dns-v4", true, "baseline DNS block sits above the loopback permit"},
	{arbiter.Outbound, "tcp", "[::1]:853", "dot-v6", true, "baseline DoT block above the permit"},
	{arbiter.Outbound, "tcp", "127.0.0.1:445", "smb-v4", true, "baseline SMB block above the permit"},
	{arbiter.Outbound, "icmp", "127.0.0.1", "icmp-bind-v4", true, "baseline ICMP at RESOURCE_ASSIGNMENT"},
	{arbiter.Outbound, "icmpv6", "::1", "icmp-bind-v6", true, "baseline ICMPv6 at RESOURCE_ASSIGNMENT"},
	{arbiter.Outbound, "udp", "8.8.8.8:53", "dns-v4", true, "baseline DNS decides first (range 3)"},
	{arbiter.Inbound, "tcp", "127.0.0.1:50000", "strict-loopback-accept-v4", false, "accept from loopback"},
	{arbiter.Inbound, "tcp", "[::1]:50000", "strict-loopback-accept-v6", false, "accept from loopback v6"},
	{arbiter.Inbound, "tcp", "10.0.0.9:50000", "strict-block-accept-v4", true, "accept from the network"},
	{arbiter.Inbound, "udp", "[2001:db8::9]:50000", "strict-block-accept-v6", true, "accept from the network v6"},
	{arbiter.Inbound, "tcp", "[::ffff:10.0.0.9]:50000", "strict-block-accept-v6", true, "mapped peer is not ::1"},
}

var strictProxy = []strictCase{
	{arbiter.Outbound, "tcp", "127.0.0.1:3128", "strict-loopback-connect-v4", false, "TCP to a proxy port"},
	{arbiter.Outbound, "tcp", "127.0.0.1:8888", "strict-loopback-connect-v4", false, "second proxy port: ORed"},
	{arbiter.Outbound, "tcp", "[::1]:3128", "strict-loopback-connect-v6", false, "proxy port on ::1"},
	{arbiter.Outbound, "tcp", "127.0.0.1:8080", "strict-block-connect-v4", true, "loopback, but not a proxy port"},
	{arbiter.Outbound, "udp", "127.0.0.1:3128", "strict-block-connect-v4", true, "proxy port but UDP: the permit is TCP only"},
	{arbiter.Outbound, "tcp", "8.8.8.8:3128", "strict-block-connect-v4", true, "proxy port off loopback"},
	{arbiter.Outbound, "tcp", "[::ffff:127.0.0.1]:3128", "strict-block-connect-v6", true, "mapped loopback is not ::1"},
	{arbiter.Inbound, "tcp", "127.0.0.1:50000", "strict-loopback-accept-v4", false, "accepts from loopback stay open with proxy ports"},
}

func checkStrict(t *testing.T, p *policy.Plan, cases []strictCase) {
	for _, c := range cases {
		t.Run(c.dir.String()+"/"+c.proto+"/"+c.remote, func(t *testing.T) {
			d := explain(t, p, sandboxSID, arbiter.TokenNormal, c.dir, c.proto, c.remote)
			if (d.Action == arbiter.Block) != c.block {
				t.Fatalf("decision %s, want block=%v (%s)\n%s", d.Action, c.block, c.why, d.Text())
			}
			if d.Filter == nil || d.Filter.Key != policy.FilterKey(p.SID, c.rule) {
				t.Fatalf("decided by %v, want rule %s (%s)\n%s", d.Filter, c.rule, c.why, d.Text())
			}
		})
	}
}

func TestStrictOnlyLoopback(t *testing.T) {
	checkStrict(t, buildPlan(t, policy.Options{Profile: policy.Strict}), strictAllLoopback)
}

func TestStrictProxyPorts(t *testing.T) {
	checkStrict(t, buildPlan(t, policy.Options{Profile: policy.Strict, ProxyPorts: []uint16{3128, 8888}}), strictProxy)
}

// TestStrictMappedEitherWay: whichever way Windows classifies a dual-stack connect to
// ::ffff:a.b.c.d (V6 with the mapped address, or V4 with a.b.c.d), strict blocks it
// unless a.b.c.d is loopback.
func TestStrictMappedEitherWay(t *testing.T) {
	p := buildPlan(t, policy.Options{Profile: policy.Strict})
	for _, remote := range []string{"[::ffff:8.8.8.8]:443", "8.8.8.8:443", "[::ffff:10.1.2.3]:80", "10.1.2.3:80"} {
		if d := explain(t, p, sandboxSID, arbiter.TokenNormal, arbiter.Outbound, "tcp", remote); d.Action != arbiter.Block || len(d.Cautions) != 0 {
			t.Errorf("%s: %s, cautions %q; want block under both classifications\n%s", remote, d.Action, d.Cautions, d.Text())
		}
	}
	// ::ffff:127.0.0.1 is blocked as a V6 address; as 127.0.0.1 at the V4 layers it would
	// be loopback and permitted — still nothing beyond loopback — and the caution says so.
	d := explain(t, p, sandboxSID, arbiter.TokenNormal, arbiter.Outbound, "tcp", "[::ffff:127.0.0.1]:8080")
	if d.Action != arbiter.Block || len(d.Cautions) != 1 || !strings.Contains(d.Cautions[0], "the result is permit") {
		t.Errorf("::ffff:127.0.0.1: %s, cautions %q", d.Action, d.Cautions)
	}
}

// TestStrictTokensAndAccounts: under deny (default) the strict blocks hold for every
// token kind of the account; under allow the documented escape reopens the network;
// another account is never affected.
func TestStrictTokensAndAccounts(t *testing.T) {
	deny := buildPlan(t, policy.Options{Profile: policy.Strict})
	allow := buildPlan(t, policy.Options{Profile: policy.Strict, UserMatch: policy.MatchAllow})
	for _, kind := range arbiter.TokenKinds {
		// deny shape: every token carrying the account's SID is denied by the guard's deny ACE
		// → the guard does not match → the unconditioned blocks below it apply.
		if d := explain(t, deny, sandboxSID, kind, arbiter.Outbound, "tcp", "8.8.8.8:443"); d.Action != arbiter.Block {
			t.Errorf("deny/%s: %s, want block\n%s", kind, d.Action, d.Text())
		}
		// another account: Everyone / ALL APP PACKAGES grant the guard → the account's
		// sublayer decides a soft permit by its guard; no block is reached.
		guard := policy.FilterKey(sandboxSID, "guard-connect-v4")
		if d := explain(t, deny, otherSID, kind, arbiter.Outbound, "tcp", "8.8.8.8:443"); d.Action != arbiter.Permit || (d.Filter != nil && d.Filter.Key != guard) {
			t.Errorf("deny/other/%s: %s by %v, want permit (by nothing or the guard)\n%s", kind, d.Action, d.Filter, d.Text())
		}
		// allow shape: only the normal token is granted by D:(A;;CC;;;SID).
		d := explain(t, allow, sandboxSID, kind, arbiter.Outbound, "tcp", "8.8.8.8:443")
		if want := kind == arbiter.TokenNormal; (d.Action == arbiter.Block) != want {
			t.Errorf("allow/%s: %s, want block=%v\n%s", kind, d.Action, want, d.Text())
		}
	}
}

// TestStrictNoAddressOutsideLoopbackPermitted sweeps addresses around every loopback
// prefix: a permit by our plan is only ever 127.0.0.0/8 or ::1.
func TestStrictNoAddressOutsideLoopbackPermitted(t *testing.T) {
	p := buildPlan(t, policy.Options{Profile: policy.Strict})
	remotes := []string{"127.0.0.0:1", "127.0.0.1:1", "127.1.2.3:1", "127.255.255.255:1",
		"126.255.255.255:1", "128.0.0.0:1", "0.0.0.0:1", "255.255.255.255:1", "169.254.1.1:1", "10.0.0.1:1",
		"[::1]:1", "[::]:1", "[::2]:1", "[::ffff:127.0.0.1]:1", "[::127.0.0.1]:1", "[64:ff9b::7f00:1]:1",
		"[2002:7f00:1::]:1", "[fe80::1]:1", "[ff02::1]:1", "[::ffff:0:0]:1"}
	for _, r := range remotes {
		d := explain(t, p, sandboxSID, arbiter.TokenNormal, arbiter.Outbound, "tcp", r)
		ap := mustAddrPort(t, r)
		loop := ap.Addr().Is4() && policy.LoopbackV4.Contains(ap.Addr()) || ap.Addr() == policy.LoopbackV6.Addr()
		if (d.Action == arbiter.Permit) != loop {
			t.Errorf("%s: %s; permitted exactly when in 127.0.0.0/8 or ::1 (loopback=%v)\n%s", r, d.Action, loop, d.Text())
		}
	}
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := arbiter.ParseRemote(s, arbiter.ProtoTCP)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// TestPermitsNeverOpenAnotherAccount: each account has its own sublayer, so a permit of
// one account decides only that account's sublayer and can never hide another account's
// blocks. A process of account A can, without privilege, make a restricted token whose
// restricting SIDs include none of the SIDs the guard descriptor allows (here only a
// logon SID): no guard grants it, so it reaches the unconditioned filters of BOTH
// sublayers — A's catch-all blocks it, and B's blocks would too (the documented
// fail-closed cost). A's own deny-only child is the account: it gets A's proxy permit.
func TestPermitsNeverOpenAnotherAccount(t *testing.T) {
	a := buildPlan(t, policy.Options{SID: sandboxSID, Profile: policy.Strict, ProxyPorts: []uint16{3128}})
	b := buildPlan(t, policy.Options{SID: otherSID, Profile: policy.Strict})
	host := arbiter.Set{Filters: append(append([]*wfp.Filter{}, a.Filters...), b.Filters...), Sublayers: []*wfp.Sublayer{a.Sublayer, b.Sublayer}}

	normal, err := arbiter.TokenFor(arbiter.TokenNormal, mustSID(t, sandboxSID))
	if err != nil {
		t.Fatal(err)
	}
	logonOnly := normal
	logonOnly.Restricting = []account.SID{mustSID(t, "S-1-5-5-0-123456")}

	eval := func(tok arbiter.Token, remote string) arbiter.Decision {
		t.Helper()
		d, err := arbiter.Evaluate(host, arbiter.Flow{Direction: arbiter.Outbound, Protocol: policy.ProtoTCP,
			Remote: netip.MustParseAddrPort(remote), Token: tok})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := eval(logonOnly, "127.0.0.1:8080"); d.Action != arbiter.Block {
		t.Fatalf("A's logon-SID-only restricted child reached 127.0.0.1:8080 through %v\n%s", d.Filter, d.Text())
	}
	if d := eval(normal, "127.0.0.1:8080"); d.Action != arbiter.Block || d.Filter == nil || d.Filter.Key != policy.FilterKey(sandboxSID, "strict-block-connect-v4") {
		t.Fatalf("A reached a loopback port outside its proxy list (or was blocked by B's filters)\n%s", d.Text())
	}
	if d := eval(normal, "127.0.0.1:3128"); d.Action != arbiter.Permit {
		t.Fatalf("A's own proxy port: %s by %v\n%s", d.Action, d.Filter, d.Text())
	}
	denyOnly, _ := arbiter.TokenFor(arbiter.TokenDenyOnly, mustSID(t, sandboxSID))
	if d := eval(denyOnly, "127.0.0.1:3128"); d.Action != arbiter.Permit {
		t.Fatalf("A's deny-only child did not get A's proxy permit: %s by %v\n%s", d.Action, d.Filter, d.Text())
	}
	if d := eval(denyOnly, "127.0.0.1:8080"); d.Action != arbiter.Block {
		t.Fatalf("A's deny-only child reached 127.0.0.1:8080: %s by %v\n%s", d.Action, d.Filter, d.Text())
	}
	bTok, _ := arbiter.TokenFor(arbiter.TokenNormal, mustSID(t, otherSID))
	if d := eval(bTok, "127.0.0.1:8080"); d.Action != arbiter.Permit {
		t.Fatalf("B's own loopback: %s by %v\n%s", d.Action, d.Filter, d.Text())
	}
	if d := eval(bTok, "8.8.8.8:443"); d.Action != arbiter.Block || d.Filter == nil || d.Filter.Key != policy.FilterKey(otherSID, "strict-block-connect-v4") {
		t.Fatalf("B to the network: %s by %v, want B's own catch-all\n%s", d.Action, d.Filter, d.Text())
	}
}

func mustSID(t *testing.T, s string) account.SID {
	t.Helper()
	sid, err := account.ParseSID(s)
	if err != nil {
		t.Fatal(err)
	}
	return sid
}
