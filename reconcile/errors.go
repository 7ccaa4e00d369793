package reconcile

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// ErrForeign is wrapped by every error about an object of another owner that stands
// where wfpsandbox needs to write: errors.Is(err, ErrForeign).
var ErrForeign = errors.New("object of another owner")

// ForeignError reports an object of another owner holding one of wfpsandbox's keys, or
// blocking the removal of one of its objects. Nothing was written when it is returned.
type ForeignError struct {
	Kind   Kind     // the foreign object's kind
	Key    wfp.GUID // its key
	Name   string   // its display name
	Owner  string   // who it belongs to, e.g. "provider 1234…" or "no provider"
	Reason string   // why it is in the way
}

// Error names the object, its owner and why it is in the way.
func (e *ForeignError) Error() string {
	return fmt.Sprintf("%s belongs to %s, not wfpsandbox: %s; wfpsandbox does not overwrite or remove other owners' objects, nothing was changed",
		wfp.ObjectName(string(e.Kind), e.Key, e.Name), e.Owner, e.Reason)
}

// Unwrap returns ErrForeign.
func (e *ForeignError) Unwrap() error { return ErrForeign }

func ownerOfKey(k *wfp.GUID) string {
	if k == nil {
		return "no provider"
	}
	return "provider " + k.String()
}

// opError names what was being done when an engine call failed; it wraps the engine's
// error so that errors.Is still finds the wfp.Code.
func opError(c Change, err error) error {
	return fmt.Errorf("%s %s (%s): %w", c.Op, wfp.ObjectName(string(c.Kind), c.Key, c.Name), c.Reason, err)
}

// explainInUse is called after deleting a sublayer or provider failed with
// FWP_E_IN_USE: it looks for the objects of other owners that still refer to it and
// returns an error naming them, wrapping both ErrForeign and the engine's error. When
// it finds none it returns err unchanged. Lookups that fail are ignored: the original
// error is what matters.
func explainInUse(e wfp.Engine, c Change, provider wfp.GUID, err error) error {
	if !errors.Is(err, wfp.ErrInUse) {
		return err
	}
	var users []string
	switch c.Kind {
	case KindSublayer:
		filters, lerr := e.Filters(nil)
		if lerr != nil {
			return err
		}
		for _, f := range filters {
			if f.Sublayer == c.Key && !wfp.SameProvider(f.ProviderKey, &provider) {
				users = append(users, wfp.ObjectName("filter", f.Key, f.Name)+" of "+ownerOfKey(f.ProviderKey))
			}
		}
	case KindProvider:
		subs, lerr := e.Sublayers(&c.Key)
		if lerr != nil {
			return err
		}
		for _, s := range subs {
			users = append(users, wfp.ObjectName("sublayer", s.Key, s.Name)+" (it names this provider)")
		}
	}
	if len(users) == 0 {
		return err
	}
	return fmt.Errorf("%w: %s is still used by %s; remove those first (they are not wfpsandbox's to remove): %w",
		ErrForeign, wfp.ObjectName(string(c.Kind), c.Key, c.Name), strings.Join(users, ", "), err)
}
