/*
 * bcryptprimitives.dll shim for Wine 8, which lacks ProcessPrng.
 *
 * Go >= 1.22 Windows binaries resolve bcryptprimitives.dll!ProcessPrng while the
 * runtime starts (runtime.loadOptionalSyscalls) and abort with
 * "fatal error: bcryptprimitives.dll not found" when it is missing. ProcessPrng is
 * documented as BOOL WINAPI ProcessPrng(PBYTE pbData, SIZE_T cbData), always TRUE
 * (https://learn.microsoft.com/windows/win32/seccng/processprng). This shim fills
 * the buffer with advapi32!SystemFunction036 (RtlGenRandom), which Wine implements.
 *
 * Test infrastructure only: never ship this to a real Windows system.
 */
#include <windows.h>

/* RtlGenRandom: exported by advapi32 under this name (ntsecapi.h). */
BOOLEAN WINAPI SystemFunction036(PVOID RandomBuffer, ULONG RandomBufferLength);

BOOL WINAPI ProcessPrng(PBYTE pbData, SIZE_T cbData)
{
    while (cbData > 0) {
        ULONG chunk = cbData > 0x40000000 ? 0x40000000 : (ULONG)cbData;
        if (!SystemFunction036(pbData, chunk)) {
            /* The real ProcessPrng cannot fail; a broken RNG must not go unnoticed. */
            RaiseException(0xC00000E5 /* STATUS_INTERNAL_ERROR, ntstatus.h */, EXCEPTION_NONCONTINUABLE, 0, NULL);
        }
        pbData += chunk;
        cbData -= chunk;
    }
    return TRUE;
}
