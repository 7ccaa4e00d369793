package winengine

// Bindings to the change notification functions of fwpuclnt.dll (Windows Vista and
// later), generated into zsyscall_windows.go with the others (see mksyscall.go). As for
// the net event subscription, the callback and context are passed as uintptr: the
// callback is a windows.NewCallback trampoline and the context an integer key, never a
// Go pointer.

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmfiltersubscribechanges0
//sys	fwpmFilterSubscribeChanges0(engineHandle windows.Handle, subscription *fwpmFilterSubscription0, callback uintptr, context uintptr, changeHandle *windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmFilterSubscribeChanges0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmfilterunsubscribechanges0
//sys	fwpmFilterUnsubscribeChanges0(engineHandle windows.Handle, changeHandle windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmFilterUnsubscribeChanges0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmsublayersubscribechanges0
//sys	fwpmSubLayerSubscribeChanges0(engineHandle windows.Handle, subscription *fwpmSublayerSubscription0, callback uintptr, context uintptr, changeHandle *windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmSubLayerSubscribeChanges0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmsublayerunsubscribechanges0
//sys	fwpmSubLayerUnsubscribeChanges0(engineHandle windows.Handle, changeHandle windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmSubLayerUnsubscribeChanges0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmprovidersubscribechanges0
//sys	fwpmProviderSubscribeChanges0(engineHandle windows.Handle, subscription *fwpmProviderSubscription0, callback uintptr, context uintptr, changeHandle *windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmProviderSubscribeChanges0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmproviderunsubscribechanges0
//sys	fwpmProviderUnsubscribeChanges0(engineHandle windows.Handle, changeHandle windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmProviderUnsubscribeChanges0
