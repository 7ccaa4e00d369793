package service

import "slices"

// Well-known SIDs ("Well-known SIDs", learn.microsoft.com/windows/win32/secauthz/well-known-sids).
const (
	// SIDLocalSystem is NT AUTHORITY\SYSTEM (SECURITY_LOCAL_SYSTEM_RID).
	SIDLocalSystem = "S-1-5-18"
	// SIDAdministrators is BUILTIN\Administrators (DOMAIN_ALIAS_RID_ADMINS).
	SIDAdministrators = "S-1-5-32-544"
)

// Caller is who sent a request, as the transport learned it from the operating
// system (on Windows: the client's token, through the named pipe), never from the
// request itself.
type Caller struct {
	// User is the token's user SID.
	User string `json:"user"`
	// Groups are the token's enabled group SIDs. A group that is present only for deny
	// (SE_GROUP_USE_FOR_DENY_ONLY: Administrators in an unelevated UAC token) is not
	// enabled and must not be listed.
	Groups []string `json:"groups,omitempty"`
}

// Admin reports whether the caller is SYSTEM or has Administrators enabled (an
// elevated administrator).
func (c Caller) Admin() bool {
	return c.User == SIDLocalSystem || slices.Contains(c.Groups, SIDAdministrators)
}

// has reports whether the caller's user or one of its enabled groups is sid.
func (c Caller) has(sid string) bool {
	return c.User == sid || slices.Contains(c.Groups, sid)
}

// may reports whether caller may run op, given the configured caller SIDs: SYSTEM
// and Administrators everything, a configured SID status and set-proxy-ports, nobody
// else anything.
func may(caller Caller, op string, callers []string) bool {
	if caller.User == "" {
		return false // an unidentified caller gets nothing
	}
	if caller.Admin() {
		return true
	}
	if op != OpStatus && op != OpSetProxyPorts {
		return false
	}
	for _, s := range callers {
		if caller.has(s) {
			return true
		}
	}
	return false
}
