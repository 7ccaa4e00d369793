package setup

import "runtime/debug"

// SetupVersion is the version of the full setup. Bump it whenever setup starts doing
// something existing installs must get (a new step, a changed policy default): every
// account whose record holds an older version then reruns full setup — ensure says
// "setup version changed" and relaunches it.
//
// Version 2: --user-match deny moved from FWP_MATCH_NOT_EQUAL in the shared sublayer
// (undocumented for a security descriptor) to one sublayer per account with guard
// permits; the next setup migrates every account of version 1's layout in one
// transaction (reconcile.Install, reconcile.ReasonMigrated); records per account
// (state.Format 2) and objects that grant FWPM_ACTRL_READ to readers came with it.
const SetupVersion = 2

// toolVersion returns the main module's version from the build info ("(devel)" for
// a plain go build), used when Options.ToolVersion is empty.
func toolVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "unknown"
}
