// Package account turns account names and SID strings into the security identifiers and
// the self-relative security descriptors that wfpsandbox puts into its
// FWPM_CONDITION_ALE_USER_ID filter conditions.
//
// It has four parts:
//
//   - SIDs (sid.go, wellknown.go, candidate.go): a strict parser and printer for the
//     string form (S-1-5-21-…), the binary form, the well-known SIDs the user condition
//     needs, and CheckSandboxCandidate, which refuses SIDs that cannot be a sandbox account.
//   - Security descriptors (sd.go, validate.go, sddl.go, usercondition.go): a pure-Go
//     builder of the two user-condition shapes (ShapeAllow, ShapeDeny; design §4,
//     wfp-facts §2), a decoder, a structural validator and an SDDL subset.
//   - Account lookup (lookup_windows.go): LookupName, LookupSID and Resolve over
//     LookupAccountName/LookupAccountSid. On other systems they return ErrNotWindows.
//   - Elevation (elevation_windows.go): IsElevated and RequireElevation.
//
// Everything except the lookups and elevation builds and is tested on every platform.
package account
