//go:build windows

package account

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/windows"
)

// toWindowsSID converts s for the x/sys calls via its string form (windows.StringToSid,
// i.e. ConvertStringSidToSid), which keeps this package free of unsafe.
func toWindowsSID(s SID) (*windows.SID, error) {
	w, err := windows.StringToSid(s.String())
	if err != nil {
		return nil, fmt.Errorf("ConvertStringSidToSid(%s): %w", s, err)
	}
	return w, nil
}

// fromWindowsSID converts a SID returned by Windows, via its string form.
func fromWindowsSID(w *windows.SID) (SID, error) {
	return ParseSID(w.String())
}

// LookupName maps an account name ("name", `DOMAIN\name` or "name@domain") to its SID and
// kind with LookupAccountName on the local computer. An unknown name gives an error wrapping
// ErrNoSuchAccount (ERROR_NONE_MAPPED) as well as the Windows error.
func LookupName(name string) (SID, Kind, error) {
	if name == "" {
		return SID{}, 0, errors.New("LookupAccountName: empty account name")
	}
	w, _, typ, err := windows.LookupSID("", name)
	if err != nil {
		if errors.Is(err, windows.ERROR_NONE_MAPPED) {
			return SID{}, 0, noSuchAccount(name, false, err)
		}
		return SID{}, 0, fmt.Errorf("LookupAccountName(%q): %w", name, err)
	}
	s, err := fromWindowsSID(w)
	if err != nil {
		return SID{}, 0, fmt.Errorf("LookupAccountName(%q) returned %w", name, err)
	}
	return s, Kind(typ), nil
}

// LookupSID maps a SID to its account and domain names and kind with LookupAccountSid on
// the local computer. An unknown SID gives an error wrapping ErrNoSuchAccount.
func LookupSID(sid SID) (account, domain string, kind Kind, err error) {
	if sid.IsZero() {
		return "", "", 0, errors.New("LookupAccountSid: no SID given")
	}
	w, err := toWindowsSID(sid)
	if err != nil {
		return "", "", 0, err
	}
	account, domain, typ, err := w.LookupAccount("")
	if err != nil {
		if errors.Is(err, windows.ERROR_NONE_MAPPED) {
			return "", "", 0, noSuchAccount(sid.String(), true, err)
		}
		return "", "", 0, fmt.Errorf("LookupAccountSid(%s): %w", sid, err)
	}
	return account, domain, Kind(typ), nil
}

// Resolve turns an account name or a SID string (anything starting with "S-") into the
// sandbox account: it looks the account up (LookupAccountName, then LookupAccountSid for the
// canonical name and domain; or LookupAccountSid alone for a SID), and refuses unknown
// accounts (ErrNoSuchAccount, with the "net user … /add" command that creates one), SIDs
// that CheckSandboxCandidate refuses (ErrNotSandboxCandidate), and groups, aliases,
// well-known groups and other non-user kinds (ErrNotUser).
func Resolve(nameOrSID string) (Account, error) {
	var a Account
	if strings.HasPrefix(nameOrSID, "S-") {
		s, err := ParseSID(nameOrSID)
		if err != nil {
			return Account{}, err
		}
		if err := CheckSandboxCandidate(s); err != nil {
			return Account{}, err
		}
		name, domain, kind, err := LookupSID(s)
		if err != nil {
			return Account{}, err
		}
		a = Account{Name: name, Domain: domain, SID: s, Kind: kind}
	} else {
		s, kind, err := LookupName(nameOrSID)
		if err != nil {
			return Account{}, err
		}
		a = Account{Name: nameOrSID, SID: s, Kind: kind}
		if err := CheckSandboxCandidate(s); err != nil {
			return Account{}, fmt.Errorf("account %q: %w", nameOrSID, err)
		}
		// Canonical spelling of the name and its domain.
		if name, domain, kind, err := LookupSID(s); err == nil {
			a.Name, a.Domain, a.Kind = name, domain, kind
		}
	}
	return checkResolved(nameOrSID, a)
}
