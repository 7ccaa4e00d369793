package winapi

import "golang.org/x/sys/windows"

// UserInfo1 is USER_INFO_1 (lmaccess.h), the NetUserAdd level-1 record.
type UserInfo1 struct {
	Name        *uint16
	Password    *uint16
	PasswordAge uint32
	Priv        uint32
	HomeDir     *uint16
	Comment     *uint16
	Flags       uint32
	ScriptPath  *uint16
}

// NetUserAdd levels, privileges and flags (lmaccess.h).
const (
	UserPrivUser       = 1       // USER_PRIV_USER
	UFScript           = 0x1     // UF_SCRIPT, required by NetUserAdd
	UFNormalAccount    = 0x200   // UF_NORMAL_ACCOUNT
	UFDontExpirePasswd = 0x10000 // UF_DONT_EXPIRE_PASSWD
)

// NERRUserNotFound is NERR_UserNotFound (lmerr.h), what NetUserDel returns for a
// name that does not exist.
const NERRUserNotFound = windows.Errno(2221)

// LogonWithProfile is LOGON_WITH_PROFILE (winbase.h): CreateProcessWithLogonW loads
// the user's profile (creating it on first use), so HKCU and %LOCALAPPDATA% exist.
const LogonWithProfile = 0x1

// SecurityCapabilities is SECURITY_CAPABILITIES (winnt.h), the value of
// PROC_THREAD_ATTRIBUTE_SECURITY_CAPABILITIES.
type SecurityCapabilities struct {
	AppContainerSid *windows.SID
	Capabilities    *windows.SIDAndAttributes
	CapabilityCount uint32
	Reserved        uint32
}

// ProcThreadAttributeSecurityCapabilities is PROC_THREAD_ATTRIBUTE_SECURITY_CAPABILITIES
// (winbase.h): ProcThreadAttributeValue(9, FALSE, TRUE, FALSE).
const ProcThreadAttributeSecurityCapabilities = 0x00020009

// TokenIsAppContainer is the TOKEN_INFORMATION_CLASS value TokenIsAppContainer (29),
// missing from x/sys/windows's list.
const TokenIsAppContainer = 29

// HRESULTAlreadyExists is HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS), what
// CreateAppContainerProfile returns when the profile exists.
const HRESULTAlreadyExists = windows.Errno(0x800700B7)

// ICMPStatusOffset is the offset of ICMP_ECHO_REPLY.Status (after the 4-byte Address)
// on every architecture; the probe reads only that field of the reply.
const ICMPStatusOffset = 4
