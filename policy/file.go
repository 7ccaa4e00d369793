package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/wfpsandbox/wfpsandbox/internal/safefile"
	"github.com/wfpsandbox/wfpsandbox/internal/tomlguard"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// A policy file (`--policy FILE`) chooses the profile, the user-match shape, the proxy
// ports and extra block rules for one sandbox account. It is TOML:
//
//	# wfpsandbox policy
//	profile     = "strict"   # "baseline" (default) or "strict"
//	user_match  = "deny"     # "deny" (default) or "allow"; see UserMatch
//	proxy_ports = [3128]     # strict only: the loopback TCP ports the account may reach
//
//	[[rule]]                 # an extra rule; any number, each a [[rule]] table
//	id        = "ssh"        # 1-40 of a-z 0-9 -, starting with a letter or digit; unique
//	action    = "block"      # required; only "block" (see below)
//	direction = "out"        # "out" (default): the account's connects, at ALE_AUTH_CONNECT;
//	                         # "in": accepts by the account's listeners, at ALE_AUTH_RECV_ACCEPT
//	protocol  = "tcp"        # "tcp", "udp", "icmp", "icmpv6" or "any" (default)
//	ports     = [22, "6000-6010"]        # out: remote ports, in: local ports; numbers or
//	                                     # "low-high" ranges; not with icmp/icmpv6
//	remote    = ["10.0.0.0/8", "fd00::/8"] # remote addresses or CIDRs
//
// A rule matches when every field given holds (ports and remote: any of the listed
// values). Fields left out match everything. It becomes one filter per address family:
// IPv4 when remote lists an IPv4 CIDR, IPv6 when it lists an IPv6 one, both when remote
// is absent (icmp is IPv4 only, icmpv6 IPv6 only). Filter rule IDs are
// "file-<id>-v4" and "file-<id>-v6", so keys stay stable across runs.
//
// Extra rules may only block. A permit in wfpsandbox's sublayer would hide the blocks
// below it — the baseline's and the strict profile's — so a policy file could open what
// the profile closes; with blocks only, a policy file can add restrictions, never remove
// them. Extra rules sit in weight range WeightBlocks, above the strict profile's
// loopback permits, so they also apply to loopback. Under user_match "deny" they sit in
// the account's own sublayer without a user condition, below the guard permit of their
// layer (Build adds one for every layer the plan uses).
//
// Parsing is strict: unknown keys, wrong types and bad values are errors that name the
// file, the line and the field ("policy.toml:7: rule[1].ports: ..."). Line numbers of
// values inside [[rule]] tables are found by reading the file line by line; for a
// file written with inline tables the line of the table is given instead.
type File struct {
	Name       string // the file name, for errors (never part of the plan)
	Profile    Profile
	UserMatch  UserMatch
	ProxyPorts []uint16
	Rules      []FileRule
}

// FileRule is one [[rule]] table of a policy file.
type FileRule struct {
	ID        string
	Direction string // "out" or "in"
	Protocol  string // "tcp", "udp", "icmp", "icmpv6" or "any"
	Ports     []PortRange
	Remote    []netip.Prefix
	Line      int // line of the [[rule]] header, 0 when unknown
}

// PortRange is an inclusive range of ports; Low == High for a single port.
type PortRange struct{ Low, High uint16 }

// Limits of a policy file. MaxFileDepth bounds how deeply keys nest (table header,
// dotted keys, inline tables and arrays together; the documented layout needs 4) and
// MaxFileNesting how many arrays and inline tables are open at once: BurntSushi/toml's
// cost grows with the square of a key's depth, and a 64 KB file nested thousands deep
// would take it gigabytes (see internal/tomlguard).
const (
	MaxFileSize     = 1 << 20
	MaxFileDepth    = 8
	MaxFileNesting  = 4
	MaxFileRules    = 256
	MaxRulePorts    = 64
	MaxRuleRemotes  = 64
	maxRuleIDLength = 40
)

var ruleIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// LoadFile reads and parses a policy file. Only a regular file is read (a symbolic
// link to one is followed), at most MaxFileSize bytes of it: a FIFO, a device such as
// /dev/zero or a directory is refused before anything is read, and a longer file is an
// error naming the file and the limit.
func LoadFile(path string) (*File, error) {
	data, err := safefile.Read(path, MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("policy file: %w", err)
	}
	return ParseFile(path, data)
}

// rawFile and rawRule receive the TOML as loosely typed values, so that type errors
// can be reported with the line of the key (the TOML decoder only knows the line of
// the last key of a name, which is wrong for all but the last [[rule]]).
type rawFile struct {
	Profile    any       `toml:"profile"`
	UserMatch  any       `toml:"user_match"`
	ProxyPorts any       `toml:"proxy_ports"`
	Rule       []rawRule `toml:"rule"`
}

type rawRule struct {
	ID        any `toml:"id"`
	Action    any `toml:"action"`
	Direction any `toml:"direction"`
	Protocol  any `toml:"protocol"`
	Ports     any `toml:"ports"`
	Remote    any `toml:"remote"`
}

var knownKeys = map[string]bool{
	"profile": true, "user_match": true, "proxy_ports": true, "rule": true,
	"rule.id": true, "rule.action": true, "rule.direction": true, "rule.protocol": true,
	"rule.ports": true, "rule.remote": true,
}

// ParseFile parses a policy file's contents; name is used in errors.
func ParseFile(name string, data []byte) (*File, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: %d bytes, at most %d", name, len(data), MaxFileSize)
	}
	var deep *tomlguard.Error
	if err := tomlguard.Check(data, MaxFileDepth, MaxFileNesting); errors.As(err, &deep) {
		return nil, fmt.Errorf("%s:%d: %w (the documented layout needs depth 4 and one array)", name, deep.Line, err)
	}
	var raw rawFile
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			field := ""
			if pe.LastKey != "" {
				field = " " + pe.LastKey + ":"
			}
			return nil, fmt.Errorf("%s:%d:%s %s", name, pe.Position.Line, field, pe.Message)
		}
		// Every key but rule decodes into `any`, so a type error is about rule: a [rule]
		// table, rule = … or rule.x = … instead of [[rule]] tables.
		return nil, fmt.Errorf("%s:%d: rule: write each extra rule as a [[rule]] table (%s)",
			name, ruleLine(data), strings.TrimPrefix(err.Error(), "toml: "))
	}
	loc := locate(data)
	// Values decoded into `any` count as undecoded for the TOML library; the known
	// names are filtered out, the rest are unknown keys.
	for _, k := range md.Undecoded() {
		if !knownKeys[k.String()] {
			return nil, fmt.Errorf("%s:%d: %s: unknown key (known: profile, user_match, proxy_ports, [[rule]] with id, action, direction, protocol, ports, remote)",
				name, loc.key(k), k)
		}
	}
	// BurntSushi/toml matches keys to fields case-insensitively, and TOML keys are
	// case-sensitive: "PROFILE" is another key than "profile", and the later of the
	// two decided the profile silently (a reader sees profile = "strict", BASELINE
	// wins). Only the documented spelling is accepted.
	for _, k := range md.Keys() {
		if ks := k.String(); !knownKeys[ks] {
			return nil, fmt.Errorf("%s:%d: %s: unknown key: keys are case-sensitive, write %s",
				name, loc.key(k), ks, strings.ToLower(ks))
		}
	}
	f := &File{Name: name, Profile: Baseline, UserMatch: DefaultUserMatch}
	bad := func(line int, field, format string, a ...any) error {
		return fmt.Errorf("%s:%d: %s: %s", name, line, field, fmt.Sprintf(format, a...))
	}
	top := func(k string) int { return loc.line("", 0, k) }

	if raw.Profile != nil {
		s, ok := raw.Profile.(string)
		if !ok || (Profile(s) != Baseline && Profile(s) != Strict) {
			return nil, bad(top("profile"), "profile", "want %q or %q, not %s", Baseline, Strict, show(raw.Profile))
		}
		f.Profile = Profile(s)
	}
	if raw.UserMatch != nil {
		s, ok := raw.UserMatch.(string)
		if !ok || (UserMatch(s) != MatchAllow && UserMatch(s) != MatchDeny) {
			return nil, bad(top("user_match"), "user_match", "want %q or %q, not %s", MatchDeny, MatchAllow, show(raw.UserMatch))
		}
		f.UserMatch = UserMatch(s)
	}
	if raw.ProxyPorts != nil {
		line := top("proxy_ports")
		list, ok := raw.ProxyPorts.([]any)
		if !ok {
			return nil, bad(line, "proxy_ports", "want a list of ports, not %s", show(raw.ProxyPorts))
		}
		for _, v := range list {
			n, ok := v.(int64)
			if !ok || n < 1 || n > 65535 {
				return nil, bad(line, "proxy_ports", "%s is not a port (1-65535)", show(v))
			}
			f.ProxyPorts = append(f.ProxyPorts, uint16(n))
		}
		if err := validateProxyPorts(f.ProxyPorts); err != nil {
			return nil, bad(line, "proxy_ports", "%v", err)
		}
		if len(f.ProxyPorts) > 0 && f.Profile != Strict {
			return nil, bad(line, "proxy_ports", "proxy ports apply only to profile %q, not %q", Strict, f.Profile)
		}
	}
	if len(raw.Rule) > MaxFileRules {
		return nil, bad(loc.line("rule", MaxFileRules, ""), "rule", "%d rules, at most %d", len(raw.Rule), MaxFileRules)
	}
	ids := map[string]int{}
	for i, rr := range raw.Rule {
		r, err := parseRule(rr, i, loc, bad)
		if err != nil {
			return nil, err
		}
		if prev, dup := ids[r.ID]; dup {
			return nil, bad(loc.line("rule", i, "id"), fmt.Sprintf("rule[%d].id", i), "%q is also the id of rule[%d]", r.ID, prev)
		}
		ids[r.ID] = i
		f.Rules = append(f.Rules, r)
	}
	return f, nil
}

func parseRule(rr rawRule, i int, loc positions, bad func(int, string, string, ...any) error) (FileRule, error) {
	r := FileRule{Direction: "out", Protocol: "any", Line: loc.line("rule", i, "")}
	field := func(k string) string { return fmt.Sprintf("rule[%d].%s", i, k) }
	line := func(k string) int { return loc.line("rule", i, k) }
	str := func(k string, v any, allowed ...string) (string, error) {
		s, ok := v.(string)
		if !ok || (len(allowed) > 0 && !slices.Contains(allowed, s)) {
			if len(allowed) > 0 {
				return "", bad(line(k), field(k), "want one of %s, not %s", strings.Join(allowed, ", "), show(v))
			}
			return "", bad(line(k), field(k), "want a string, not %s", show(v))
		}
		return s, nil
	}

	if rr.ID == nil {
		return r, bad(r.Line, field("id"), "missing; every rule needs an id")
	}
	id, err := str("id", rr.ID)
	if err != nil {
		return r, err
	}
	if !ruleIDPattern.MatchString(id) {
		return r, bad(line("id"), field("id"), "%q: want 1-%d characters of a-z, 0-9 and -, not starting with -", id, maxRuleIDLength)
	}
	r.ID = id
	if rr.Action == nil {
		return r, bad(r.Line, field("action"), `missing; write action = "block"`)
	}
	if a, ok := rr.Action.(string); ok && a == "permit" {
		return r, bad(line("action"), field("action"), "extra rules may only block: a permit in wfpsandbox's sublayer would hide the profile's blocks")
	}
	if _, err := str("action", rr.Action, "block"); err != nil {
		return r, err
	}
	if rr.Direction != nil {
		if r.Direction, err = str("direction", rr.Direction, "out", "in"); err != nil {
			return r, err
		}
	}
	if rr.Protocol != nil {
		if r.Protocol, err = str("protocol", rr.Protocol, "tcp", "udp", "icmp", "icmpv6", "any"); err != nil {
			return r, err
		}
	}
	if rr.Ports != nil {
		list, ok := rr.Ports.([]any)
		if !ok || len(list) == 0 {
			return r, bad(line("ports"), field("ports"), "want a non-empty list of ports or \"low-high\" ranges, not %s", show(rr.Ports))
		}
		if len(list) > MaxRulePorts {
			return r, bad(line("ports"), field("ports"), "%d entries, at most %d", len(list), MaxRulePorts)
		}
		if r.Protocol == "icmp" || r.Protocol == "icmpv6" {
			return r, bad(line("ports"), field("ports"), "ICMP has no ports")
		}
		for _, v := range list {
			pr, err := parsePortRange(v)
			if err != nil {
				return r, bad(line("ports"), field("ports"), "%v", err)
			}
			if slices.Contains(r.Ports, pr) {
				return r, bad(line("ports"), field("ports"), "%s is listed twice", show(v))
			}
			r.Ports = append(r.Ports, pr)
		}
	}
	if rr.Remote != nil {
		list, ok := rr.Remote.([]any)
		if !ok || len(list) == 0 {
			return r, bad(line("remote"), field("remote"), "want a non-empty list of addresses or CIDRs, not %s", show(rr.Remote))
		}
		if len(list) > MaxRuleRemotes {
			return r, bad(line("remote"), field("remote"), "%d entries, at most %d", len(list), MaxRuleRemotes)
		}
		for _, v := range list {
			p, err := parsePrefix(v)
			if err != nil {
				return r, bad(line("remote"), field("remote"), "%v", err)
			}
			if slices.Contains(r.Remote, p) {
				return r, bad(line("remote"), field("remote"), "%s is listed twice", p)
			}
			r.Remote = append(r.Remote, p)
		}
	}
	if len(r.families()) == 0 {
		return r, bad(line("remote"), field("remote"), "no address of the family %s needs (%s is %s only)", r.Protocol, r.Protocol, map[string]string{"icmp": "IPv4", "icmpv6": "IPv6"}[r.Protocol])
	}
	return r, nil
}

func parsePortRange(v any) (PortRange, error) {
	switch x := v.(type) {
	case int64:
		if x < 1 || x > 65535 {
			return PortRange{}, fmt.Errorf("%d is not a port (1-65535)", x)
		}
		return PortRange{uint16(x), uint16(x)}, nil
	case string:
		lo, hi, ok := strings.Cut(x, "-")
		if ok {
			l, err1 := strconv.ParseUint(lo, 10, 16)
			h, err2 := strconv.ParseUint(hi, 10, 16)
			if err1 == nil && err2 == nil && l >= 1 && l < h {
				return PortRange{uint16(l), uint16(h)}, nil
			}
		}
		return PortRange{}, fmt.Errorf("%q is not a range \"low-high\" with 1 ≤ low < high ≤ 65535", x)
	}
	return PortRange{}, fmt.Errorf("%s is neither a port number nor a \"low-high\" range", show(v))
}

func parsePrefix(v any) (netip.Prefix, error) {
	s, ok := v.(string)
	if !ok {
		return netip.Prefix{}, fmt.Errorf("%s is not an address or CIDR string", show(v))
	}
	var p netip.Prefix
	var err error
	if strings.Contains(s, "/") {
		p, err = netip.ParsePrefix(s) // refuses a zone itself
	} else {
		var a netip.Addr
		if a, err = netip.ParseAddr(s); err == nil {
			if a.Zone() != "" {
				// netip.PrefixFrom drops the zone, so it must be refused here: a
				// filter condition on FWPM_CONDITION_IP_REMOTE_ADDRESS has no zone,
				// and "fe80::1%eth0" would silently block fe80::1 on every interface.
				return netip.Prefix{}, fmt.Errorf("%q has a zone (%%%s): zones are not allowed; write the address without it (the rule then applies on every interface)", s, a.Zone())
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
	}
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR (zones are not allowed)", s)
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set; did you mean %s?", s, p.Masked())
	}
	if p.Addr().Is4In6() {
		// It would become an IPv6 filter only: whether Windows ever classifies a flow at
		// the V6 layers with a mapped address, rather than at the V4 layers with the IPv4
		// one, is undocumented, so the rule could silently never block (and the in-memory
		// engine refuses it with FWP_E_INVALID_NET_MASK).
		hint := "write the IPv4 address or CIDR instead"
		if p.Bits() >= 96 {
			hint = fmt.Sprintf("write %s instead", netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96))
		}
		return netip.Prefix{}, fmt.Errorf("%q is an IPv4-mapped IPv6 address, which would only become an IPv6 filter; %s", s, hint)
	}
	return p, nil
}

func show(v any) string {
	switch v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("%v (%T)", v, v)
}

// families returns "v4" and/or "v6": the families the rule's addresses name, or both
// when it names none; limited by icmp (IPv4) and icmpv6 (IPv6).
func (r FileRule) families() []string {
	v4, v6 := len(r.Remote) == 0, len(r.Remote) == 0
	for _, p := range r.Remote {
		if p.Addr().Is4() {
			v4 = true
		} else {
			v6 = true
		}
	}
	switch r.Protocol {
	case "icmp":
		v6 = false
	case "icmpv6":
		v4 = false
	}
	var fams []string
	if v4 {
		fams = append(fams, "v4")
	}
	if v6 {
		fams = append(fams, "v6")
	}
	return fams
}

var fileProtocols = map[string]uint8{"tcp": ProtoTCP, "udp": ProtoUDP, "icmp": ProtoICMP, "icmpv6": ProtoICMPv6}

// Rules returns the filters' rules for r: one per address family. They depend only on
// the rule, never on the file's name or path: the plan hash is of what is installed,
// so the same file given as policy.toml, ./policy.toml or its absolute path (ensure
// makes paths absolute for the elevated setup) is the same plan.
func (r FileRule) Rules() []Rule {
	var out []Rule
	for _, fam := range r.families() {
		layer, famName := wfp.LayerALEAuthConnectV4, "IPv4"
		if r.Direction == "in" {
			layer = wfp.LayerALEAuthRecvAcceptV4
		}
		if fam == "v6" {
			famName = "IPv6"
			layer = wfp.LayerALEAuthConnectV6
			if r.Direction == "in" {
				layer = wfp.LayerALEAuthRecvAcceptV6
			}
		}
		var conds []wfp.Condition
		if p, ok := fileProtocols[r.Protocol]; ok {
			conds = append(conds, wfp.Condition{Field: wfp.FieldIPProtocol, Match: wfp.MatchEqual, Value: wfp.U8(p)})
		}
		portField := wfp.FieldIPRemotePort
		if r.Direction == "in" {
			portField = wfp.FieldIPLocalPort
		}
		for _, pr := range r.Ports {
			if pr.Low == pr.High {
				conds = append(conds, wfp.Condition{Field: portField, Match: wfp.MatchEqual, Value: wfp.U16(pr.Low)})
			} else {
				conds = append(conds, wfp.Condition{Field: portField, Match: wfp.MatchRange, Value: wfp.RangeOf(wfp.U16(pr.Low), wfp.U16(pr.High))})
			}
		}
		for _, p := range r.Remote {
			if p.Addr().Is4() == (fam == "v4") {
				conds = append(conds, wfp.Condition{Field: wfp.FieldIPRemoteAddress, Match: wfp.MatchEqual, Value: wfp.AddrMask(p)})
			}
		}
		out = append(out, Rule{
			ID:          "file-" + r.ID + "-" + fam,
			Name:        fmt.Sprintf("policy file rule %s: block %s %s, %s", r.ID, r.Direction, r.Protocol, famName),
			Description: fmt.Sprintf("Extra block rule %q from a wfpsandbox policy file.", r.ID),
			Layer:       layer,
			Conditions:  conds,
			Action:      wfp.ActionBlock,
			Weight:      wfp.U8(WeightBlocks),
		})
	}
	return out
}

// Options returns the plan options the file describes for account sid.
func (f *File) Options(sid string) Options {
	o := Options{SID: sid, Profile: f.Profile, UserMatch: f.UserMatch, ProxyPorts: slices.Clone(f.ProxyPorts)}
	for _, r := range f.Rules {
		o.Extra = append(o.Extra, r.Rules()...)
	}
	return o
}

var ruleKeyPattern = regexp.MustCompile(`^\s*\[*\s*["']?rule["']?\s*[.=\]]`)

// ruleLine returns the first line that defines rule (a table header or a key), or 0.
func ruleLine(data []byte) int {
	for n, line := range strings.Split(string(data), "\n") {
		if ruleKeyPattern.MatchString(line) {
			return n + 1
		}
	}
	return 0
}

// positions records where keys are assigned in a TOML file, read line by line: enough
// for the documented layout (top-level keys, [[rule]] tables of key = value lines).
type positions struct {
	keys    map[string]int // "section#index.key" → line
	headers map[string]int // "section#index" → line of the header
}

func posKey(section string, index int, key string) string {
	return fmt.Sprintf("%s#%d.%s", section, index, key)
}

func locate(data []byte) positions {
	p := positions{keys: map[string]int{}, headers: map[string]int{}}
	section, counts := "", map[string]int{}
	index := 0
	for n, line := range strings.Split(string(data), "\n") {
		l := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(l, "[["):
			end := strings.Index(l, "]]")
			if end < 0 {
				continue
			}
			section = strings.TrimSpace(l[2:end])
			index = counts[section]
			counts[section]++
			p.headers[posKey(section, index, "")] = n + 1
		case strings.HasPrefix(l, "["):
			end := strings.Index(l, "]")
			if end < 0 {
				continue
			}
			section, index = strings.TrimSpace(l[1:end]), 0
			p.headers[posKey(section, index, "")] = n + 1
		default:
			k, _, ok := strings.Cut(l, "=")
			k = strings.Trim(strings.TrimSpace(k), `"'`)
			if ok && k != "" && !strings.HasPrefix(k, "#") {
				if _, dup := p.keys[posKey(section, index, k)]; !dup {
					p.keys[posKey(section, index, k)] = n + 1
				}
			}
		}
	}
	return p
}

// line returns the line of key in the index-th table named section ("" for the top
// level), or of the table's header, or 0.
func (p positions) line(section string, index int, key string) int {
	if key != "" {
		if n, ok := p.keys[posKey(section, index, key)]; ok {
			return n
		}
	}
	if n, ok := p.headers[posKey(section, index, "")]; ok {
		return n
	}
	return 0
}

// key returns the first line where a dotted key (as MetaData reports it) appears.
func (p positions) key(k toml.Key) int {
	if len(k) == 0 {
		return 0
	}
	best := 0
	consider := func(n int) {
		if n > 0 && (best == 0 || n < best) {
			best = n
		}
	}
	last := k[len(k)-1]
	section := strings.Join(k[:len(k)-1], ".")
	for pk, n := range p.keys {
		if s, rest, ok := strings.Cut(pk, "#"); ok && s == section && strings.HasSuffix(rest, "."+last) {
			consider(n)
		}
	}
	for ph, n := range p.headers {
		if s, _, ok := strings.Cut(ph, "#"); ok && s == k.String() {
			consider(n)
		}
	}
	return best
}
