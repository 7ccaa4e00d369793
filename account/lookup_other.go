//go:build !windows

package account

import (
	"fmt"
	"strconv"
)

// LookupName maps an account name to its SID and kind. Only on Windows; elsewhere it returns
// an error wrapping ErrNotWindows.
func LookupName(name string) (SID, Kind, error) {
	return SID{}, 0, notWindows("looking up account " + strconv.Quote(name))
}

// LookupSID maps a SID to its account and domain names and kind. Only on Windows;
// elsewhere it returns an error wrapping ErrNotWindows.
func LookupSID(sid SID) (account, domain string, kind Kind, err error) {
	return "", "", 0, notWindows("looking up SID " + sid.String())
}

// Resolve turns an account name or SID string into the sandbox account. Only on Windows;
// elsewhere it returns an error wrapping ErrNotWindows.
func Resolve(nameOrSID string) (Account, error) {
	return Account{}, notWindows("resolving account " + strconv.Quote(nameOrSID))
}

// IsElevated reports whether the process token is elevated. Only on Windows; elsewhere it
// returns false and an error wrapping ErrNotWindows.
func IsElevated() (bool, error) {
	return false, notWindows("checking elevation")
}

// RequireElevation fails unless the process is elevated. Only on Windows; elsewhere it
// returns an error wrapping ErrNotWindows.
func RequireElevation(action string) error {
	return notWindows(action + " must run elevated on Windows; checking elevation")
}

// notWindows is the error of every lookup/elevation stub.
func notWindows(what string) error {
	return fmt.Errorf("%s: %w; pass the sandbox account as --sid S-1-5-21-… instead of --account <name>", what, ErrNotWindows)
}
