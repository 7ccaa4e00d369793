/*
 * Match-type prober for the emulation DLL, run under Wine by wine/winetest
 * (TestEmulatorMatchTypes, TestEmulatorLoadsOldNotEqualState). It holds no expectations: it
 * prints what FwpmFilterAdd0 returned and what the engine lists, and the Go test compares
 * that with wfp/testdata/matchtypes.tsv and the old state file.
 *
 *   matchtypes.exe table   every FWP_MATCH_TYPE x every condition value type (each type of
 *                          FWP_CONDITION_VALUE0's union, and FWP_RANGE_TYPE with bounds of each
 *                          FWP_VALUE0 type): one filter with one condition on
 *                          FWPM_CONDITION_COMPARTMENT_ID at ALE_AUTH_CONNECT_V4 (a field whose
 *                          value type the emulator does not check), added inside a transaction
 *                          that is then aborted. One line per add:
 *                          "<match>\t<value type>\t<bounds type or ->\t0x<status>".
 *   matchtypes.exe list    every filter of the loaded state: "F <key> <n>" then per condition
 *                          "C <field key> <match type> <value type>"; then the first filter
 *                          re-added under a new key (nothing committed): "readd 0x<status>".
 */
#include "../sdk.h"

#include <sddl.h>
#include <stdio.h>
#include <string.h>

/* SDK fwpmu.h */
static const GUID LAYER_CONNECT_V4 = {0xc38d57d1, 0x05a7, 0x4c33, {0x90, 0x4f, 0x7f, 0xbc, 0xee, 0xe6, 0x0e, 0x82}};
static const GUID COND_COMPARTMENT_ID = {0x35a791ab, 0x04ac, 0x4ff2, {0xa6, 0xbb, 0xda, 0x6c, 0xfa, 0xc7, 0x18, 0x06}};

static const char *match_names[] = {
    "FWP_MATCH_EQUAL", "FWP_MATCH_GREATER", "FWP_MATCH_LESS", "FWP_MATCH_GREATER_OR_EQUAL", "FWP_MATCH_LESS_OR_EQUAL",
    "FWP_MATCH_RANGE", "FWP_MATCH_FLAGS_ALL_SET", "FWP_MATCH_FLAGS_ANY_SET", "FWP_MATCH_FLAGS_NONE_SET",
    "FWP_MATCH_EQUAL_CASE_INSENSITIVE", "FWP_MATCH_NOT_EQUAL", "FWP_MATCH_PREFIX", "FWP_MATCH_NOT_PREFIX",
};

/* fwptypes.h FWP_DATA_TYPE names, indexed by value (0 .. FWP_BYTE_ARRAY6_TYPE). */
static const char *single_names[] = {
    "FWP_EMPTY", "FWP_UINT8", "FWP_UINT16", "FWP_UINT32", "FWP_UINT64", "FWP_INT8", "FWP_INT16", "FWP_INT32",
    "FWP_INT64", "FWP_FLOAT", "FWP_DOUBLE", "FWP_BYTE_ARRAY16_TYPE", "FWP_BYTE_BLOB_TYPE", "FWP_SID",
    "FWP_SECURITY_DESCRIPTOR_TYPE", "FWP_TOKEN_INFORMATION_TYPE", "FWP_TOKEN_ACCESS_INFORMATION_TYPE",
    "FWP_UNICODE_STRING_TYPE", "FWP_BYTE_ARRAY6_TYPE",
};

static const char *type_name(FWP_DATA_TYPE t)
{
    if ((unsigned)t < sizeof single_names / sizeof single_names[0])
        return single_names[t];
    switch (t) {
    case FWP_V4_ADDR_MASK: return "FWP_V4_ADDR_MASK";
    case FWP_V6_ADDR_MASK: return "FWP_V6_ADDR_MASK";
    case FWP_RANGE_TYPE: return "FWP_RANGE_TYPE";
    default: return "?";
    }
}

/* Well-formed sample data of every type, from the SDK's type descriptions. */
static UINT64 u64 = 7;
static INT64 i64 = 7;
static double dbl = 1.5;
static FWP_BYTE_ARRAY16 ba16 = {{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
static FWP_BYTE_ARRAY6 ba6 = {{2, 0, 0, 0, 0, 1}};
static WCHAR str[] = L"a.exe";
static FWP_BYTE_BLOB blob = {sizeof str, (UINT8 *)str}; /* UTF-16LE "a.exe" with its NUL */
static DWORD sid_words[4] = {0x00000201, 0x05000000, 32, 544}; /* S-1-5-32-544 */
static FWP_BYTE_BLOB sd;
static FWP_TOKEN_INFORMATION token = {0, NULL, 0, NULL};
static UINT8 access_bytes[4];
static FWP_BYTE_BLOB access = {sizeof access_bytes, access_bytes};
static FWP_V4_ADDR_AND_MASK v4 = {0x0A000000, 0xFF000000};
static FWP_V6_ADDR_AND_MASK v6 = {{0xfd}, 8};

static void sample(FWP_DATA_TYPE t, FWP_CONDITION_VALUE0 *v)
{
    memset(v, 0, sizeof *v);
    v->type = t;
    switch (t) {
    case FWP_UINT8: v->uint8 = 7; break;
    case FWP_UINT16: v->uint16 = 7; break;
    case FWP_UINT32: v->uint32 = 7; break;
    case FWP_UINT64: v->uint64 = &u64; break;
    case FWP_INT8: v->int8 = 7; break;
    case FWP_INT16: v->int16 = 7; break;
    case FWP_INT32: v->int32 = 7; break;
    case FWP_INT64: v->int64 = &i64; break;
    case FWP_FLOAT: v->float32 = 1.5f; break;
    case FWP_DOUBLE: v->double64 = &dbl; break;
    case FWP_BYTE_ARRAY16_TYPE: v->byteArray16 = &ba16; break;
    case FWP_BYTE_BLOB_TYPE: v->byteBlob = &blob; break;
    case FWP_SID: v->sid = (SID *)sid_words; break;
    case FWP_SECURITY_DESCRIPTOR_TYPE: v->sd = &sd; break;
    case FWP_TOKEN_INFORMATION_TYPE: v->tokenInformation = &token; break;
    case FWP_TOKEN_ACCESS_INFORMATION_TYPE: v->tokenAccessInformation = &access; break;
    case FWP_UNICODE_STRING_TYPE: v->unicodeString = str; break;
    case FWP_BYTE_ARRAY6_TYPE: v->byteArray6 = &ba6; break;
    case FWP_V4_ADDR_MASK: v->v4AddrMask = &v4; break;
    case FWP_V6_ADDR_MASK: v->v6AddrMask = &v6; break;
    default: break;
    }
}

static HANDLE open_engine(void)
{
    FWPM_SESSION0 s = {0};
    s.displayData.name = L"matchtypes";
    s.txnWaitTimeoutInMSec = 1000;
    HANDLE h = NULL;
    DWORD st = FwpmEngineOpen0(NULL, RPC_C_AUTHN_DEFAULT, NULL, &s, &h);
    if (st) {
        printf("error FwpmEngineOpen0 0x%08lX\n", (unsigned long)st);
        return NULL;
    }
    return h;
}

static DWORD add_one(HANDLE h, UINT32 match, const FWP_CONDITION_VALUE0 *v)
{
    FWPM_FILTER_CONDITION0 c = {0};
    c.fieldKey = COND_COMPARTMENT_ID;
    c.matchType = (FWP_MATCH_TYPE)match;
    c.conditionValue = *v;
    FWPM_FILTER0 f = {0};
    f.displayData.name = L"match table row";
    f.layerKey = LAYER_CONNECT_V4;
    f.action.type = FWP_ACTION_BLOCK;
    f.numFilterConditions = 1;
    f.filterCondition = &c;
    return FwpmFilterAdd0(h, &f, NULL, NULL);
}

static int table(void)
{
    PSECURITY_DESCRIPTOR p = NULL;
    ULONG n = 0;
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(L"D:(A;;CC;;;S-1-5-21-1000-1000-1000-1001)", SDDL_REVISION_1,
                                                              &p, &n)) {
        printf("error cannot build SD\n");
        return 1;
    }
    sd.size = n;
    sd.data = p;
    HANDLE h = open_engine();
    if (!h)
        return 1;
    DWORD st = FwpmTransactionBegin0(h, 0);
    if (st) {
        printf("error FwpmTransactionBegin0 0x%08lX\n", (unsigned long)st);
        return 1;
    }
    const FWP_DATA_TYPE values[] = {FWP_UINT8, FWP_UINT16, FWP_UINT32, FWP_UINT64, FWP_INT8, FWP_INT16, FWP_INT32,
                                    FWP_INT64, FWP_FLOAT, FWP_DOUBLE, FWP_BYTE_ARRAY16_TYPE, FWP_BYTE_BLOB_TYPE, FWP_SID,
                                    FWP_SECURITY_DESCRIPTOR_TYPE, FWP_TOKEN_INFORMATION_TYPE,
                                    FWP_TOKEN_ACCESS_INFORMATION_TYPE, FWP_UNICODE_STRING_TYPE, FWP_BYTE_ARRAY6_TYPE,
                                    FWP_V4_ADDR_MASK, FWP_V6_ADDR_MASK};
    for (UINT32 m = 0; m < sizeof match_names / sizeof match_names[0]; m++) {
        for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
            FWP_CONDITION_VALUE0 v;
            sample(values[i], &v);
            printf("%s\t%s\t-\t0x%08lX\n", match_names[m], type_name(values[i]), (unsigned long)add_one(h, m, &v));
        }
        for (FWP_DATA_TYPE b = FWP_EMPTY; b <= FWP_BYTE_ARRAY6_TYPE; b++) {
            FWP_RANGE0 r;
            sample(b, (FWP_CONDITION_VALUE0 *)&r.valueLow); /* FWP_VALUE0 has the same layout for these types */
            sample(b, (FWP_CONDITION_VALUE0 *)&r.valueHigh);
            FWP_CONDITION_VALUE0 v = {0};
            v.type = FWP_RANGE_TYPE;
            v.rangeValue = &r;
            printf("%s\tFWP_RANGE_TYPE\t%s\t0x%08lX\n", match_names[m], type_name(b), (unsigned long)add_one(h, m, &v));
        }
    }
    FwpmTransactionAbort0(h);
    FwpmEngineClose0(h);
    LocalFree(p);
    return 0;
}

static void print_guid(const GUID *g)
{
    printf("%08lx-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", (unsigned long)g->Data1, g->Data2, g->Data3, g->Data4[0],
           g->Data4[1], g->Data4[2], g->Data4[3], g->Data4[4], g->Data4[5], g->Data4[6], g->Data4[7]);
}

static int list(void)
{
    HANDLE h = open_engine();
    if (!h)
        return 1;
    HANDLE e = NULL;
    DWORD st = FwpmFilterCreateEnumHandle0(h, NULL, &e);
    if (st) {
        printf("error FwpmFilterCreateEnumHandle0 0x%08lX\n", (unsigned long)st);
        return 1;
    }
    FWPM_FILTER0 **fs = NULL;
    UINT32 n = 0;
    st = FwpmFilterEnum0(h, e, 1000, &fs, &n);
    if (st) {
        printf("error FwpmFilterEnum0 0x%08lX\n", (unsigned long)st);
        return 1;
    }
    for (UINT32 i = 0; i < n; i++) {
        printf("F ");
        print_guid(&fs[i]->filterKey);
        printf(" %u\n", (unsigned)fs[i]->numFilterConditions);
        for (UINT32 k = 0; k < fs[i]->numFilterConditions; k++) {
            printf("C ");
            print_guid(&fs[i]->filterCondition[k].fieldKey);
            printf(" %u %u\n", (unsigned)fs[i]->filterCondition[k].matchType,
                   (unsigned)fs[i]->filterCondition[k].conditionValue.type);
        }
    }
    if (n) {
        FWPM_FILTER0 again = *fs[0];
        memset(&again.filterKey, 0, sizeof again.filterKey); /* a new, generated key */
        st = FwpmTransactionBegin0(h, 0);
        if (st == 0) {
            printf("readd 0x%08lX\n", (unsigned long)FwpmFilterAdd0(h, &again, NULL, NULL));
            FwpmTransactionAbort0(h);
        }
    }
    FwpmFreeMemory0((void **)&fs);
    FwpmFilterDestroyEnumHandle0(h, e);
    FwpmEngineClose0(h);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "table") == 0)
        return table();
    if (argc == 2 && strcmp(argv[1], "list") == 0)
        return list();
    printf("usage: matchtypes.exe table|list\n");
    return 2;
}
