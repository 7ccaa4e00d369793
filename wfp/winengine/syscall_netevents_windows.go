package winengine

// Bindings to the net event functions of fwpuclnt.dll, generated into
// zsyscall_windows.go with the others (see mksyscall.go). FwpmNetEventEnum1..5 and
// FwpmNetEventSubscribe0..4 exist only on newer Windows versions (fwpmu.h guards them
// with NTDDI_WIN7 … NTDDI_WIN10_RS5); their procedures are resolved when first used, so
// the package still loads on an older system. Subscribe's callback and context are
// passed as uintptr: the callback is a windows.NewCallback trampoline and the context
// an integer key, never a Go pointer.

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmneteventcreateenumhandle0
//sys	fwpmNetEventCreateEnumHandle0(engineHandle windows.Handle, enumTemplate *fwpmNetEventEnumTemplate0, enumHandle *windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmNetEventCreateEnumHandle0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmneteventenum0
//sys	fwpmNetEventEnum0(engineHandle windows.Handle, enumHandle windows.Handle, numEntriesRequested uint32, entries ***fwpmNetEvent0, numEntriesReturned *uint32) (ret error) [failretval!=0] = fwpuclnt.FwpmNetEventEnum0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmneteventenum1
//sys	fwpmNetEventEnum1(engineHandle windows.Handle, enumHandle windows.Handle, numEntriesRequested uint32, entries ***fwpmNetEvent1, numEntriesReturned *uint32) (ret error) [failretval!=0] = fwpuclnt.FwpmNetEventEnum1

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmneteventenum2
//sys	fwpmNetEventEnum2(engineHandle windows.Handle, enumHandle windows.Handle, numEntriesRequested uint32, entries ***fwpmNetEvent2, numEntriesReturned *uint32) (ret error) [failretval!=0] = fwpuclnt.FwpmNetEventEnum2

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmneteventenum3
//sys	fwpmNetEventEnum3(engineHandle windows.Handle, enumHandle windows.Handle, numEntriesRequested uint32, entries ***fwpmNetEvent3, numEntriesReturned *uint32) (ret error) [failretval!=0] = fwpuclnt.FwpmNetEventEnum3

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmneteventenum4
//sys	fwpmNetEventEnum4(engineHandle windows.Handle, enumHandle windows.Handle, numEntriesRequested uint32, entries ***fwpmNetEvent4, numEntriesReturned *uint32) (ret error) [failretval!=0] = fwpuclnt.FwpmNetEventEnum4

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmneteventenum5
//sys	fwpmNetEventEnum5(engineHandle windows.Handle, enumHandle windows.Handle, numEntriesRequested uint32, entries ***fwpmNetEvent5, numEntriesReturned *uint32) (ret error) [failretval!=0] = fwpuclnt.FwpmNetEventEnum5

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmneteventdestroyenumhandle0
//sys	fwpmNetEventDestroyEnumHandle0(engineHandle windows.Handle, enumHandle windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmNetEventDestroyEnumHandle0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmneteventsubscribe0
//sys	fwpmNetEventSubscribe0(engineHandle windows.Handle, subscription *fwpmNetEventSubscription0, callback uintptr, context uintptr, eventsHandle *windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmNetEventSubscribe0

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmneteventsubscribe1
//sys	fwpmNetEventSubscribe1(engineHandle windows.Handle, subscription *fwpmNetEventSubscription0, callback uintptr, context uintptr, eventsHandle *windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmNetEventSubscribe1

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmneteventsubscribe2
//sys	fwpmNetEventSubscribe2(engineHandle windows.Handle, subscription *fwpmNetEventSubscription0, callback uintptr, context uintptr, eventsHandle *windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmNetEventSubscribe2

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmneteventsubscribe3
//sys	fwpmNetEventSubscribe3(engineHandle windows.Handle, subscription *fwpmNetEventSubscription0, callback uintptr, context uintptr, eventsHandle *windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmNetEventSubscribe3

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmneteventsubscribe4
//sys	fwpmNetEventSubscribe4(engineHandle windows.Handle, subscription *fwpmNetEventSubscription0, callback uintptr, context uintptr, eventsHandle *windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmNetEventSubscribe4

// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmneteventunsubscribe0
//sys	fwpmNetEventUnsubscribe0(engineHandle windows.Handle, eventsHandle windows.Handle) (ret error) [failretval!=0] = fwpuclnt.FwpmNetEventUnsubscribe0
