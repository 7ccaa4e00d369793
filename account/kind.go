package account

import (
	"errors"
	"fmt"
)

// Kind is the SID_NAME_USE of an account as LookupAccountName/LookupAccountSid report it.
type Kind uint32

// SID_NAME_USE values (winnt.h).
const (
	KindUser           Kind = 1  // SidTypeUser
	KindGroup          Kind = 2  // SidTypeGroup (domain group)
	KindDomain         Kind = 3  // SidTypeDomain
	KindAlias          Kind = 4  // SidTypeAlias (local group, BUILTIN\…)
	KindWellKnownGroup Kind = 5  // SidTypeWellKnownGroup (Everyone, SYSTEM, …)
	KindDeletedAccount Kind = 6  // SidTypeDeletedAccount
	KindInvalid        Kind = 7  // SidTypeInvalid
	KindUnknown        Kind = 8  // SidTypeUnknown
	KindComputer       Kind = 9  // SidTypeComputer
	KindLabel          Kind = 10 // SidTypeLabel (integrity level)
	KindLogonSession   Kind = 11 // SidTypeLogonSession
)

var kindNames = map[Kind]string{
	KindUser: "user", KindGroup: "group", KindDomain: "domain", KindAlias: "alias (local group)",
	KindWellKnownGroup: "well-known group", KindDeletedAccount: "deleted account", KindInvalid: "invalid",
	KindUnknown: "unknown", KindComputer: "computer", KindLabel: "label", KindLogonSession: "logon session",
}

// String returns a lower-case description such as "user" or "well-known group".
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("SID_NAME_USE(%d)", uint32(k))
}

// Account is a resolved sandbox account.
type Account struct {
	Name   string // account name, e.g. "wfpsandbox-offline"
	Domain string // computer or domain name, e.g. "BUILDHOST"
	SID    SID
	Kind   Kind // always KindUser for an Account returned by Resolve
}

// String returns DOMAIN\name (SID).
func (a Account) String() string {
	if a.Domain == "" {
		return fmt.Sprintf("%s (%s)", a.Name, a.SID)
	}
	return fmt.Sprintf(`%s\%s (%s)`, a.Domain, a.Name, a.SID)
}

// Errors of the lookup and elevation functions; test with errors.Is.
var (
	// ErrNotWindows is returned by the lookup and elevation functions on other systems.
	ErrNotWindows = errors.New("only available on Windows")
	// ErrNoSuchAccount means the name or SID does not map to an account (ERROR_NONE_MAPPED).
	ErrNoSuchAccount = errors.New("no such account")
	// ErrNotUser means the name or SID is a group, alias, domain or other non-user account.
	ErrNotUser = errors.New("not a user account")
	// ErrNotElevated is returned by RequireElevation when the process is not elevated.
	ErrNotElevated = errors.New("not elevated")
)

// checkResolved applies the rules Resolve enforces once a lookup succeeded, so they can be
// tested on every platform: the SID must pass CheckSandboxCandidate and the kind must be user.
func checkResolved(input string, a Account) (Account, error) {
	if err := CheckSandboxCandidate(a.SID); err != nil {
		return Account{}, fmt.Errorf("account %q: %w", input, err)
	}
	if a.Kind != KindUser {
		return Account{}, fmt.Errorf("%q (%s) is %s, %w; %s", input, a, a.Kind.withArticle(), ErrNotUser, createAccountHint)
	}
	return a, nil
}

// withArticle describes k for an error message: "a group", "a local group (alias)", ….
func (k Kind) withArticle() string {
	switch k {
	case KindGroup:
		return "a group"
	case KindAlias:
		return "a local group (alias)"
	case KindWellKnownGroup:
		return "a well-known group"
	case KindDomain:
		return "a domain"
	case KindComputer:
		return "a computer account"
	case KindDeletedAccount:
		return "a deleted account"
	case KindLabel:
		return "an integrity label"
	case KindLogonSession:
		return "a logon session"
	}
	return "of kind " + k.String()
}

// noSuchAccount builds the ERROR_NONE_MAPPED error for Resolve.
func noSuchAccount(input string, bySID bool, cause error) error {
	if bySID {
		return fmt.Errorf("no account with SID %s on this computer or its domain (%w; LookupAccountSid: %w); %s",
			input, ErrNoSuchAccount, cause, createAccountHint)
	}
	return fmt.Errorf("no account named %q on this computer or its domain (%w; LookupAccountName: %w); create it in an elevated prompt with \"net user %s * /add\"",
		input, ErrNoSuchAccount, cause, input)
}
