/*
 * Contract checks for the emulation DLL, run under Wine by wine/winetest (TestEmulatorContract).
 * Links against the import library of fwpuclnt.dll, so under Wine it exercises whichever
 * fwpuclnt.dll the prefix loads: the emulator when WINEDLLOVERRIDES says fwpuclnt=n.
 *
 * Usage: contract.exe PHASE   (phase "one" adds persistent objects, phase "two" - a separate
 * process - expects to find them and removes them). Prints "FAIL ..." lines and exits 1 on
 * any failed check, "ok N checks" and 0 otherwise.
 */
#include "../sdk.h"

#include <sddl.h>
#include <stdio.h>
#include <string.h>

static int checks, failures;

#define EXPECT(call, want)                                                                                         \
    do {                                                                                                           \
        DWORD got_ = (call);                                                                                       \
        checks++;                                                                                                  \
        if (got_ != (DWORD)(want)) {                                                                               \
            failures++;                                                                                            \
            printf("FAIL %s:%d: %s = 0x%08lX, want 0x%08lX\n", __FILE__, __LINE__, #call, (unsigned long)got_,    \
                   (unsigned long)(DWORD)(want));                                                                  \
        }                                                                                                          \
    } while (0)

#define CHECK(cond)                                                                                                \
    do {                                                                                                           \
        checks++;                                                                                                  \
        if (!(cond)) {                                                                                             \
            failures++;                                                                                            \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                                                 \
        }                                                                                                          \
    } while (0)

static const GUID PROV = {0x11111111, 0x2222, 0x3333, {0x44, 0x44, 0x55, 0x55, 0x55, 0x55, 0x55, 0x01}};
static const GUID PROV2 = {0x11111111, 0x2222, 0x3333, {0x44, 0x44, 0x55, 0x55, 0x55, 0x55, 0x55, 0x02}};
static const GUID SUB = {0x11111111, 0x2222, 0x3333, {0x44, 0x44, 0x55, 0x55, 0x55, 0x55, 0x55, 0x03}};
static const GUID SUBSTATIC = {0x11111111, 0x2222, 0x3333, {0x44, 0x44, 0x55, 0x55, 0x55, 0x55, 0x55, 0x04}};
static const GUID FILT = {0x11111111, 0x2222, 0x3333, {0x44, 0x44, 0x55, 0x55, 0x55, 0x55, 0x55, 0x05}};
static const GUID FILT2 = {0x11111111, 0x2222, 0x3333, {0x44, 0x44, 0x55, 0x55, 0x55, 0x55, 0x55, 0x06}};
static const GUID FILT3 = {0x11111111, 0x2222, 0x3333, {0x44, 0x44, 0x55, 0x55, 0x55, 0x55, 0x55, 0x07}};
/* SDK fwpmu.h */
static const GUID LAYER_CONNECT_V4 = {0xc38d57d1, 0x05a7, 0x4c33, {0x90, 0x4f, 0x7f, 0xbc, 0xee, 0xe6, 0x0e, 0x82}};
static const GUID LAYER_RESOURCE_V4 = {0x1247d66d, 0x0b60, 0x4a15, {0x8d, 0x44, 0x71, 0x55, 0xd0, 0xf5, 0x3a, 0x0c}};
static const GUID COND_USER_ID = {0xaf043a0a, 0xb34d, 0x4f86, {0x97, 0x9c, 0xc9, 0x03, 0x71, 0xaf, 0x6e, 0x66}};
static const GUID COND_REMOTE_PORT = {0xc35a604d, 0xd22b, 0x4e1a, {0x91, 0xb4, 0x68, 0xf6, 0x74, 0xee, 0x67, 0x4b}};

static HANDLE open_engine(void)
{
    FWPM_SESSION0 s = {0};
    s.displayData.name = L"contract";
    s.txnWaitTimeoutInMSec = 1000;
    HANDLE h = NULL;
    EXPECT(FwpmEngineOpen0(NULL, RPC_C_AUTHN_DEFAULT, NULL, &s, &h), 0);
    return h;
}

static FWPM_PROVIDER0 provider(const GUID *key, UINT32 flags)
{
    FWPM_PROVIDER0 p = {0};
    p.providerKey = *key;
    p.displayData.name = L"contract provider";
    p.flags = flags;
    return p;
}

static FWPM_SUBLAYER0 sublayer(const GUID *key, const GUID *prov, UINT32 flags)
{
    FWPM_SUBLAYER0 s = {0};
    s.subLayerKey = *key;
    s.displayData.name = L"contract sublayer";
    s.providerKey = (GUID *)prov;
    emu_set_sublayer_flags(&s, flags);
    s.weight = 0xFFFF;
    return s;
}

/* A port-53 block for one user, the shape wfpsandbox installs. */
typedef struct {
    FWPM_FILTER0 f;
    FWPM_FILTER_CONDITION0 c[2];
    FWP_BYTE_BLOB sd;
    PSECURITY_DESCRIPTOR sdp;
    GUID prov;
} Filter;

static void filter(Filter *x, const GUID *key, const GUID *prov, const GUID *sub, UINT32 flags, const wchar_t *sddl)
{
    memset(x, 0, sizeof *x);
    ULONG n = 0;
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, &x->sdp, &n))
        printf("FAIL: cannot build SD %ls\n", sddl);
    x->sd.size = n;
    x->sd.data = x->sdp;
    x->f.filterKey = *key;
    x->f.displayData.name = L"contract filter";
    x->f.flags = flags;
    if (prov) {
        x->prov = *prov;
        x->f.providerKey = &x->prov;
    }
    x->f.layerKey = LAYER_CONNECT_V4;
    x->f.subLayerKey = *sub;
    x->f.weight.type = FWP_UINT8;
    x->f.weight.uint8 = 15;
    x->f.action.type = FWP_ACTION_BLOCK;
    x->c[0].fieldKey = COND_USER_ID;
    x->c[0].matchType = FWP_MATCH_EQUAL;
    x->c[0].conditionValue.type = FWP_SECURITY_DESCRIPTOR_TYPE;
    x->c[0].conditionValue.sd = &x->sd;
    x->c[1].fieldKey = COND_REMOTE_PORT;
    x->c[1].matchType = FWP_MATCH_EQUAL;
    x->c[1].conditionValue.type = FWP_UINT16;
    x->c[1].conditionValue.uint16 = 53;
    x->f.numFilterConditions = 2;
    x->f.filterCondition = x->c;
}

static const wchar_t *USER_SDDL = L"D:(A;;CC;;;S-1-5-21-1000-1000-1000-1001)";
#define PERSIST 1

static void phase_one(void)
{
    HANDLE h = open_engine();
    FWPM_PROVIDER0 p = provider(&PROV, PERSIST);
    FWPM_SUBLAYER0 s = sublayer(&SUB, &PROV, PERSIST);
    Filter f;
    filter(&f, &FILT, &PROV, &SUB, PERSIST | 8, USER_SDDL);

    /* Transactions. */
    EXPECT(FwpmTransactionCommit0(h), FWP_E_NO_TXN_IN_PROGRESS);
    EXPECT(FwpmTransactionAbort0(h), FWP_E_NO_TXN_IN_PROGRESS);
    EXPECT(FwpmTransactionBegin0(h, 0), 0);
    EXPECT(FwpmTransactionBegin0(h, 0), FWP_E_TXN_IN_PROGRESS);

    /* Display name required; references must exist. */
    FWPM_PROVIDER0 noname = provider(&PROV, PERSIST);
    noname.displayData.name = NULL;
    EXPECT(FwpmProviderAdd0(h, &noname, NULL), FWP_E_NULL_DISPLAY_NAME);
    EXPECT(FwpmSubLayerAdd0(h, &s, NULL), FWP_E_PROVIDER_NOT_FOUND);
    EXPECT(FwpmProviderAdd0(h, &p, NULL), 0);
    EXPECT(FwpmProviderAdd0(h, &p, NULL), FWP_E_ALREADY_EXISTS);
    EXPECT(FwpmFilterAdd0(h, &f.f, NULL, NULL), FWP_E_SUBLAYER_NOT_FOUND);
    EXPECT(FwpmSubLayerAdd0(h, &s, NULL), 0);

    /* Lifetimes: a persistent filter may not sit in a static sublayer. */
    FWPM_SUBLAYER0 st = sublayer(&SUBSTATIC, &PROV, 0);
    EXPECT(FwpmSubLayerAdd0(h, &st, NULL), 0);
    Filter bad;
    filter(&bad, &FILT2, &PROV, &SUBSTATIC, PERSIST, USER_SDDL);
    EXPECT(FwpmFilterAdd0(h, &bad.f, NULL, NULL), FWP_E_LIFETIME_MISMATCH);
    /* ...nor in a persistent sublayer of another provider. */
    FWPM_PROVIDER0 p2 = provider(&PROV2, PERSIST);
    EXPECT(FwpmProviderAdd0(h, &p2, NULL), 0);
    filter(&bad, &FILT2, &PROV2, &SUB, PERSIST, USER_SDDL);
    EXPECT(FwpmFilterAdd0(h, &bad.f, NULL, NULL), FWP_E_LIFETIME_MISMATCH);

    /* Security descriptor condition must be self-relative and valid. */
    filter(&bad, &FILT2, &PROV, &SUB, PERSIST, USER_SDDL);
    ((SECURITY_DESCRIPTOR_RELATIVE *)bad.sd.data)->Control &= (WORD)~SE_SELF_RELATIVE;
    EXPECT(FwpmFilterAdd0(h, &bad.f, NULL, NULL), 0x8007053A);
    filter(&bad, &FILT2, &PROV, &SUB, PERSIST, USER_SDDL);
    bad.sd.size = 30; /* truncated DACL */
    EXPECT(FwpmFilterAdd0(h, &bad.f, NULL, NULL), 0x8007053A);
    /* Wrong value type for the field, a field the layer lacks, a weight out of range. */
    filter(&bad, &FILT2, &PROV, &SUB, PERSIST, USER_SDDL);
    bad.c[1].conditionValue.type = FWP_UINT32;
    EXPECT(FwpmFilterAdd0(h, &bad.f, NULL, NULL), FWP_E_TYPE_MISMATCH);
    filter(&bad, &FILT2, &PROV, &SUB, PERSIST, USER_SDDL);
    bad.f.layerKey = LAYER_RESOURCE_V4; /* no IP_REMOTE_PORT at RESOURCE_ASSIGNMENT */
    EXPECT(FwpmFilterAdd0(h, &bad.f, NULL, NULL), FWP_E_CONDITION_NOT_FOUND);
    filter(&bad, &FILT2, &PROV, &SUB, PERSIST, USER_SDDL);
    bad.f.weight.uint8 = 16;
    EXPECT(FwpmFilterAdd0(h, &bad.f, NULL, NULL), FWP_E_INVALID_WEIGHT);
    filter(&bad, &FILT2, &PROV, &SUB, PERSIST | FWPM_FILTER_FLAG_BOOTTIME, USER_SDDL);
    EXPECT(FwpmFilterAdd0(h, &bad.f, NULL, NULL), FWP_E_INVALID_FLAGS);

    /* The failures above did not abort the transaction: the good filter still goes in. */
    UINT64 id = 0;
    EXPECT(FwpmFilterAdd0(h, &f.f, NULL, &id), 0);
    CHECK(id != 0);
    EXPECT(FwpmFilterAdd0(h, &f.f, NULL, NULL), FWP_E_ALREADY_EXISTS);

    /* Deep copy: scribbling over the caller's structs changes nothing stored. */
    memset(f.sd.data, 0xEE, f.sd.size);
    f.c[1].conditionValue.uint16 = 9999;
    FWPM_FILTER0 *got = NULL;
    EXPECT(FwpmFilterGetByKey0(h, &FILT, &got), 0);
    CHECK(got && got->numFilterConditions == 2 && got->filterCondition[1].conditionValue.uint16 == 53);
    CHECK(got && got->filterCondition[0].conditionValue.sd->size == f.sd.size &&
          got->filterCondition[0].conditionValue.sd->data[0] == 1 /* SD revision */);
    CHECK(got && got->filterId == id && got->effectiveWeight.type == FWP_UINT64 &&
          (*got->effectiveWeight.uint64 >> 60) == 15);
    FwpmFreeMemory0((void **)&got);
    CHECK(got == NULL);

    /* In use: a referenced sublayer or provider cannot be deleted. */
    EXPECT(FwpmSubLayerDeleteByKey0(h, &SUB), FWP_E_IN_USE);
    EXPECT(FwpmProviderDeleteByKey0(h, &PROV), FWP_E_IN_USE);
    EXPECT(FwpmFilterDeleteByKey0(h, &FILT2), FWP_E_FILTER_NOT_FOUND);

    /* Another session sees nothing before commit and cannot write meanwhile. */
    HANDLE h2 = open_engine();
    EXPECT(FwpmFilterGetByKey0(h2, &FILT, &got), FWP_E_FILTER_NOT_FOUND);
    EXPECT(FwpmProviderAdd0(h2, &p2, NULL), FWP_E_TIMEOUT);

    /* Abort discards everything; then do it again and commit. */
    EXPECT(FwpmTransactionAbort0(h), 0);
    EXPECT(FwpmProviderGetByKey0(h, &PROV, (FWPM_PROVIDER0 **)&got), FWP_E_PROVIDER_NOT_FOUND);

    EXPECT(FwpmTransactionBegin0(h, 0), 0);
    EXPECT(FwpmProviderAdd0(h, &p, NULL), 0);
    EXPECT(FwpmSubLayerAdd0(h, &s, NULL), 0);
    filter(&f, &FILT, &PROV, &SUB, PERSIST | 8, USER_SDDL);
    EXPECT(FwpmFilterAdd0(h, &f.f, NULL, &id), 0);
    filter(&f, &FILT3, &PROV, &SUB, 0 /* static: not saved */, USER_SDDL);
    EXPECT(FwpmFilterAdd0(h, &f.f, NULL, NULL), 0);
    EXPECT(FwpmTransactionCommit0(h), 0);
    EXPECT(FwpmFilterGetByKey0(h2, &FILT, &got), 0);
    FwpmFreeMemory0((void **)&got);

    /* Enumeration by provider; actionMask 0 matches nothing. */
    FWPM_FILTER_ENUM_TEMPLATE0 t = {0};
    GUID pk = PROV;
    t.providerKey = &pk;
    t.actionMask = 0xFFFFFFFF;
    HANDLE eh = NULL;
    FWPM_FILTER0 **arr = NULL;
    UINT32 n = 0;
    EXPECT(FwpmFilterCreateEnumHandle0(h, &t, &eh), 0);
    EXPECT(FwpmFilterEnum0(h, eh, 1, &arr, &n), 0);
    CHECK(n == 1 && arr && arr[0]->numFilterConditions == 2);
    FwpmFreeMemory0((void **)&arr);
    EXPECT(FwpmFilterEnum0(h, eh, 10, &arr, &n), 0);
    CHECK(n == 1);
    FwpmFreeMemory0((void **)&arr);
    EXPECT(FwpmFilterEnum0(h, eh, 10, &arr, &n), 0);
    CHECK(n == 0);
    EXPECT(FwpmFilterDestroyEnumHandle0(h, eh), 0);
    t.actionMask = 0;
    EXPECT(FwpmFilterCreateEnumHandle0(h, &t, &eh), 0);
    EXPECT(FwpmFilterEnum0(h, eh, 10, &arr, &n), 0);
    CHECK(n == 0);
    EXPECT(FwpmFilterDestroyEnumHandle0(h, eh), 0);

    /* FWPM_SUBLAYER0.flags is a UINT32 (SDK; mingw-w64 says UINT16): a bit above 16 is seen. */
    FWPM_SUBLAYER0 wide = sublayer(&SUBSTATIC, &PROV, 0x10000 | PERSIST);
    EXPECT(FwpmSubLayerAdd0(h, &wide, NULL), FWP_E_INVALID_FLAGS);

    /* Closing a session aborts its open transaction. */
    EXPECT(FwpmTransactionBegin0(h2, 0), 0);
    EXPECT(FwpmProviderAdd0(h2, &p2, NULL), 0);
    EXPECT(FwpmEngineClose0(h2), 0);
    EXPECT(FwpmProviderGetByKey0(h, &PROV2, (FWPM_PROVIDER0 **)&got), FWP_E_PROVIDER_NOT_FOUND);

    /* Objects of a dynamic session are visible to others and go away with the session; a
     * dynamic session cannot delete objects it did not add. */
    FWPM_SESSION0 ds = {0};
    ds.displayData.name = L"dynamic";
    ds.flags = FWPM_SESSION_FLAG_DYNAMIC;
    HANDLE hd = NULL;
    EXPECT(FwpmEngineOpen0(NULL, RPC_C_AUTHN_WINNT, NULL, &ds, &hd), 0);
    FWPM_PROVIDER0 pd = provider(&PROV2, 0);
    EXPECT(FwpmProviderAdd0(hd, &pd, NULL), 0);
    EXPECT(FwpmProviderGetByKey0(h, &PROV2, (FWPM_PROVIDER0 **)&got), 0);
    FwpmFreeMemory0((void **)&got);
    EXPECT(FwpmFilterDeleteByKey0(hd, &FILT), FWP_E_DYNAMIC_SESSION_IN_PROGRESS);
    EXPECT(FwpmEngineClose0(hd), 0);
    EXPECT(FwpmProviderGetByKey0(h, &PROV2, (FWPM_PROVIDER0 **)&got), FWP_E_PROVIDER_NOT_FOUND);

    EXPECT(FwpmEngineClose0(h), 0);
    EXPECT(FwpmEngineClose0(h), ERROR_INVALID_HANDLE);
}

static void phase_two(void)
{
    HANDLE h = open_engine();
    FWPM_PROVIDER0 *p = NULL;
    FWPM_SUBLAYER0 *s = NULL;
    FWPM_FILTER0 *f = NULL;
    /* Persistent objects survived the process; the static filter did not. */
    EXPECT(FwpmProviderGetByKey0(h, &PROV, &p), 0);
    CHECK(p && p->flags == PERSIST && p->serviceName == NULL && wcscmp(p->displayData.name, L"contract provider") == 0);
    FwpmFreeMemory0((void **)&p);
    EXPECT(FwpmSubLayerGetByKey0(h, &SUB, &s), 0);
    CHECK(s && s->weight == 0xFFFF && emu_sublayer_flags(s) == PERSIST && s->providerKey &&
          memcmp(s->providerKey, &PROV, sizeof(GUID)) == 0);
    FwpmFreeMemory0((void **)&s);
    EXPECT(FwpmFilterGetByKey0(h, &FILT, &f), 0);
    CHECK(f && f->numFilterConditions == 2 && f->filterCondition[1].conditionValue.uint16 == 53 &&
          f->filterCondition[0].conditionValue.type == FWP_SECURITY_DESCRIPTOR_TYPE && f->flags == (PERSIST | 8));
    UINT64 id = f ? f->filterId : 0;
    FwpmFreeMemory0((void **)&f);
    EXPECT(FwpmFilterGetById0(h, id, &f), 0);
    FwpmFreeMemory0((void **)&f);
    EXPECT(FwpmFilterGetByKey0(h, &FILT3, &f), FWP_E_FILTER_NOT_FOUND);

    /* Implicit transactions: each delete commits on its own, in the required order. */
    EXPECT(FwpmProviderDeleteByKey0(h, &PROV), FWP_E_IN_USE);
    EXPECT(FwpmFilterDeleteByKey0(h, &FILT), 0);
    EXPECT(FwpmSubLayerDeleteByKey0(h, &SUB), 0);
    EXPECT(FwpmProviderDeleteByKey0(h, &PROV), 0);
    EXPECT(FwpmProviderDeleteByKey0(h, &PROV), FWP_E_PROVIDER_NOT_FOUND);

    /* Freeing an enum entry instead of the array is refused (and counted by the DLL). */
    HANDLE eh = NULL;
    FWPM_PROVIDER0 **arr = NULL;
    UINT32 n = 0;
    FWPM_PROVIDER0 p3 = provider(&PROV2, 0);
    EXPECT(FwpmProviderAdd0(h, &p3, NULL), 0);
    EXPECT(FwpmProviderCreateEnumHandle0(h, NULL, &eh), 0);
    EXPECT(FwpmProviderEnum0(h, eh, 10, &arr, &n), 0);
    CHECK(n == 1);
    void *entry = arr ? arr[0] : NULL;
    FwpmFreeMemory0(&entry);
    CHECK(entry != NULL);
    FwpmFreeMemory0((void **)&arr);
    EXPECT(FwpmProviderDestroyEnumHandle0(h, eh), 0);
    EXPECT(FwpmEngineClose0(h), 0);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        printf("usage: contract.exe one|two\n");
        return 2;
    }
    if (strcmp(argv[1], "one") == 0)
        phase_one();
    else if (strcmp(argv[1], "two") == 0)
        phase_two();
    else
        return 2;
    printf("%s %d checks, %d failed\n", failures ? "FAIL" : "ok", checks, failures);
    return failures ? 1 : 0;
}
