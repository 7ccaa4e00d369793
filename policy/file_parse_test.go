package policy_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/arbiter"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

const exampleFile = `# wfpsandbox policy
profile     = "strict"
user_match  = "deny"
proxy_ports = [3128, 8888]

[[rule]]
id        = "ssh"
action    = "block"
direction = "out"
protocol  = "tcp"
ports     = [22, "6000-6010"]
remote    = ["10.0.0.0/8", "fd00::/8"]

[[rule]]
id       = "no-listen-8080"
action   = "block"
direction = "in"
ports    = [8080]
`

func TestParseFileExample(t *testing.T) {
	f, err := policy.ParseFile("example.toml", []byte(exampleFile))
	if err != nil {
		t.Fatal(err)
	}
	want := &policy.File{
		Name: "example.toml", Profile: policy.Strict, UserMatch: policy.MatchDeny, ProxyPorts: []uint16{3128, 8888},
		Rules: []policy.FileRule{
			{ID: "ssh", Direction: "out", Protocol: "tcp", Ports: []policy.PortRange{{22, 22}, {6000, 6010}},
				Remote: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}, Line: 6},
			{ID: "no-listen-8080", Direction: "in", Protocol: "any", Ports: []policy.PortRange{{8080, 8080}}, Line: 14},
		},
	}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("got  %+v\nwant %+v", f, want)
	}
	opts := f.Options(sandboxSID)
	var ids []string
	for _, r := range opts.Extra {
		ids = append(ids, r.ID)
	}
	if got := strings.Join(ids, " "); got != "file-ssh-v4 file-ssh-v6 file-no-listen-8080-v4 file-no-listen-8080-v6" {
		t.Fatalf("extra rule IDs %q", got)
	}
	p, err := policy.Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	// 6 guard permits (deny, every strict layer) + 20 strict rules + 4 extra blocks.
	if p.UserMatch != policy.MatchDeny || len(p.Filters) != 6+20+4 {
		t.Fatalf("%s: %d filters, want deny with 30", p.UserMatch, len(p.Filters))
	}
	// The plan hash covers the file: dropping a rule changes it.
	opts2 := f.Options(sandboxSID)
	opts2.Extra = opts2.Extra[:2]
	p2, err := policy.Build(opts2)
	if err != nil {
		t.Fatal(err)
	}
	if p.Hash() == p2.Hash() {
		t.Error("plan hash does not change with the policy file's rules")
	}
}

// TestFileRulesExplain: extra rules block what they say — on loopback too, since they
// sit above the strict loopback permits — and nothing else.
func TestFileRulesExplain(t *testing.T) {
	f, err := policy.ParseFile("example.toml", []byte(exampleFile))
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Build(f.Options(sandboxSID))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		dir    arbiter.Direction
		proto  string
		remote string
		rule   string
		block  bool
		why    string
	}{
		{arbiter.Outbound, "tcp", "10.1.2.3:22", "file-ssh-v4", true, "ssh rule: tcp 22 to 10/8 (range 3 beats the strict catch-all too)"},
		{arbiter.Outbound, "tcp", "[fd00::1]:6005", "file-ssh-v6", true, "port range 6000-6010, fd00::/8"},
		{arbiter.Outbound, "tcp", "127.0.0.1:3128", "strict-loopback-connect-v4", false, "the proxy port is untouched by the extra rules"},
		{arbiter.Inbound, "tcp", "127.0.0.1:40000", "strict-loopback-accept-v4", false, "inbound rule matches the LOCAL port 8080, unknown here, so it cannot be told — see NotEvaluated"},
	}
	for _, c := range cases {
		d := explain(t, p, sandboxSID, arbiter.TokenNormal, c.dir, c.proto, c.remote)
		if (d.Action == arbiter.Block) != c.block || d.Filter == nil || d.Filter.Key != policy.FilterKey(p.SID, c.rule) {
			t.Errorf("%s %s: %s by %v; want block=%v by %s (%s)\n%s", c.proto, c.remote, d.Action, d.Filter, c.block, c.rule, c.why, d.Text())
		}
	}
	// With the local port known the inbound rule decides.
	tok, _ := arbiter.TokenFor(arbiter.TokenNormal, mustSIDp(t, sandboxSID))
	fl := arbiter.Flow{Direction: arbiter.Inbound, Protocol: arbiter.ProtoTCP, Remote: netip.MustParseAddrPort("127.0.0.1:40000"),
		Local: netip.MustParseAddrPort("127.0.0.1:8080"), Token: tok}
	d, err := arbiter.Evaluate(arbiter.FromPlan(p), fl)
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != arbiter.Block || d.Filter.Key != policy.FilterKey(p.SID, "file-no-listen-8080-v4") {
		t.Errorf("inbound to local 8080: %s by %v\n%s", d.Action, d.Filter, d.Text())
	}
}

// TestParseFileErrors: every error names the file, the line and the field.
func TestParseFileErrors(t *testing.T) {
	rule := func(body string) string {
		return "profile = \"baseline\"\n\n[[rule]]\nid = \"ok\"\naction = \"block\"\n\n[[rule]]\n" + body
	}
	tests := []struct {
		name, data string
		want       string // substring: "file:line: field"
	}{
		{"syntax", "profile = \n", "p.toml:1:"},
		{"unknown top key", "profile = \"strict\"\nprofiel = \"x\"\n", "p.toml:2: profiel: unknown key"},
		{"unknown rule key", rule("id = \"b\"\naction = \"block\"\nport = [22]\n"), "p.toml:10: rule.port: unknown key"},
		{"unknown table", "[rules]\nid = 1\n", "p.toml:1: rules: unknown key"},
		{"bad profile", "profile = \"paranoid\"\n", "p.toml:1: profile: want"},
		{"profile type", "\nprofile = 1\n", "p.toml:2: profile: want"},
		{"bad user_match", "user_match = \"maybe\"\n", "p.toml:1: user_match"},
		{"proxy ports on baseline", "proxy_ports = [3128]\n", "p.toml:1: proxy_ports: proxy ports apply only"},
		{"proxy port 0", "profile = \"strict\"\nproxy_ports = [0]\n", "p.toml:2: proxy_ports"},
		{"proxy port dup", "profile = \"strict\"\nproxy_ports = [1, 1]\n", "p.toml:2: proxy_ports: proxy port 1 is listed twice"},
		{"proxy port too big", "profile = \"strict\"\nproxy_ports = [65536]\n", "p.toml:2: proxy_ports"},
		{"permit", rule("id = \"b\"\naction = \"permit\"\n"), "p.toml:9: rule[1].action: extra rules may only block"},
		{"missing action", rule("id = \"b\"\n"), "p.toml:7: rule[1].action: missing"},
		{"missing id", rule("action = \"block\"\n"), "p.toml:7: rule[1].id: missing"},
		{"bad id", rule("id = \"Bad_ID\"\naction = \"block\"\n"), "p.toml:8: rule[1].id"},
		{"dup id", rule("id = \"ok\"\naction = \"block\"\n"), "p.toml:8: rule[1].id: \"ok\" is also the id of rule[0]"},
		{"bad direction", rule("id = \"b\"\naction = \"block\"\ndirection = \"both\"\n"), "p.toml:10: rule[1].direction"},
		{"bad protocol", rule("id = \"b\"\naction = \"block\"\nprotocol = \"sctp\"\n"), "p.toml:10: rule[1].protocol"},
		{"port 0", rule("id = \"b\"\naction = \"block\"\nports = [0]\n"), "p.toml:10: rule[1].ports: 0 is not a port"},
		{"bad range", rule("id = \"b\"\naction = \"block\"\nports = [\"10-5\"]\n"), "p.toml:10: rule[1].ports"},
		{"port float", rule("id = \"b\"\naction = \"block\"\nports = [1.5]\n"), "p.toml:10: rule[1].ports"},
		{"icmp ports", rule("id = \"b\"\naction = \"block\"\nprotocol = \"icmp\"\nports = [8]\n"), "p.toml:11: rule[1].ports: ICMP has no ports"},
		{"bad cidr", rule("id = \"b\"\naction = \"block\"\nremote = [\"10.0.0.0/33\"]\n"), "p.toml:10: rule[1].remote"},
		{"host bits", rule("id = \"b\"\naction = \"block\"\nremote = [\"10.0.0.1/8\"]\n"), "p.toml:10: rule[1].remote: \"10.0.0.1/8\" has host bits set"},
		{"ipv4-mapped cidr", rule("id = \"b\"\naction = \"block\"\nremote = [\"::ffff:10.0.0.0/104\"]\n"), "p.toml:10: rule[1].remote: \"::ffff:10.0.0.0/104\" is an IPv4-mapped IPv6 address, which would only become an IPv6 filter; write 10.0.0.0/8 instead"},
		{"ipv4-mapped address", rule("id = \"b\"\naction = \"block\"\nremote = [\"::ffff:192.0.2.1\"]\n"), "p.toml:10: rule[1].remote: \"::ffff:192.0.2.1\" is an IPv4-mapped IPv6 address, which would only become an IPv6 filter; write 192.0.2.1/32 instead"},
		{"icmp v6 only", rule("id = \"b\"\naction = \"block\"\nprotocol = \"icmp\"\nremote = [\"fd00::/8\"]\n"), "p.toml:11: rule[1].remote: no address"},
		{"rule not a table", "rule = 5\n", "p.toml:1: rule: write each extra rule as a [[rule]] table"},
		{"rule a single table", "profile = \"strict\"\n\n[rule]\nid = \"x\"\naction = \"block\"\n", "p.toml:3: rule: write each extra rule as a [[rule]] table"},
		{"rule a dotted key", "profile = \"strict\"\nrule.id = \"x\"\n", "p.toml:2: rule: write each extra rule as a [[rule]] table"},
		// TOML keys are case-sensitive; the decoder is not: PROFILE silently decided the
		// profile over the profile a reader sees.
		{"key in another case", "profile = \"strict\"\nPROFILE = \"baseline\"\n", "p.toml:2: PROFILE: unknown key: keys are case-sensitive, write profile"},
		{"key in another case alone", "Profile = \"strict\"\n", "p.toml:1: Profile: unknown key"},
		{"rule key in another case", rule("id = \"b\"\nAction = \"block\"\n"), "p.toml:9: rule.Action: unknown key"},
		{"rule table in another case", "[[RULE]]\nid = \"b\"\naction = \"block\"\n", "p.toml:1: RULE: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := policy.ParseFile("p.toml", []byte(tt.data))
			if err == nil {
				t.Fatalf("accepted: %+v", f)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.toml")
	if err := os.WriteFile(path, []byte("profile = \"strict\"\nbogus = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := policy.LoadFile(path); err == nil || !strings.Contains(err.Error(), path+":2: bogus") {
		t.Fatalf("error %v, want it to name %s:2: bogus", err, path)
	}
	if _, err := policy.LoadFile(filepath.Join(dir, "missing.toml")); err == nil {
		t.Fatal("missing file accepted")
	}
	if err := os.WriteFile(path, []byte("profile = \"strict\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := policy.LoadFile(path)
	if err != nil || f.Profile != policy.Strict || f.UserMatch != policy.DefaultUserMatch {
		t.Fatalf("%+v, %v", f, err)
	}
}

// TestFileRuleConditions checks the filter conditions a rule turns into.
func TestFileRuleConditions(t *testing.T) {
	f, err := policy.ParseFile("p.toml", []byte("[[rule]]\nid = \"x\"\naction = \"block\"\nprotocol = \"udp\"\nports = [53, \"100-200\"]\nremote = [\"192.0.2.1\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	rules := f.Rules[0].Rules()
	if len(rules) != 1 || rules[0].ID != "file-x-v4" || rules[0].Layer != wfp.LayerALEAuthConnectV4 || rules[0].Action != wfp.ActionBlock {
		t.Fatalf("rules %+v", rules)
	}
	want := []wfp.Condition{
		{Field: wfp.FieldIPProtocol, Match: wfp.MatchEqual, Value: wfp.U8(17)},
		{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(53)},
		{Field: wfp.FieldIPRemotePort, Match: wfp.MatchRange, Value: wfp.RangeOf(wfp.U16(100), wfp.U16(200))},
		{Field: wfp.FieldIPRemoteAddress, Match: wfp.MatchEqual, Value: wfp.AddrMask(netip.MustParsePrefix("192.0.2.1/32"))},
	}
	if !reflect.DeepEqual(rules[0].Conditions, want) {
		t.Fatalf("conditions\n got %v\nwant %v", rules[0].Conditions, want)
	}
}

func mustSIDp(t *testing.T, s string) account.SID {
	t.Helper()
	sid, err := account.ParseSID(s)
	if err != nil {
		t.Fatal(err)
	}
	return sid
}

// TestFilePlanIndependentOfPath: the same file named by a relative path, ./path, its
// absolute path or a copy elsewhere is the same plan (same hash): the hash is of what
// is installed, and ensure hands the elevated setup an absolute path.
func TestFilePlanIndependentOfPath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("policy.toml", []byte(exampleFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir("copy", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("copy", "other.toml"), []byte(exampleFile), 0o644); err != nil {
		t.Fatal(err)
	}
	hashes := map[string]string{}
	for _, path := range []string{"policy.toml", "./policy.toml", filepath.Join(dir, "policy.toml"), filepath.Join("copy", "other.toml")} {
		f, err := policy.LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p, err := policy.Build(f.Options(sandboxSID))
		if err != nil {
			t.Fatal(err)
		}
		hashes[p.Hash()] = path
		for _, flt := range p.Filters {
			if strings.Contains(flt.Description, "policy.toml") || strings.Contains(flt.Name, "policy.toml") {
				t.Errorf("filter %q names the file: %q", flt.Name, flt.Description)
			}
		}
	}
	if len(hashes) != 1 {
		t.Errorf("%d different plan hashes for one file by four paths: %v", len(hashes), hashes)
	}
}
