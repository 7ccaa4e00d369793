package policy

import (
	"encoding/base64"
	"net/netip"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// The JSON documents below are the stable, documented output of `wfpsandbox plan`,
// and the form in which verify, setup and explain show filters. The README's "JSON
// schemas" section describes them; change both together.

// PlanDoc is the JSON form of a Plan.
type PlanDoc struct {
	SID       string      `json:"sid"`
	Profile   Profile     `json:"profile"`
	UserMatch UserMatch   `json:"userMatch"`
	Hash      string      `json:"hash"`
	Provider  ProviderDoc `json:"provider"`
	Sublayer  SublayerDoc `json:"sublayer"`
	Filters   []FilterDoc `json:"filters"`
}

// ProviderDoc is the JSON form of a provider.
type ProviderDoc struct {
	Key         wfp.GUID `json:"key"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Flags       []string `json:"flags"`
	ServiceName string   `json:"serviceName"`
}

// SublayerDoc is the JSON form of a sublayer.
type SublayerDoc struct {
	Key         wfp.GUID  `json:"key"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Flags       []string  `json:"flags"`
	ProviderKey *wfp.GUID `json:"providerKey"`
	Weight      uint16    `json:"weight"`
	// SID is the account of an account's own sublayer (from its providerData ownership
	// tag); absent for the shared sublayer.
	SID string `json:"sid,omitempty"`
}

// FilterDoc is the JSON form of a filter.
type FilterDoc struct {
	Key         wfp.GUID       `json:"key"`
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Rule        string         `json:"rule,omitempty"`
	SID         string         `json:"sid,omitempty"`
	Layer       string         `json:"layer"`
	LayerKey    wfp.GUID       `json:"layerKey"`
	Sublayer    wfp.GUID       `json:"sublayerKey"`
	ProviderKey *wfp.GUID      `json:"providerKey"`
	Action      string         `json:"action"`
	Flags       []string       `json:"flags"`
	Weight      ValueDoc       `json:"weight"`
	Conditions  []ConditionDoc `json:"conditions"`
	ID          uint64         `json:"id,omitempty"`
}

// ConditionDoc is the JSON form of a filter condition.
type ConditionDoc struct {
	Field    string   `json:"field"`
	FieldKey wfp.GUID `json:"fieldKey"`
	Match    string   `json:"match"`
	ValueDoc
}

// ValueDoc is the JSON form of a value: its SDK type name and a readable value — a
// number for integers, SDDL for a security descriptor, CIDR for address masks, an
// object {low, high} for ranges, base64 for other bytes.
type ValueDoc struct {
	Type  string `json:"type"`
	Value any    `json:"value,omitempty"`
}

// Describe returns the JSON form of a plan.
func (p *Plan) Describe() PlanDoc {
	d := PlanDoc{
		SID: p.SID, Profile: p.Profile, UserMatch: p.UserMatch, Hash: p.Hash(),
		Provider: DescribeProvider(p.Provider), Sublayer: DescribeSublayer(p.Sublayer),
		Filters: []FilterDoc{},
	}
	for _, f := range p.Filters {
		d.Filters = append(d.Filters, DescribeFilter(f))
	}
	return d
}

// DescribeProvider returns the JSON form of a provider.
func DescribeProvider(p *wfp.Provider) ProviderDoc {
	flags := []string{}
	if p.Flags&wfp.ProviderFlagPersistent != 0 {
		flags = append(flags, "FWPM_PROVIDER_FLAG_PERSISTENT")
	}
	if p.Flags&wfp.ProviderFlagDisabled != 0 {
		flags = append(flags, "FWPM_PROVIDER_FLAG_DISABLED")
	}
	return ProviderDoc{Key: p.Key, Name: p.Name, Description: p.Description, Flags: flags, ServiceName: p.ServiceName}
}

// DescribeSublayer returns the JSON form of a sublayer.
func DescribeSublayer(s *wfp.Sublayer) SublayerDoc {
	flags := []string{}
	if s.Flags&wfp.SublayerFlagPersistent != 0 {
		flags = append(flags, "FWPM_SUBLAYER_FLAG_PERSISTENT")
	}
	d := SublayerDoc{Key: s.Key, Name: s.Name, Description: s.Description, Flags: flags, ProviderKey: s.ProviderKey, Weight: s.Weight}
	if o, err := ParseOwner(s.Data); err == nil && o.Rule == SublayerRule {
		d.SID = o.SID
	}
	return d
}

// DescribeFilter returns the JSON form of a filter.
func DescribeFilter(f *wfp.Filter) FilterDoc {
	d := FilterDoc{
		Key: f.Key, Name: f.Name, Description: f.Description,
		Layer: f.Layer.String(), LayerKey: wfp.GUID(f.Layer), Sublayer: f.Sublayer, ProviderKey: f.ProviderKey,
		Action: f.Action.Type.String(), Flags: f.Flags.Names(), Weight: DescribeValue(f.Weight),
		Conditions: []ConditionDoc{}, ID: f.ID,
	}
	if o, err := ParseOwner(f.ProviderData); err == nil {
		d.Rule, d.SID = o.Rule, o.SID
	}
	for _, c := range f.Conditions {
		d.Conditions = append(d.Conditions, ConditionDoc{
			Field: c.Field.String(), FieldKey: wfp.GUID(c.Field), Match: c.Match.String(), ValueDoc: DescribeValue(c.Value),
		})
	}
	return d
}

// DescribeValue returns the JSON form of a value.
func DescribeValue(v wfp.Value) ValueDoc {
	d := ValueDoc{Type: v.Type.String()}
	switch v.Type {
	case wfp.Empty:
	case wfp.Uint8, wfp.Uint16, wfp.Uint32, wfp.Uint64:
		d.Value = v.Uint
	case wfp.V4AddrMask, wfp.V6AddrMask:
		d.Value = v.Prefix.String()
	case wfp.SecurityDescriptor:
		if sd, err := account.ParseSD(v.Bytes); err == nil {
			d.Value = sd.SDDL()
		} else {
			d.Value = "invalid security descriptor: " + err.Error()
		}
	case wfp.ByteArray16:
		if len(v.Bytes) == 16 {
			d.Value = netip.AddrFrom16([16]byte(v.Bytes)).String()
		}
	case wfp.Range:
		if v.Low != nil && v.High != nil {
			d.Value = map[string]ValueDoc{"low": DescribeValue(*v.Low), "high": DescribeValue(*v.High)}
		}
	default:
		d.Value = base64.StdEncoding.EncodeToString(v.Bytes)
	}
	return d
}
