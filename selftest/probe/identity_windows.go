//go:build windows

package probe

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/wfpsandbox/wfpsandbox/internal/winapi"
	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
)

// identity describes the probe's own token, so the test can check that a child really
// runs in the shape it asked for before reading anything into its results. What cannot
// be read is listed in Errors.
func identity() *probeproto.Identity {
	tok := windows.GetCurrentProcessToken()
	id := &probeproto.Identity{Elevated: tok.IsElevated()}
	fail := func(format string, args ...any) { id.Errors = append(id.Errors, fmt.Sprintf(format, args...)) }
	if u, err := tok.GetTokenUser(); err != nil {
		fail("GetTokenInformation(TokenUser): %v", err)
	} else {
		id.User = u.User.Sid.String()
		id.UserDenyOnly = u.User.Attributes&windows.SE_GROUP_USE_FOR_DENY_ONLY != 0
	}
	if sids, err := restrictingSIDs(tok); err != nil {
		fail("%v", err)
	} else {
		id.RestrictingSIDs = sids
		// IsTokenRestricted is documented as "contains a list of restricted SIDs";
		// reading the list says the same.
		id.Restricted = len(sids) > 0
	}
	var isAC, n uint32
	if err := windows.GetTokenInformation(tok, winapi.TokenIsAppContainer, (*byte)(unsafe.Pointer(&isAC)), 4, &n); err != nil {
		fail("GetTokenInformation(TokenIsAppContainer): %v", err)
	}
	id.AppContainer = isAC != 0
	if il, err := integrity(tok); err != nil {
		fail("%v", err)
	} else {
		id.Integrity = il
	}
	return id
}

// integrity returns the token's mandatory label SID (TokenIntegrityLevel).
func integrity(tok windows.Token) (string, error) {
	n := uint32(64)
	for {
		buf := make([]byte, n)
		err := windows.GetTokenInformation(tok, windows.TokenIntegrityLevel, &buf[0], n, &n)
		if err == windows.ERROR_INSUFFICIENT_BUFFER {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("GetTokenInformation(TokenIntegrityLevel): %w", err)
		}
		return (*windows.Tokenmandatorylabel)(unsafe.Pointer(&buf[0])).Label.Sid.String(), nil
	}
}

// restrictingSIDs returns the token's restricting SIDs (TokenRestrictedSids).
func restrictingSIDs(tok windows.Token) ([]string, error) {
	n := uint32(256)
	for {
		buf := make([]byte, n)
		err := windows.GetTokenInformation(tok, windows.TokenRestrictedSids, &buf[0], n, &n)
		if err == windows.ERROR_INSUFFICIENT_BUFFER {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("GetTokenInformation(TokenRestrictedSids): %w", err)
		}
		groups := (*windows.Tokengroups)(unsafe.Pointer(&buf[0]))
		sids := []string{}
		for _, g := range groups.AllGroups() {
			sids = append(sids, g.Sid.String())
		}
		return sids, nil
	}
}
