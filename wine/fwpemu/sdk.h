/*
 * Windows SDK definitions that the mingw-w64 10 headers lack or get wrong.
 * Each value is transcribed from the Windows SDK header named beside it
 * (as mirrored in microsoft/win32metadata generation/WinSDK/RecompiledIdlHeaders).
 */
#ifndef WFPEMU_SDK_H
#define WFPEMU_SDK_H

#include <windows.h>
#include <fwpmu.h>

/* shared/fwpmtypes.h: session, provider, sublayer and filter flags. */
#define FWPM_SESSION_FLAG_DYNAMIC                       0x00000001
#define FWPM_PROVIDER_FLAG_PERSISTENT                   0x00000001
#define FWPM_PROVIDER_FLAG_DISABLED                     0x00000010
#define FWPM_SUBLAYER_FLAG_PERSISTENT                   0x00000001
#define FWPM_FILTER_FLAG_PERSISTENT                     0x00000001
#define FWPM_FILTER_FLAG_BOOTTIME                       0x00000002
#define FWPM_FILTER_FLAG_HAS_PROVIDER_CONTEXT           0x00000004
#define FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT             0x00000008
#define FWPM_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED 0x00000010
#define FWPM_FILTER_FLAG_DISABLED                       0x00000020
#define FWPM_FILTER_FLAG_INDEXED                        0x00000040

/* um/fwpmu.h: FwpmTransactionBegin0 flags. */
#define FWPM_TXN_READ_ONLY 0x00000001

/* shared/fwptypes.h: match types mingw-w64 10 stops short of (its FWP_MATCH_TYPE_MAX is 11). */
#define EMU_FWP_MATCH_PREFIX     11
#define EMU_FWP_MATCH_NOT_PREFIX 12
#define EMU_FWP_MATCH_TYPE_MAX   13

/* um/fwpmu.h: FWPM_SUBLAYER_UNIVERSAL, the built-in default sublayer. */
static const GUID EMU_FWPM_SUBLAYER_UNIVERSAL =
    {0xeebecc03, 0xced4, 0x4380, {0x81, 0x9a, 0x27, 0x34, 0x39, 0x7b, 0x2b, 0x74}};

/*
 * FWPM_SUBLAYER0.flags is UINT32 in the SDK (shared/fwpmtypes.h) but UINT16 in mingw-w64 10
 * (fwpmtypes.h:406). The offsets of the other members agree because of padding, so read and
 * write the four bytes at offsetof(flags) instead of the mingw member.
 */
_Static_assert(offsetof(FWPM_SUBLAYER0, providerKey) - offsetof(FWPM_SUBLAYER0, flags) >= 4,
               "FWPM_SUBLAYER0.flags must have room for the SDK's UINT32");

static inline UINT32 emu_sublayer_flags(const FWPM_SUBLAYER0 *s)
{
    UINT32 v;
    memcpy(&v, (const BYTE *)s + offsetof(FWPM_SUBLAYER0, flags), sizeof v);
    return v;
}

static inline void emu_set_sublayer_flags(FWPM_SUBLAYER0 *s, UINT32 v)
{
    memcpy((BYTE *)s + offsetof(FWPM_SUBLAYER0, flags), &v, sizeof v);
}

/* Layouts this DLL depends on (wfp-facts.md §8, SDK layouts on amd64). */
#ifdef _WIN64
_Static_assert(sizeof(FWPM_FILTER0) == 200, "FWPM_FILTER0 size");
_Static_assert(offsetof(FWPM_FILTER0, filterId) == 176, "FWPM_FILTER0.filterId offset");
_Static_assert(sizeof(FWPM_SUBLAYER0) == 72, "FWPM_SUBLAYER0 size");
_Static_assert(sizeof(FWPM_PROVIDER0) == 64, "FWPM_PROVIDER0 size");
_Static_assert(sizeof(FWPM_FILTER_CONDITION0) == 40, "FWPM_FILTER_CONDITION0 size");
_Static_assert(sizeof(FWPM_SESSION0) == 72, "FWPM_SESSION0 size");
_Static_assert(sizeof(FWPM_FILTER_ENUM_TEMPLATE0) == 72, "FWPM_FILTER_ENUM_TEMPLATE0 size");
#endif

#endif
