//go:build windows

package account

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// IsElevated reports whether the process token is elevated in the UAC sense
// (TokenElevation). The error comes from opening the process token; x/sys's
// Token.IsElevated itself reports a failed GetTokenInformation as "not elevated".
func IsElevated() (bool, error) {
	var tok windows.Token
	if err := windows.OpenProcessToken(windows.CurrentProcess(), windows.TOKEN_QUERY, &tok); err != nil {
		return false, fmt.Errorf("OpenProcessToken(TOKEN_QUERY): %w", err)
	}
	defer tok.Close()
	return tok.IsElevated(), nil
}

// RequireElevation returns nil when the process is elevated, and otherwise an error wrapping
// ErrNotElevated that names action, e.g. RequireElevation("setup") gives
// "setup must run elevated: …".
func RequireElevation(action string) error {
	ok, err := IsElevated()
	if err != nil {
		return fmt.Errorf("%s must run elevated, and elevation could not be checked: %w", action, err)
	}
	if !ok {
		return fmt.Errorf("%s must run elevated: %w; start it from an Administrator prompt (right-click → Run as administrator) or with an elevated account", action, ErrNotElevated)
	}
	return nil
}
