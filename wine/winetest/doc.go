// Package winetest runs the real wfpsandbox.exe under Wine against the WFP emulation DLL
// of wine/fwpemu (with the ProcessPrng shim of wine/prng), and checks what the program
// asked of the filter engine by reading the emulator's JSON call log.
//
// The tests carry the build tag "wine" so that a plain `go test ./...` does not need
// Wine; run them with wine/run-tests.sh (go test -tags wine ./wine/...). They fail, never
// skip, when wine or the mingw-w64 cross compiler is missing, and say which Debian
// packages to install.
package winetest
