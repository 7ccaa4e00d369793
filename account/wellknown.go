package account

// String forms of the well-known SIDs the user condition and the candidate check use
// (winnt.h: SECURITY_WORLD_RID, SECURITY_ANONYMOUS_LOGON_RID 7, SECURITY_RESTRICTED_CODE_RID 0xC, SECURITY_WRITE_RESTRICTED_CODE_RID
// 0x21, SECURITY_APP_PACKAGE_BASE_RID 2 with SECURITY_BUILTIN_PACKAGE_ANY_PACKAGE 1 and
// SECURITY_BUILTIN_PACKAGE_ANY_RESTRICTED_PACKAGE 2, SECURITY_LOCAL_SYSTEM_RID 18, …).
const (
	SIDStringEveryone                  = "S-1-1-0"      // Everyone (World); SDDL WD
	SIDStringAnonymous                 = "S-1-5-7"      // NT AUTHORITY\ANONYMOUS LOGON; SDDL AN
	SIDStringRestricted                = "S-1-5-12"     // RESTRICTED (restricted code); SDDL RC
	SIDStringWriteRestricted           = "S-1-5-33"     // WRITE RESTRICTED; SDDL WR
	SIDStringAllAppPackages            = "S-1-15-2-1"   // ALL APPLICATION PACKAGES; SDDL AC
	SIDStringAllRestrictedAppPackages  = "S-1-15-2-2"   // ALL RESTRICTED APPLICATION PACKAGES; no SDDL alias
	SIDStringLocalSystem               = "S-1-5-18"     // NT AUTHORITY\SYSTEM; SDDL SY
	SIDStringLocalService              = "S-1-5-19"     // NT AUTHORITY\LOCAL SERVICE; SDDL LS
	SIDStringNetworkService            = "S-1-5-20"     // NT AUTHORITY\NETWORK SERVICE; SDDL NS
	SIDStringBuiltinAdministrators     = "S-1-5-32-544" // BUILTIN\Administrators; SDDL BA
	SIDStringAuthenticatedUsers        = "S-1-5-11"     // NT AUTHORITY\Authenticated Users; SDDL AU
	SIDStringBuiltinUsers              = "S-1-5-32-545" // BUILTIN\Users; SDDL BU
	SIDStringNetworkConfigurationOpers = "S-1-5-32-556" // BUILTIN\Network Configuration Operators; SDDL NO
)

// The same well-known SIDs as SID values. Treat them as constants.
var (
	Everyone                  = mustSID(1, 0)
	Anonymous                 = mustSID(5, 7)
	Restricted                = mustSID(5, 12)
	WriteRestricted           = mustSID(5, 33)
	AllAppPackages            = mustSID(15, 2, 1)
	AllRestrictedAppPackages  = mustSID(15, 2, 2)
	LocalSystem               = mustSID(5, 18)
	LocalService              = mustSID(5, 19)
	NetworkService            = mustSID(5, 20)
	BuiltinAdministrators     = mustSID(5, 32, 544)
	AuthenticatedUsers        = mustSID(5, 11)
	BuiltinUsers              = mustSID(5, 32, 545)
	NetworkConfigurationOpers = mustSID(5, 32, 556)
)
