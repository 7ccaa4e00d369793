package policy

import (
	"encoding/json"
	"fmt"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// Fixed, documented keys. They never change across versions: uninstall, verify and
// upgrades find wfpsandbox's objects by them.
var (
	// ProviderKey is the key of the wfpsandbox provider (FWPM_PROVIDER0.providerKey).
	ProviderKey = wfp.MustParseGUID("799d3978-8541-477c-914c-836273a0e7c6")
	// SublayerKey is the key of the shared wfpsandbox sublayer (FWPM_SUBLAYER0.subLayerKey):
	// the sublayer of every --user-match allow plan, and of every plan before setup
	// version 2. --user-match deny plans use one sublayer per account (SublayerKeyFor).
	SublayerKey = wfp.MustParseGUID("32626bf6-6ea6-4668-9dc7-9208ef85978e")
)

// SublayerKeyFor is the key of account sid's own sublayer (the --user-match deny
// layout): a name-based GUID (UUIDv5) under ProviderKey, "sublayer/<SID>", the same
// scheme as FilterKey, so it is stable and differs per account.
func SublayerKeyFor(sid string) wfp.GUID {
	return wfp.NameGUID(ProviderKey, "sublayer/"+sid)
}

// Display data and weight of the provider and sublayer.
const (
	ProviderName        = "wfpsandbox"
	ProviderDescription = "Blocks network bypass surfaces for sandbox offline accounts (wfpsandbox)"
	SublayerName        = "wfpsandbox sandbox account filters"
	SublayerDescription = "Block filters scoped with ALE_USER_ID to sandbox offline accounts; only wfpsandbox filters live here"
	// AccountSublayerName is the display name of an account's own sublayer, with the
	// account's SID in place of %s.
	AccountSublayerName = "wfpsandbox filters for %s"
	// AccountSublayerDescription describes an account's own sublayer.
	AccountSublayerDescription = "Guard permits for every other account, then unconditioned blocks that only the sandbox account's flows reach; only wfpsandbox filters live here"
	// SublayerWeight is the highest sublayer weight, so that a hard permit of another
	// provider can only beat our blocks from a sublayer evaluated before ours
	// (wfp-facts §1; henrypp/simplewall#689).
	SublayerWeight uint16 = 0xFFFF
)

// ProviderMarker is the providerData of the wfpsandbox provider. A provider holding
// ProviderKey without exactly this marker is not ours: reconcile reports it and never
// deletes or overwrites it.
var ProviderMarker = []byte(`{"wfpsandbox":"provider/1"}`)

// FilterKey is the stable key of rule ruleID for account sid: a name-based GUID
// (UUIDv5) under ProviderKey. Keys are the same on every run and every version, and
// differ per account, so several sandbox accounts coexist and each install is found
// again without a list of random GUIDs.
func FilterKey(sid, ruleID string) wfp.GUID {
	return wfp.NameGUID(ProviderKey, "filter/"+ruleID+"/"+sid)
}

// SublayerRule is the Rule of the ownership tag in an account sublayer's providerData.
const SublayerRule = "sublayer"

// Owner is the ownership tag wfpsandbox stores in every filter's providerData (and, with
// Rule SublayerRule, in the providerData of an account's own sublayer), so that
// verify and uninstall --sid can tell which account a filter belongs to, including
// filters of older versions whose rule IDs are no longer in the plan.
type Owner struct {
	Format string `json:"wfpsandbox"` // always OwnerFormat
	SID    string `json:"sid"`
	Rule   string `json:"rule"`
}

// OwnerFormat versions the ownership tag.
const OwnerFormat = "owner/1"

// Encode returns the providerData bytes for o.
func (o Owner) Encode() []byte {
	o.Format = OwnerFormat
	b, err := json.Marshal(o)
	if err != nil {
		panic(err) // a struct of strings always marshals
	}
	return b
}

// ParseOwner decodes a filter's providerData. It fails for filters that carry no
// wfpsandbox ownership tag.
func ParseOwner(data []byte) (Owner, error) {
	var o Owner
	if len(data) == 0 {
		return o, fmt.Errorf("filter has no providerData ownership tag")
	}
	if err := json.Unmarshal(data, &o); err != nil {
		return o, fmt.Errorf("filter providerData is not a wfpsandbox ownership tag: %w", err)
	}
	if o.Format != OwnerFormat || o.SID == "" || o.Rule == "" {
		return o, fmt.Errorf("filter providerData %q is not a wfpsandbox %s ownership tag", data, OwnerFormat)
	}
	return o, nil
}
