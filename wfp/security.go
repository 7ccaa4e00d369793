package wfp

// ObjectKind names the kind of object a security call is about.
type ObjectKind string

// Object kinds of SecuritySetter.SetDACL.
const (
	ObjectProvider ObjectKind = "provider"
	ObjectSublayer ObjectKind = "sublayer"
	ObjectFilter   ObjectKind = "filter"
)

// SecuritySetter is implemented by engines that can replace the DACL of an existing
// object: FwpmProviderSetSecurityInfoByKey0, FwpmSubLayerSetSecurityInfoByKey0 and
// FwpmFilterSetSecurityInfoByKey0 with DACL_SECURITY_INFORMATION. It is not part of
// Engine, so wrappers and fakes need not implement it.
//
// Microsoft: "The Fwpm*SetSecurityInfo0 functions cannot be called from within an
// explicit transaction" (Access control, Windows Filtering Platform), and they are
// "semantically identical to the Windows … SetSecurityInfo" function. The error for a
// call inside a transaction is not documented.
// https://learn.microsoft.com/windows/win32/fwp/access-control
type SecuritySetter interface {
	// SetDACL replaces the DACL of the object of kind with key by the DACL of sd, a
	// self-relative security descriptor (its owner, group and SACL are not used).
	SetDACL(kind ObjectKind, key GUID, sd []byte) error
}

// errAccessDeniedHRESULT is E_ACCESSDENIED, HRESULT_FROM_WIN32(ERROR_ACCESS_DENIED).
const errAccessDeniedHRESULT Code = 0x80070005

// IsAccessDenied reports whether err is a refusal for lack of access rights. WFP's
// pages document that a call needs a right (FwpmFilterGetByKey0: "The caller needs
// FWPM_ACTRL_READ access to the filter") but not the code a missing right returns; it
// is taken to be ERROR_ACCESS_DENIED (5), the Win32 code the access check returns, or
// the same as an HRESULT (0x80070005), which some WFP calls use for Win32 errors
// (ERROR_INVALID_SECURITY_DESCR comes as 0x8007053A).
func IsAccessDenied(err error) bool {
	c, ok := CodeOf(err)
	return ok && (c == ErrAccessDenied || c == errAccessDeniedHRESULT)
}
