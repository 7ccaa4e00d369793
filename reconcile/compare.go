package reconcile

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// Output-only flag bits: the engine sets them on objects it reports and refuses or
// ignores them on add, so they are not part of what a plan asks for.
const (
	providerOutputOnly = wfp.ProviderFlagDisabled
	filterOutputOnly   = wfp.FilterFlagDisabled
)

// diffs collects human-readable differences, "field got → want".
type diffs []string

func (d *diffs) str(field, got, want string) {
	if got != want {
		*d = append(*d, fmt.Sprintf("%s %q, want %q", field, got, want))
	}
}

func (d *diffs) bytes(field string, got, want []byte) {
	if !bytes.Equal(got, want) {
		*d = append(*d, fmt.Sprintf("%s %s, want %s", field, showBytes(got), showBytes(want)))
	}
}

func (d *diffs) add(format string, args ...any) { *d = append(*d, fmt.Sprintf(format, args...)) }

func (d diffs) String() string { return strings.Join(d, "; ") }

func showBytes(b []byte) string {
	if len(b) == 0 {
		return "(none)"
	}
	if len(b) <= 64 && isPrintable(b) {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("(%d bytes)", len(b))
}

func isPrintable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

func showKey(k *wfp.GUID) string {
	if k == nil {
		return "(none)"
	}
	return k.String()
}

// providerDiff lists how an installed provider differs from the wanted one, ignoring
// output-only flags.
func providerDiff(got, want *wfp.Provider) diffs {
	var d diffs
	d.str("name", got.Name, want.Name)
	d.str("description", got.Description, want.Description)
	if g, w := got.Flags&^providerOutputOnly, want.Flags&^providerOutputOnly; g != w {
		d.add("flags %#x, want %#x", uint32(g), uint32(w))
	}
	d.bytes("provider data", got.Data, want.Data)
	d.str("service name", got.ServiceName, want.ServiceName)
	return d
}

// sublayerDiff lists how an installed sublayer differs from the wanted one.
func sublayerDiff(got, want *wfp.Sublayer) diffs {
	var d diffs
	d.str("name", got.Name, want.Name)
	d.str("description", got.Description, want.Description)
	if got.Flags != want.Flags {
		d.add("flags %#x, want %#x", uint32(got.Flags), uint32(want.Flags))
	}
	if !wfp.SameProvider(got.ProviderKey, want.ProviderKey) {
		d.add("provider %s, want %s", showKey(got.ProviderKey), showKey(want.ProviderKey))
	}
	d.bytes("provider data", got.Data, want.Data)
	if got.Weight != want.Weight {
		d.add("weight %#x, want %#x", got.Weight, want.Weight)
	}
	return d
}

// filterDiff lists how an installed filter differs from the wanted one: flags without
// output-only bits, conditions as a multiset (order is not significant to WFP), values
// by Value.Equal (security descriptors by meaning, see sameValue). The run-time ID and
// effective weight are the engine's and ignored.
func filterDiff(got, want *wfp.Filter) diffs {
	var d diffs
	d.str("name", got.Name, want.Name)
	d.str("description", got.Description, want.Description)
	if g, w := got.Flags&^filterOutputOnly, want.Flags&^filterOutputOnly; g != w {
		d.add("flags %s, want %s", g, w)
	}
	if !wfp.SameProvider(got.ProviderKey, want.ProviderKey) {
		d.add("provider %s, want %s", showKey(got.ProviderKey), showKey(want.ProviderKey))
	}
	d.bytes("provider data", got.ProviderData, want.ProviderData)
	if got.Layer != want.Layer {
		d.add("layer %s, want %s", got.Layer, want.Layer)
	}
	if got.Sublayer != want.Sublayer {
		d.add("sublayer %s, want %s", got.Sublayer, want.Sublayer)
	}
	if !got.Weight.Equal(want.Weight) {
		d.add("weight %s, want %s", got.Weight, want.Weight)
	}
	if got.Action.Type != want.Action.Type {
		d.add("action %s, want %s", got.Action.Type, want.Action.Type)
	} else if got.Action.Type&wfp.ActionFlagCallout != 0 && got.Action.CalloutKey != want.Action.CalloutKey {
		d.add("callout %s, want %s", got.Action.CalloutKey, want.Action.CalloutKey)
	}
	if extra, missing := conditionDiff(got.Conditions, want.Conditions); len(extra)+len(missing) > 0 {
		d.add("conditions: %s", describeConditions(extra, missing))
	}
	return d
}

// conditionDiff matches two condition lists as multisets and returns the conditions
// only in got (extra) and only in want (missing).
func conditionDiff(got, want []wfp.Condition) (extra, missing []wfp.Condition) {
	used := make([]bool, len(got))
	for _, w := range want {
		found := false
		for i, g := range got {
			if !used[i] && sameCondition(g, w) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			missing = append(missing, w)
		}
	}
	for i, g := range got {
		if !used[i] {
			extra = append(extra, g)
		}
	}
	return extra, missing
}

func sameCondition(a, b wfp.Condition) bool {
	return a.Field == b.Field && a.Match == b.Match && sameValue(a.Value, b.Value)
}

// sameValue is wfp.Value.Equal, except that two security descriptors are also equal
// when they decode to the same owner, group, control and ACLs: the engine may hand
// back a self-relative descriptor laid out differently (parts in another order,
// trailing bytes) from the one that was added, and that is not drift.
func sameValue(a, b wfp.Value) bool {
	if a.Equal(b) {
		return true
	}
	if a.Type != wfp.SecurityDescriptor || b.Type != wfp.SecurityDescriptor {
		return false
	}
	sa, err := account.ParseSD(a.Bytes)
	if err != nil {
		return false
	}
	sb, err := account.ParseSD(b.Bytes)
	if err != nil {
		return false
	}
	return reflect.DeepEqual(sa, sb)
}

func describeConditions(extra, missing []wfp.Condition) string {
	var parts []string
	for _, c := range extra {
		parts = append(parts, "unexpected "+showCondition(c))
	}
	for _, c := range missing {
		parts = append(parts, "missing "+showCondition(c))
	}
	return strings.Join(parts, ", ")
}

func showCondition(c wfp.Condition) string {
	return fmt.Sprintf("%s %s %s", c.Field, c.Match, c.Value)
}

// foreignProvider explains why a provider holding the plan's provider key is not
// wfpsandbox's, or returns "" when it is ours (possibly drifted). wfpsandbox's provider
// always carries policy.ProviderMarker as its provider data and names no service; a
// provider without that exact marker, or with a service, belongs to someone else.
func foreignProvider(got, want *wfp.Provider) string {
	if got.ServiceName != "" && got.ServiceName != want.ServiceName {
		return fmt.Sprintf("it belongs to the Windows service %q (wfpsandbox's provider names no service)", got.ServiceName)
	}
	if !bytes.Equal(got.Data, want.Data) {
		return fmt.Sprintf("its provider data is %s, not wfpsandbox's marker %s", showBytes(got.Data), showBytes(want.Data))
	}
	return ""
}

// foreignSublayer explains why a sublayer holding the plan's sublayer key is not
// wfpsandbox's (it names another provider, or none), or returns "".
func foreignSublayer(got *wfp.Sublayer, provider wfp.GUID) string {
	if got.ProviderKey == nil {
		return "it has no provider (wfpsandbox's sublayer belongs to provider " + provider.String() + ")"
	}
	if *got.ProviderKey != provider {
		return "it belongs to provider " + got.ProviderKey.String()
	}
	return ""
}

// foreignFilter explains why a filter holding one of the plan's filter keys is not
// wfpsandbox's, or returns "".
func foreignFilter(got *wfp.Filter, provider wfp.GUID) string {
	if got.ProviderKey == nil {
		return "it has no provider (wfpsandbox's filters belong to provider " + provider.String() + ")"
	}
	if *got.ProviderKey != provider {
		return "it belongs to provider " + got.ProviderKey.String()
	}
	return ""
}
