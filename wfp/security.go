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
