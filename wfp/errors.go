package wfp

import (
	"errors"
	"fmt"
)

// Code is a status returned by a WFP function: an FWP_E_* HRESULT, a Win32 error code
// (ERROR_ACCESS_DENIED), or an RPC status. Code implements error, so a backend's error
// can be tested with errors.Is(err, wfp.ErrAlreadyExists).
type Code uint32

// Status codes WFP returns (winerror.h).
const (
	ErrCalloutNotFound                Code = 0x80320001 // FWP_E_CALLOUT_NOT_FOUND
	ErrConditionNotFound              Code = 0x80320002 // FWP_E_CONDITION_NOT_FOUND
	ErrFilterNotFound                 Code = 0x80320003 // FWP_E_FILTER_NOT_FOUND
	ErrLayerNotFound                  Code = 0x80320004 // FWP_E_LAYER_NOT_FOUND
	ErrProviderNotFound               Code = 0x80320005 // FWP_E_PROVIDER_NOT_FOUND
	ErrProviderContextNotFound        Code = 0x80320006 // FWP_E_PROVIDER_CONTEXT_NOT_FOUND
	ErrSublayerNotFound               Code = 0x80320007 // FWP_E_SUBLAYER_NOT_FOUND
	ErrNotFound                       Code = 0x80320008 // FWP_E_NOT_FOUND
	ErrAlreadyExists                  Code = 0x80320009 // FWP_E_ALREADY_EXISTS
	ErrInUse                          Code = 0x8032000A // FWP_E_IN_USE
	ErrDynamicSessionInProgress       Code = 0x8032000B // FWP_E_DYNAMIC_SESSION_IN_PROGRESS
	ErrWrongSession                   Code = 0x8032000C // FWP_E_WRONG_SESSION
	ErrNoTxnInProgress                Code = 0x8032000D // FWP_E_NO_TXN_IN_PROGRESS
	ErrTxnInProgress                  Code = 0x8032000E // FWP_E_TXN_IN_PROGRESS
	ErrTxnAborted                     Code = 0x8032000F // FWP_E_TXN_ABORTED
	ErrSessionAborted                 Code = 0x80320010 // FWP_E_SESSION_ABORTED
	ErrIncompatibleTxn                Code = 0x80320011 // FWP_E_INCOMPATIBLE_TXN
	ErrTimeout                        Code = 0x80320012 // FWP_E_TIMEOUT
	ErrNetEventsDisabled              Code = 0x80320013 // FWP_E_NET_EVENTS_DISABLED
	ErrIncompatibleLayer              Code = 0x80320014 // FWP_E_INCOMPATIBLE_LAYER
	ErrKMClientsOnly                  Code = 0x80320015 // FWP_E_KM_CLIENTS_ONLY
	ErrLifetimeMismatch               Code = 0x80320016 // FWP_E_LIFETIME_MISMATCH
	ErrBuiltinObject                  Code = 0x80320017 // FWP_E_BUILTIN_OBJECT
	ErrTooManyCallouts                Code = 0x80320018 // FWP_E_TOO_MANY_CALLOUTS
	ErrNotificationDropped            Code = 0x80320019 // FWP_E_NOTIFICATION_DROPPED
	ErrTrafficMismatch                Code = 0x8032001A // FWP_E_TRAFFIC_MISMATCH
	ErrIncompatibleSAState            Code = 0x8032001B // FWP_E_INCOMPATIBLE_SA_STATE
	ErrNullPointer                    Code = 0x8032001C // FWP_E_NULL_POINTER
	ErrInvalidEnumerator              Code = 0x8032001D // FWP_E_INVALID_ENUMERATOR
	ErrInvalidFlags                   Code = 0x8032001E // FWP_E_INVALID_FLAGS
	ErrInvalidNetMask                 Code = 0x8032001F // FWP_E_INVALID_NET_MASK
	ErrInvalidRange                   Code = 0x80320020 // FWP_E_INVALID_RANGE
	ErrInvalidInterval                Code = 0x80320021 // FWP_E_INVALID_INTERVAL
	ErrZeroLengthArray                Code = 0x80320022 // FWP_E_ZERO_LENGTH_ARRAY
	ErrNullDisplayName                Code = 0x80320023 // FWP_E_NULL_DISPLAY_NAME
	ErrInvalidActionType              Code = 0x80320024 // FWP_E_INVALID_ACTION_TYPE
	ErrInvalidWeight                  Code = 0x80320025 // FWP_E_INVALID_WEIGHT
	ErrMatchTypeMismatch              Code = 0x80320026 // FWP_E_MATCH_TYPE_MISMATCH
	ErrTypeMismatch                   Code = 0x80320027 // FWP_E_TYPE_MISMATCH
	ErrOutOfBounds                    Code = 0x80320028 // FWP_E_OUT_OF_BOUNDS
	ErrReserved                       Code = 0x80320029 // FWP_E_RESERVED
	ErrDuplicateCondition             Code = 0x8032002A // FWP_E_DUPLICATE_CONDITION
	ErrDuplicateKeymod                Code = 0x8032002B // FWP_E_DUPLICATE_KEYMOD
	ErrActionIncompatibleWithLayer    Code = 0x8032002C // FWP_E_ACTION_INCOMPATIBLE_WITH_LAYER
	ErrActionIncompatibleWithSublayer Code = 0x8032002D // FWP_E_ACTION_INCOMPATIBLE_WITH_SUBLAYER
	ErrContextIncompatibleWithLayer   Code = 0x8032002E // FWP_E_CONTEXT_INCOMPATIBLE_WITH_LAYER
	ErrContextIncompatibleWithCallout Code = 0x8032002F // FWP_E_CONTEXT_INCOMPATIBLE_WITH_CALLOUT
	ErrIncompatibleAuthMethod         Code = 0x80320030 // FWP_E_INCOMPATIBLE_AUTH_METHOD
	ErrIncompatibleDHGroup            Code = 0x80320031 // FWP_E_INCOMPATIBLE_DH_GROUP
	ErrEMNotSupported                 Code = 0x80320032 // FWP_E_EM_NOT_SUPPORTED
	ErrNeverMatch                     Code = 0x80320033 // FWP_E_NEVER_MATCH
	ErrProviderContextMismatch        Code = 0x80320034 // FWP_E_PROVIDER_CONTEXT_MISMATCH
	ErrInvalidParameter               Code = 0x80320035 // FWP_E_INVALID_PARAMETER
	ErrTooManySublayers               Code = 0x80320036 // FWP_E_TOO_MANY_SUBLAYERS
	ErrCalloutNotificationFailed      Code = 0x80320037 // FWP_E_CALLOUT_NOTIFICATION_FAILED
	ErrInvalidAuthTransform           Code = 0x80320038 // FWP_E_INVALID_AUTH_TRANSFORM
	ErrInvalidCipherTransform         Code = 0x80320039 // FWP_E_INVALID_CIPHER_TRANSFORM

	ErrAccessDenied          Code = 5          // ERROR_ACCESS_DENIED
	ErrInvalidParameterWin32 Code = 87         // ERROR_INVALID_PARAMETER
	ErrInvalidSecurityDescr  Code = 0x8007053A // HRESULT_FROM_WIN32(ERROR_INVALID_SECURITY_DESCR)
	ErrRPCServerUnavailable  Code = 1722       // RPC_S_SERVER_UNAVAILABLE
	ErrEPTNotRegistered      Code = 1753       // EPT_S_NOT_REGISTERED: BFE is not running
	ErrRPCCannotSupport      Code = 1764       // RPC_S_CANNOT_SUPPORT (Wine's stub fwpuclnt.dll)
	ErrDLLNotFound           Code = 126        // ERROR_MOD_NOT_FOUND
	ErrProcNotFound          Code = 127        // ERROR_PROC_NOT_FOUND
)

var codeNames = map[Code]string{
	ErrCalloutNotFound: "FWP_E_CALLOUT_NOT_FOUND", ErrConditionNotFound: "FWP_E_CONDITION_NOT_FOUND",
	ErrFilterNotFound: "FWP_E_FILTER_NOT_FOUND", ErrLayerNotFound: "FWP_E_LAYER_NOT_FOUND",
	ErrProviderNotFound: "FWP_E_PROVIDER_NOT_FOUND", ErrProviderContextNotFound: "FWP_E_PROVIDER_CONTEXT_NOT_FOUND",
	ErrSublayerNotFound: "FWP_E_SUBLAYER_NOT_FOUND", ErrNotFound: "FWP_E_NOT_FOUND",
	ErrAlreadyExists: "FWP_E_ALREADY_EXISTS", ErrInUse: "FWP_E_IN_USE",
	ErrDynamicSessionInProgress: "FWP_E_DYNAMIC_SESSION_IN_PROGRESS", ErrWrongSession: "FWP_E_WRONG_SESSION",
	ErrNoTxnInProgress: "FWP_E_NO_TXN_IN_PROGRESS", ErrTxnInProgress: "FWP_E_TXN_IN_PROGRESS",
	ErrTxnAborted: "FWP_E_TXN_ABORTED", ErrSessionAborted: "FWP_E_SESSION_ABORTED",
	ErrIncompatibleTxn: "FWP_E_INCOMPATIBLE_TXN", ErrTimeout: "FWP_E_TIMEOUT",
	ErrNetEventsDisabled: "FWP_E_NET_EVENTS_DISABLED", ErrIncompatibleLayer: "FWP_E_INCOMPATIBLE_LAYER",
	ErrKMClientsOnly: "FWP_E_KM_CLIENTS_ONLY", ErrLifetimeMismatch: "FWP_E_LIFETIME_MISMATCH",
	ErrBuiltinObject: "FWP_E_BUILTIN_OBJECT", ErrTooManyCallouts: "FWP_E_TOO_MANY_CALLOUTS",
	ErrNotificationDropped: "FWP_E_NOTIFICATION_DROPPED", ErrTrafficMismatch: "FWP_E_TRAFFIC_MISMATCH",
	ErrIncompatibleSAState: "FWP_E_INCOMPATIBLE_SA_STATE", ErrNullPointer: "FWP_E_NULL_POINTER",
	ErrInvalidEnumerator: "FWP_E_INVALID_ENUMERATOR", ErrInvalidFlags: "FWP_E_INVALID_FLAGS",
	ErrInvalidNetMask: "FWP_E_INVALID_NET_MASK", ErrInvalidRange: "FWP_E_INVALID_RANGE",
	ErrInvalidInterval: "FWP_E_INVALID_INTERVAL", ErrZeroLengthArray: "FWP_E_ZERO_LENGTH_ARRAY",
	ErrNullDisplayName: "FWP_E_NULL_DISPLAY_NAME", ErrInvalidActionType: "FWP_E_INVALID_ACTION_TYPE",
	ErrInvalidWeight: "FWP_E_INVALID_WEIGHT", ErrMatchTypeMismatch: "FWP_E_MATCH_TYPE_MISMATCH",
	ErrTypeMismatch: "FWP_E_TYPE_MISMATCH", ErrOutOfBounds: "FWP_E_OUT_OF_BOUNDS",
	ErrReserved: "FWP_E_RESERVED", ErrDuplicateCondition: "FWP_E_DUPLICATE_CONDITION",
	ErrDuplicateKeymod: "FWP_E_DUPLICATE_KEYMOD", ErrActionIncompatibleWithLayer: "FWP_E_ACTION_INCOMPATIBLE_WITH_LAYER",
	ErrActionIncompatibleWithSublayer: "FWP_E_ACTION_INCOMPATIBLE_WITH_SUBLAYER",
	ErrContextIncompatibleWithLayer:   "FWP_E_CONTEXT_INCOMPATIBLE_WITH_LAYER",
	ErrContextIncompatibleWithCallout: "FWP_E_CONTEXT_INCOMPATIBLE_WITH_CALLOUT",
	ErrIncompatibleAuthMethod:         "FWP_E_INCOMPATIBLE_AUTH_METHOD", ErrIncompatibleDHGroup: "FWP_E_INCOMPATIBLE_DH_GROUP",
	ErrEMNotSupported: "FWP_E_EM_NOT_SUPPORTED", ErrNeverMatch: "FWP_E_NEVER_MATCH",
	ErrProviderContextMismatch: "FWP_E_PROVIDER_CONTEXT_MISMATCH", ErrInvalidParameter: "FWP_E_INVALID_PARAMETER",
	ErrTooManySublayers: "FWP_E_TOO_MANY_SUBLAYERS", ErrCalloutNotificationFailed: "FWP_E_CALLOUT_NOTIFICATION_FAILED",
	ErrInvalidAuthTransform: "FWP_E_INVALID_AUTH_TRANSFORM", ErrInvalidCipherTransform: "FWP_E_INVALID_CIPHER_TRANSFORM",
	ErrAccessDenied: "ERROR_ACCESS_DENIED", ErrInvalidParameterWin32: "ERROR_INVALID_PARAMETER",
	ErrInvalidSecurityDescr: "ERROR_INVALID_SECURITY_DESCR", ErrRPCServerUnavailable: "RPC_S_SERVER_UNAVAILABLE",
	ErrEPTNotRegistered: "EPT_S_NOT_REGISTERED", ErrRPCCannotSupport: "RPC_S_CANNOT_SUPPORT",
	ErrDLLNotFound: "ERROR_MOD_NOT_FOUND", ErrProcNotFound: "ERROR_PROC_NOT_FOUND",
}

// codeHints say what an operator can do about a code.
var codeHints = map[Code]string{
	ErrAccessDenied:         "run from an elevated (Administrator) prompt; if already elevated, check the ACLs of HKLM\\SYSTEM\\CurrentControlSet\\Services\\BFE\\Parameters\\Policy",
	ErrEPTNotRegistered:     "the Base Filtering Engine service (BFE) is not running: start it with 'sc start BFE' and set it to Automatic",
	ErrRPCServerUnavailable: "the Base Filtering Engine service (BFE) could not be reached: check that it is running",
	ErrRPCCannotSupport:     "this system's fwpuclnt.dll does not implement WFP (for example under Wine)",
	ErrTimeout:              "another program held the WFP transaction lock for too long; retry, or find the program with 'netsh wfp show state'",
	ErrLifetimeMismatch:     "a persistent object refers to a non-persistent or foreign object; run 'wfpsandbox uninstall --all' and set up again",
	ErrNetEventsDisabled:    "net event collection is off: enable it with 'netsh wfp set options netevents=on'",
	ErrDLLNotFound:          "fwpuclnt.dll is missing: WFP is not available on this system",
	ErrProcNotFound:         "fwpuclnt.dll lacks this function: the Windows version is too old for it",
}

// Name returns the SDK name of the code (FWP_E_ALREADY_EXISTS) or "" when unknown.
func (c Code) Name() string { return codeNames[c] }

// Hint returns advice for an operator, or "" when there is none.
func (c Code) Hint() string { return codeHints[c] }

// Error implements error: "FWP_E_ALREADY_EXISTS (0x80320009)".
func (c Code) Error() string {
	if n := codeNames[c]; n != "" {
		return fmt.Sprintf("%s (0x%08X)", n, uint32(c))
	}
	return fmt.Sprintf("WFP status 0x%08X", uint32(c))
}

// CallError is the error a backend returns for a failed WFP call: which call, on which
// object, and the status it returned. It unwraps to the Code.
type CallError struct {
	Call   string // the WFP function, e.g. "FwpmFilterAdd0"
	Object string // the object it acted on, e.g. `filter 5a0c…  "wfpsandbox: block DNS v4"`
	Code   Code
}

func (e *CallError) Error() string {
	msg := e.Call
	if e.Object != "" {
		msg += " " + e.Object
	}
	msg += ": " + e.Code.Error()
	if h := e.Code.Hint(); h != "" {
		msg += ": " + h
	}
	return msg
}

// Unwrap returns the Code so that errors.Is(err, wfp.ErrAlreadyExists) works.
func (e *CallError) Unwrap() error { return e.Code }

// CodeOf returns the WFP status carried by err, and false when err carries none.
func CodeOf(err error) (Code, bool) {
	var c Code
	if errors.As(err, &c) {
		return c, true
	}
	return 0, false
}

// ErrUnavailable reports that the WFP engine could not be used at all on this system
// (no BFE, no fwpuclnt.dll, an unimplemented stub, not Windows). Backends wrap it so
// that callers can tell "WFP missing" from "WFP refused this change".
var ErrUnavailable = errors.New("WFP engine unavailable")

// Unavailable reports whether err means the engine could not be reached or does not
// exist on this system, as opposed to a refusal of one call.
func Unavailable(err error) bool {
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	c, ok := CodeOf(err)
	if !ok {
		return false
	}
	switch c {
	case ErrEPTNotRegistered, ErrRPCServerUnavailable, ErrRPCCannotSupport, ErrDLLNotFound, ErrProcNotFound:
		return true
	}
	return false
}

// ObjectName formats an object for error messages: kind, key and display name.
func ObjectName(kind string, key GUID, name string) string {
	if name == "" {
		return fmt.Sprintf("%s {%s}", kind, key)
	}
	return fmt.Sprintf("%s {%s} %q", kind, key, name)
}
