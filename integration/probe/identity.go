//go:build windows && wfpintegration

package main

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/wfpsandbox/wfpsandbox/integration/internal/probeproto"
	"github.com/wfpsandbox/wfpsandbox/integration/internal/winapi"
)

// identity describes the probe's own token, so the test can check that a child really
// runs in the shape it asked for before reading anything into its results.
func identity() (*probeproto.Identity, error) {
	tok := windows.GetCurrentProcessToken()
	u, err := tok.GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("GetTokenInformation(TokenUser): %w", err)
	}
	id := &probeproto.Identity{
		User:         u.User.Sid.String(),
		UserDenyOnly: u.User.Attributes&windows.SE_GROUP_USE_FOR_DENY_ONLY != 0,
		Elevated:     tok.IsElevated(),
	}
	if id.Restricted, err = tok.IsRestricted(); err != nil {
		return nil, fmt.Errorf("IsTokenRestricted: %w", err)
	}
	if id.RestrictingSIDs, err = restrictingSIDs(tok); err != nil {
		return nil, err
	}
	var isAC, n uint32
	if err := windows.GetTokenInformation(tok, winapi.TokenIsAppContainer, (*byte)(unsafe.Pointer(&isAC)), 4, &n); err != nil {
		return nil, fmt.Errorf("GetTokenInformation(TokenIsAppContainer): %w", err)
	}
	id.AppContainer = isAC != 0
	return id, nil
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
