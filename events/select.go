package events

import (
	"github.com/wfpsandbox/wfpsandbox/wfp"

	"strconv"
	"time"
)

// Selection chooses which events are shown. The rule is to hide only what is known not
// to match: an event whose filter, account or time could not be decoded is shown, with
// its notes, because it may well be one of ours.
type Selection struct {
	// Since hides events older than this time (zero: no limit).
	Since time.Time
	// SID shows only the drops of this account ("" for every account).
	SID string
	// All also shows drops by other providers' filters (and by filters that no longer
	// exist); without it only wfpsandbox's drops and undecodable drops are shown.
	All bool
}

// Hidden counts what a Selection left out, by reason.
type Hidden struct {
	NotADrop     int `json:"notADrop"`     // events of another type than CLASSIFY_DROP
	Older        int `json:"older"`        // before --since
	OtherAccount int `json:"otherAccount"` // another account than --sid
	NotOurs      int `json:"notOurs"`      // other providers' filters (shown with --all)
}

// Match reports whether s shows e, and otherwise counts it in h.
func (s Selection) Match(e *Event, h *Hidden) bool {
	switch {
	case e.typ != wfp.NetEventTypeClassifyDrop:
		h.NotADrop++
	case !s.Since.IsZero() && !e.Time.IsZero() && e.Time.Before(s.Since):
		h.Older++
	case s.SID != "" && e.SID != "" && e.SID != s.SID:
		h.OtherAccount++
	case !s.All && !e.Ours && e.Filter != nil:
		h.NotOurs++
	case !s.All && !e.Ours && e.filterGone:
		// The filter no longer exists: it may have been anyone's (a wfpsandbox filter
		// deleted since is indistinguishable), so it is shown only with --all.
		h.NotOurs++
	default:
		return true
	}
	return false
}

func itoa(u uint64) string { return strconv.FormatUint(u, 10) }
