package winengine

// Bindings to fwpuclnt.dll. Every WFP management function returns its status as a
// DWORD, so each is declared "(ret error) [failretval!=0]": mkwinsyscall then turns the
// return value itself into the error. Naming it err would make the generated code read
// GetLastError instead, which WFP does not set.
//
// Regenerate zsyscall_windows.go with: go generate -tags generate ./wfp/winengine/

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmengineopen0
//sys	fwpmEngineOpen0(serverName *uint16, authnService uint32, authIdentity unsafe.Pointer, session *fwpmSession0, engineHandle *windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmEngineOpen0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmengineclose0
//sys	fwpmEngineClose0(engineHandle windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmEngineClose0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmtransactionbegin0
//sys	fwpmTransactionBegin0(engineHandle windows.Handle, flags uint32) (ret error) [failretval!=0] = fwpuclnt.FwpmTransactionBegin0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmtransactioncommit0
//sys	fwpmTransactionCommit0(engineHandle windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmTransactionCommit0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmtransactionabort0
//sys	fwpmTransactionAbort0(engineHandle windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmTransactionAbort0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmprovideradd0
//sys	fwpmProviderAdd0(engineHandle windows.Handle, provider *fwpmProvider0, sd unsafe.Pointer) (ret error) [failretval!=0] = fwpuclnt.FwpmProviderAdd0

// SECURITY_INFORMATION is a DWORD (winnt.h); sidOwner, sidGroup and sacl are passed as
// NULL: only the DACL is set (DACL_SECURITY_INFORMATION).
// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmprovidersetsecurityinfobykey0
//sys	fwpmProviderSetSecurityInfoByKey0(engineHandle windows.Handle, key *wfpGUID, securityInfo uint32, sidOwner unsafe.Pointer, sidGroup unsafe.Pointer, dacl unsafe.Pointer, sacl unsafe.Pointer) (ret error) [failretval!=0] = fwpuclnt.FwpmProviderSetSecurityInfoByKey0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmsublayersetsecurityinfobykey0
//sys	fwpmSubLayerSetSecurityInfoByKey0(engineHandle windows.Handle, key *wfpGUID, securityInfo uint32, sidOwner unsafe.Pointer, sidGroup unsafe.Pointer, dacl unsafe.Pointer, sacl unsafe.Pointer) (ret error) [failretval!=0] = fwpuclnt.FwpmSubLayerSetSecurityInfoByKey0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmfiltersetsecurityinfobykey0
//sys	fwpmFilterSetSecurityInfoByKey0(engineHandle windows.Handle, key *wfpGUID, securityInfo uint32, sidOwner unsafe.Pointer, sidGroup unsafe.Pointer, dacl unsafe.Pointer, sacl unsafe.Pointer) (ret error) [failretval!=0] = fwpuclnt.FwpmFilterSetSecurityInfoByKey0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmproviderdeletebykey0
//sys	fwpmProviderDeleteByKey0(engineHandle windows.Handle, key *wfpGUID) (ret error) [failretval!=0] = fwpuclnt.FwpmProviderDeleteByKey0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmprovidergetbykey0
//sys	fwpmProviderGetByKey0(engineHandle windows.Handle, key *wfpGUID, provider **fwpmProvider0) (ret error) [failretval!=0] = fwpuclnt.FwpmProviderGetByKey0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmprovidercreateenumhandle0
//sys	fwpmProviderCreateEnumHandle0(engineHandle windows.Handle, enumTemplate unsafe.Pointer, enumHandle *windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmProviderCreateEnumHandle0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmproviderenum0
//sys	fwpmProviderEnum0(engineHandle windows.Handle, enumHandle windows.Handle, numEntriesRequested uint32, entries ***fwpmProvider0, numEntriesReturned *uint32) (ret error) [failretval!=0] = fwpuclnt.FwpmProviderEnum0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmproviderdestroyenumhandle0
//sys	fwpmProviderDestroyEnumHandle0(engineHandle windows.Handle, enumHandle windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmProviderDestroyEnumHandle0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmsublayeradd0
//sys	fwpmSubLayerAdd0(engineHandle windows.Handle, subLayer *fwpmSublayer0, sd unsafe.Pointer) (ret error) [failretval!=0] = fwpuclnt.FwpmSubLayerAdd0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmsublayerdeletebykey0
//sys	fwpmSubLayerDeleteByKey0(engineHandle windows.Handle, key *wfpGUID) (ret error) [failretval!=0] = fwpuclnt.FwpmSubLayerDeleteByKey0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmsublayergetbykey0
//sys	fwpmSubLayerGetByKey0(engineHandle windows.Handle, key *wfpGUID, subLayer **fwpmSublayer0) (ret error) [failretval!=0] = fwpuclnt.FwpmSubLayerGetByKey0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmsublayercreateenumhandle0
//sys	fwpmSubLayerCreateEnumHandle0(engineHandle windows.Handle, enumTemplate *fwpmSublayerEnumTemplate0, enumHandle *windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmSubLayerCreateEnumHandle0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmsublayerenum0
//sys	fwpmSubLayerEnum0(engineHandle windows.Handle, enumHandle windows.Handle, numEntriesRequested uint32, entries ***fwpmSublayer0, numEntriesReturned *uint32) (ret error) [failretval!=0] = fwpuclnt.FwpmSubLayerEnum0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmsublayerdestroyenumhandle0
//sys	fwpmSubLayerDestroyEnumHandle0(engineHandle windows.Handle, enumHandle windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmSubLayerDestroyEnumHandle0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmfilteradd0
//sys	fwpmFilterAdd0(engineHandle windows.Handle, filter *fwpmFilter0, sd unsafe.Pointer, id *uint64) (ret error) [failretval!=0] = fwpuclnt.FwpmFilterAdd0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmfilterdeletebykey0
//sys	fwpmFilterDeleteByKey0(engineHandle windows.Handle, key *wfpGUID) (ret error) [failretval!=0] = fwpuclnt.FwpmFilterDeleteByKey0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmfiltergetbykey0
//sys	fwpmFilterGetByKey0(engineHandle windows.Handle, key *wfpGUID, filter **fwpmFilter0) (ret error) [failretval!=0] = fwpuclnt.FwpmFilterGetByKey0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmfiltergetbyid0
//sys	fwpmFilterGetById0(engineHandle windows.Handle, id uint64, filter **fwpmFilter0) (ret error) [failretval!=0] = fwpuclnt.FwpmFilterGetById0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmfiltercreateenumhandle0
//sys	fwpmFilterCreateEnumHandle0(engineHandle windows.Handle, enumTemplate *fwpmFilterEnumTemplate0, enumHandle *windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmFilterCreateEnumHandle0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmfilterenum0
//sys	fwpmFilterEnum0(engineHandle windows.Handle, enumHandle windows.Handle, numEntriesRequested uint32, entries ***fwpmFilter0, numEntriesReturned *uint32) (ret error) [failretval!=0] = fwpuclnt.FwpmFilterEnum0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmfilterdestroyenumhandle0
//sys	fwpmFilterDestroyEnumHandle0(engineHandle windows.Handle, enumHandle windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmFilterDestroyEnumHandle0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmfreememory0
//sys	fwpmFreeMemory0(p *unsafe.Pointer) = fwpuclnt.FwpmFreeMemory0

// Net-event bindings (FwpmNetEventCreateEnumHandle0, FwpmNetEventEnum*,
// FwpmNetEventDestroyEnumHandle0, FwpmNetEventSubscribe*) belong below this line.
