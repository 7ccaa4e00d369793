// Package wfp describes Windows Filtering Platform objects in Go terms — providers,
// sublayers, filters, conditions and values — together with the Engine interface that
// every backend implements (the real fwpuclnt.dll engine on Windows, the in-memory
// contract engine in wfp/memengine) and the FWP_E_* error codes they return.
//
// Nothing in this package touches unsafe or Windows APIs; it builds on every platform.
//
//go:generate go run ./internal/gennames -in ../../shared/reference/wfp-names.h -out znames.go
package wfp
