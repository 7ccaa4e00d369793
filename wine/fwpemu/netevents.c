/*
 * The net event functions: FwpmNetEventCreateEnumHandle0, FwpmNetEventEnum0..5,
 * FwpmNetEventDestroyEnumHandle0, FwpmNetEventSubscribe0..4 and FwpmNetEventUnsubscribe0,
 * serving canned events laid out from the Windows SDK definitions of each structure
 * version, well-formed and malformed, so that wfpsandbox.exe's reader meets every layout
 * it decodes and every kind of damage it must survive.
 *
 * Environment:
 *   WFPEMU_NETEVENTS  unset or "none": an empty log; "disabled": collection is off
 *                     (FWP_E_NET_EVENTS_DISABLED from CreateEnumHandle and Subscribe);
 *                     "canned": the events of canned[] below.
 *
 * The canned events name real filters: at FwpmNetEventCreateEnumHandle0 (and Subscribe)
 * this file enumerates the caller's session through the exported FwpmFilter* functions to
 * find a wfpsandbox filter (provider 799d3978-…) and the account SID of its ownership tag,
 * and adds a non-persistent provider "Contoso Firewall (wfpemu)" with one block filter, so
 * that a drop by another provider's filter exists too. Those calls appear in the call log
 * like any other. This file logs its own calls to WFPEMU_LOG with "seq":0 (api.c owns the
 * sequence counter).
 *
 * Memory: an Enum page is one heap block (array, events, records and blobs). api.c's
 * FwpmFreeMemory0 knows only the blocks api.c handed out, so it counts a page freed by the
 * caller as a bad free and does not release it; netev_owns() is here for it to call.
 * Subscription events live only during the callback, as in WFP.
 *
 * Structure versions 2 to 5 are missing from mingw-w64 10; they are transcribed below from
 * the SDK (shared/fwpmtypes.h in microsoft/win32metadata
 * generation/WinSDK/RecompiledIdlHeaders), with the layout facts of wfp-facts.md §8 asserted.
 */
#include "emu.h"

#include <sddl.h>
#include <stdio.h>
#include <wchar.h>

/* ---- SDK structures mingw-w64 lacks (shared/fwpmtypes.h) ---- */

typedef struct FWPM_NET_EVENT_HEADER2_ {
    FILETIME timeStamp;
    UINT32 flags;
    FWP_IP_VERSION ipVersion;
    UINT8 ipProtocol;
    union {
        UINT32 localAddrV4;
        FWP_BYTE_ARRAY16 localAddrV6;
    };
    union {
        UINT32 remoteAddrV4;
        FWP_BYTE_ARRAY16 remoteAddrV6;
    };
    UINT16 localPort;
    UINT16 remotePort;
    UINT32 scopeId;
    FWP_BYTE_BLOB appId;
    SID *userId;
    FWP_AF addressFamily;
    SID *packageSid;
} FWPM_NET_EVENT_HEADER2;

typedef struct FWPM_NET_EVENT_HEADER3_ {
    FILETIME timeStamp;
    UINT32 flags;
    FWP_IP_VERSION ipVersion;
    UINT8 ipProtocol;
    union {
        UINT32 localAddrV4;
        FWP_BYTE_ARRAY16 localAddrV6;
    };
    union {
        UINT32 remoteAddrV4;
        FWP_BYTE_ARRAY16 remoteAddrV6;
    };
    UINT16 localPort;
    UINT16 remotePort;
    UINT32 scopeId;
    FWP_BYTE_BLOB appId;
    SID *userId;
    FWP_AF addressFamily;
    SID *packageSid;
    wchar_t *enterpriseId;
    UINT64 policyFlags;
    FWP_BYTE_BLOB effectiveName;
} FWPM_NET_EVENT_HEADER3;

typedef struct FWPM_NET_EVENT_CLASSIFY_DROP2_ {
    UINT64 filterId;
    UINT16 layerId;
    UINT32 reauthReason;
    UINT32 originalProfile;
    UINT32 currentProfile;
    UINT32 msFwpDirection;
    BOOL isLoopback;
    FWP_BYTE_BLOB vSwitchId;
    UINT32 vSwitchSourcePort;
    UINT32 vSwitchDestinationPort;
} FWPM_NET_EVENT_CLASSIFY_DROP2;

/* FWPM_NET_EVENT2..5: the header, the type, and a union of pointers to the type-specific
 * records; only classifyDrop is ever set here, the other members are all pointers. */
#define NETEV_STRUCT(N, HEADER)                                                                                    \
    typedef struct FWPM_NET_EVENT##N##_ {                                                                          \
        HEADER header;                                                                                             \
        FWPM_NET_EVENT_TYPE type;                                                                                  \
        union {                                                                                                    \
            void *ikeMmFailure;                                                                                    \
            FWPM_NET_EVENT_CLASSIFY_DROP2 *classifyDrop;                                                           \
        };                                                                                                         \
    } FWPM_NET_EVENT##N
NETEV_STRUCT(2, FWPM_NET_EVENT_HEADER2);
NETEV_STRUCT(3, FWPM_NET_EVENT_HEADER3);
NETEV_STRUCT(4, FWPM_NET_EVENT_HEADER3);
NETEV_STRUCT(5, FWPM_NET_EVENT_HEADER3);

#ifdef _WIN64
_Static_assert(sizeof(FWPM_NET_EVENT_HEADER1) == 144, "HEADER1 size");
_Static_assert(sizeof(FWPM_NET_EVENT1) == 160 && offsetof(FWPM_NET_EVENT1, classifyDrop) == 152, "NET_EVENT1");
_Static_assert(sizeof(FWPM_NET_EVENT_HEADER3) == 136 && offsetof(FWPM_NET_EVENT_HEADER3, effectiveName) == 120, "HEADER3");
_Static_assert(sizeof(FWPM_NET_EVENT_CLASSIFY_DROP2) == 56, "CLASSIFY_DROP2 size");
_Static_assert(sizeof(FWPM_NET_EVENT5) == 152 && offsetof(FWPM_NET_EVENT5, classifyDrop) == 144, "NET_EVENT5");
#else
_Static_assert(sizeof(FWPM_NET_EVENT_HEADER1) == 128, "HEADER1 size");
_Static_assert(sizeof(FWPM_NET_EVENT_HEADER3) == 104 && offsetof(FWPM_NET_EVENT_HEADER3, policyFlags) == 88, "HEADER3");
_Static_assert(sizeof(FWPM_NET_EVENT5) == 112 && offsetof(FWPM_NET_EVENT5, classifyDrop) == 108, "NET_EVENT5");
#endif

/* shared/fwpmtypes.h */
#define NE_FLAG_IP_PROTOCOL_SET 0x00000001
#define NE_FLAG_LOCAL_ADDR_SET  0x00000002
#define NE_FLAG_REMOTE_ADDR_SET 0x00000004
#define NE_FLAG_LOCAL_PORT_SET  0x00000008
#define NE_FLAG_REMOTE_PORT_SET 0x00000010
#define NE_FLAG_APP_ID_SET      0x00000020
#define NE_FLAG_USER_ID_SET     0x00000040
#define NE_FLAG_IP_VERSION_SET  0x00000100
#define NE_FLAGS_ALL                                                                                               \
    (NE_FLAG_IP_PROTOCOL_SET | NE_FLAG_LOCAL_ADDR_SET | NE_FLAG_REMOTE_ADDR_SET | NE_FLAG_LOCAL_PORT_SET |          \
     NE_FLAG_REMOTE_PORT_SET | NE_FLAG_APP_ID_SET | NE_FLAG_USER_ID_SET | NE_FLAG_IP_VERSION_SET)
#define NE_TYPE_CLASSIFY_ALLOW 6 /* FWPM_NET_EVENT_TYPE_CLASSIFY_ALLOW (Windows 8+) */
/* msFwpDirection (documented with FWPM_NET_EVENT_CLASSIFY_DROP1) */
#define NE_DIRECTION_IN  0x3900
#define NE_DIRECTION_OUT 0x3901
/* FWPS_BUILTIN_LAYERS (um/fwpsu.h) */
#define NE_LAYER_ALE_AUTH_CONNECT_V4 48
#define NE_LAYER_ALE_AUTH_CONNECT_V6 50

/* An address no process maps: a reader that dereferences it crashes. */
#define WILD ((void *)(ULONG_PTR)0x10)

/* wfpsandbox's provider key (policy/keys.go). */
static const GUID k_ourProvider = {0x799d3978, 0x8541, 0x477c, {0x91, 0x4c, 0x83, 0x62, 0x73, 0xa0, 0xe7, 0xc6}};
static const GUID k_contosoProvider = {0x0f0e0d0c, 0x0b0a, 0x4908, {0x87, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x00}};
static const GUID k_contosoFilter = {0x1a2b3c4d, 0x0000, 0x4000, {0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01}};
static const GUID k_layerAuthConnectV4 = {0xc38d57d1, 0x05a7, 0x4c33, {0x90, 0x4f, 0x7f, 0xbc, 0xee, 0xe6, 0x0e, 0x82}};

/* ---- the canned events, version-independent ---- */

enum { FILTER_OURS, FILTER_OURS6, FILTER_FOREIGN, FILTER_GONE };
enum { APP_OK, APP_NULL_DATA, APP_EMPTY_WILD, APP_WILD };
enum { USER_OURS, USER_NULL, USER_BAD_REVISION, USER_WILD };
enum { DROP_OK, DROP_NULL, DROP_WILD };

typedef struct {
    const char *name;
    UINT32 flags;
    UINT32 ipVersion; /* FWP_IP_VERSION_V4 / _V6 */
    UINT8 proto;
    BYTE local[16], remote[16]; /* V4: the first 4 bytes, network order */
    UINT16 localPort, remotePort;
    const WCHAR *app;
    int appMode, userMode;
    UINT32 type;
    int dropMode, filter;
    UINT16 layerId;
    UINT32 direction;
} Canned;

static const Canned canned[] = {
    {"ours-udp-v4", NE_FLAGS_ALL, FWP_IP_VERSION_V4, 17, {10, 0, 0, 5}, {9, 9, 9, 9}, 50000, 53,
     L"\\device\\harddiskvolume3\\tools\\curl.exe", APP_OK, USER_OURS, FWPM_NET_EVENT_TYPE_CLASSIFY_DROP, DROP_OK,
     FILTER_OURS, NE_LAYER_ALE_AUTH_CONNECT_V4, NE_DIRECTION_OUT},
    {"ours-tcp-v6", NE_FLAGS_ALL, FWP_IP_VERSION_V6, 6, {0xfd, 0, [15] = 5}, {0x20, 0x01, 0x0d, 0xb8, [15] = 0x35}, 49152,
     853, L"\\device\\harddiskvolume3\\tools\\kdig.exe", APP_OK, USER_OURS, FWPM_NET_EVENT_TYPE_CLASSIFY_DROP, DROP_OK,
     FILTER_OURS6, NE_LAYER_ALE_AUTH_CONNECT_V6, NE_DIRECTION_OUT},
    {"foreign", NE_FLAGS_ALL, FWP_IP_VERSION_V4, 6, {10, 0, 0, 5}, {203, 0, 113, 7}, 49153, 443,
     L"\\device\\harddiskvolume3\\tools\\curl.exe", APP_OK, USER_OURS, FWPM_NET_EVENT_TYPE_CLASSIFY_DROP, DROP_OK,
     FILTER_FOREIGN, NE_LAYER_ALE_AUTH_CONNECT_V4, NE_DIRECTION_OUT},
    {"gone", NE_FLAGS_ALL, FWP_IP_VERSION_V4, 17, {10, 0, 0, 5}, {9, 9, 9, 9}, 50001, 53,
     L"\\device\\harddiskvolume3\\tools\\curl.exe", APP_OK, USER_OURS, FWPM_NET_EVENT_TYPE_CLASSIFY_DROP, DROP_OK,
     FILTER_GONE, NE_LAYER_ALE_AUTH_CONNECT_V4, NE_DIRECTION_OUT},
    /* Malformed: no flag set, and the pointers behind the clear flags are wild. */
    {"missing-flags", 0, FWP_IP_VERSION_V4, 17, {10, 0, 0, 5}, {9, 9, 9, 9}, 50002, 53, NULL, APP_WILD, USER_WILD,
     FWPM_NET_EVENT_TYPE_CLASSIFY_DROP, DROP_OK, FILTER_OURS, NE_LAYER_ALE_AUTH_CONNECT_V4, NE_DIRECTION_OUT},
    /* Malformed: every flag set, appId with a size and no data, userId and classifyDrop NULL. */
    {"null-pointers", NE_FLAGS_ALL, FWP_IP_VERSION_V4, 17, {10, 0, 0, 5}, {9, 9, 9, 9}, 50003, 53, NULL, APP_NULL_DATA,
     USER_NULL, FWPM_NET_EVENT_TYPE_CLASSIFY_DROP, DROP_NULL, FILTER_OURS, 0, 0},
    /* Malformed: zero-length appId (wild data), a SID of revision 9, an unknown layer, a bad direction. */
    {"zero-length", NE_FLAGS_ALL, FWP_IP_VERSION_V4, 17, {10, 0, 0, 5}, {9, 9, 9, 9}, 50004, 53, NULL, APP_EMPTY_WILD,
     USER_BAD_REVISION, FWPM_NET_EVENT_TYPE_CLASSIFY_DROP, DROP_OK, FILTER_OURS, 999, 7},
    /* Not a drop: the union points nowhere, and must not be read as a classifyDrop. */
    {"not-a-drop", NE_FLAGS_ALL, FWP_IP_VERSION_V4, 17, {10, 0, 0, 5}, {9, 9, 9, 9}, 50005, 53,
     L"\\device\\harddiskvolume3\\tools\\curl.exe", APP_OK, USER_OURS, NE_TYPE_CLASSIFY_ALLOW, DROP_WILD, FILTER_OURS,
     NE_LAYER_ALE_AUTH_CONNECT_V4, NE_DIRECTION_OUT},
};
#define NCANNED (sizeof canned / sizeof canned[0])

/* What the canned events refer to in the caller's store. */
typedef struct {
    UINT64 ours, ours6, foreign, gone; /* ours: the IPv4 DNS rule's filter; ours6: DNS over TLS, IPv6 */
    BYTE sid[SECURITY_MAX_SID_SIZE];
    UINT32 sidLen;
} Targets;

/* ---- state ---- */

static CRITICAL_SECTION g_nlock;
static BOOL g_nlockInit;
static INIT_ONCE g_once = INIT_ONCE_STATIC_INIT;

typedef struct NeEnum {
    struct NeEnum *next;
    UINT32 n, pos;
    Targets t;
} NeEnum;

typedef struct NeSub {
    struct NeSub *next;
    int version;
    void (*callback)(void); /* the FWPM_NET_EVENT_CALLBACKn of the version */
    void *context;
    Targets t;
    UINT32 n;
    HANDLE thread, stop;
} NeSub;

static NeEnum *g_nenums;
static NeSub *g_subs;
static void **g_pages;
static size_t g_npages, g_cappages;

static BOOL CALLBACK init_lock(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
    (void)once;
    (void)param;
    (void)ctx;
    InitializeCriticalSection(&g_nlock);
    g_nlockInit = TRUE;
    return TRUE;
}

static void nlock(void)
{
    InitOnceExecuteOnce(&g_once, init_lock, NULL, NULL);
    EnterCriticalSection(&g_nlock);
}

static void nunlock(void)
{
    LeaveCriticalSection(&g_nlock);
}

/* Whether p is an Enum page this file returned (for api.c's FwpmFreeMemory0). */
BOOL netev_owns(void *p)
{
    BOOL owns = FALSE;
    nlock();
    for (size_t i = 0; i < g_npages; i++)
        if (g_pages[i] == p)
            owns = TRUE;
    nunlock();
    return owns;
}

/* ---- configuration and log ---- */

enum { MODE_NONE, MODE_DISABLED, MODE_CANNED };

static int mode(void)
{
    WCHAR *v = env_get(L"WFPEMU_NETEVENTS");
    int m = MODE_NONE;
    if (v && !wcscmp(v, L"disabled"))
        m = MODE_DISABLED;
    else if (v && !wcscmp(v, L"canned"))
        m = MODE_CANNED;
    emu_free(v);
    return m;
}

static void nlog(const char *fn, DWORD st, const char *args, const char *out)
{
    WCHAR *path = path_fix(env_get(L"WFPEMU_LOG"));
    if (!path)
        return;
    Sb b = {0};
    sb_printf(&b, "{\"seq\":0,\"pid\":%lu,\"fn\":", (unsigned long)GetCurrentProcessId());
    sb_json_str(&b, fn);
    sb_printf(&b, ",\"status\":\"0x%08lX\",\"session\":null,\"txn\":\"none\",\"args\":{%s},\"out\":{%s}}\n",
              (unsigned long)st, args ? args : "", out ? out : "");
    HANDLE h = CreateFileW(path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_ALWAYS,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    if (h != INVALID_HANDLE_VALUE) {
        DWORD w;
        WriteFile(h, b.p, (DWORD)b.n, &w, NULL);
        CloseHandle(h);
    }
    sb_free(&b);
    emu_free(path);
}

/* ---- finding the filters the events name ---- */

/* The SID of a wfpsandbox ownership tag {"wfpsandbox":"owner/1","sid":"S-…","rule":"…"}. */
static BOOL owner_sid(const FWP_BYTE_BLOB *pd, Targets *t)
{
    char buf[512];
    if (!pd->data || pd->size == 0 || pd->size >= sizeof buf)
        return FALSE;
    memcpy(buf, pd->data, pd->size);
    buf[pd->size] = 0;
    char *s = strstr(buf, "\"sid\":\"");
    if (!s)
        return FALSE;
    s += 7;
    char *e = strchr(s, '"');
    if (!e)
        return FALSE;
    *e = 0;
    PSID sid = NULL;
    if (!ConvertStringSidToSidA(s, &sid))
        return FALSE;
    DWORD n = GetLengthSid(sid);
    BOOL ok = n <= sizeof t->sid;
    if (ok) {
        memcpy(t->sid, sid, n);
        t->sidLen = n;
    }
    LocalFree(sid);
    return ok;
}

/* Whether a providerData blob is the ownership tag of rule. */
static BOOL is_rule(const FWP_BYTE_BLOB *pd, const char *rule)
{
    char want[64];
    snprintf(want, sizeof want, "\"rule\":\"%s\"", rule);
    size_t n = strlen(want);
    for (UINT32 i = 0; pd->data && i + n <= pd->size; i++)
        if (!memcmp(pd->data + i, want, n))
            return TRUE;
    return FALSE;
}

static void find_targets(HANDLE engine, Targets *t)
{
    memset(t, 0, sizeof *t);
    t->gone = 0xFFFF0000DEADull;
    HANDLE eh = NULL;
    if (FwpmFilterCreateEnumHandle0(engine, NULL, &eh) == ERROR_SUCCESS) {
        FWPM_FILTER0 **arr = NULL;
        UINT32 n = 0;
        if (FwpmFilterEnum0(engine, eh, 10000, &arr, &n) == ERROR_SUCCESS && arr) {
            /* The IPv4 DNS rule's filter, as the canned drops go to port 53; else any of ours. */
            for (int pass = 0; pass < 2 && !t->ours; pass++)
                for (UINT32 i = 0; i < n && !t->ours; i++)
                    if (arr[i]->providerKey && guid_eq(arr[i]->providerKey, &k_ourProvider) &&
                        (pass || is_rule(&arr[i]->providerData, "dns-v4")) && owner_sid(&arr[i]->providerData, t))
                        t->ours = arr[i]->filterId;
            for (UINT32 i = 0; i < n && !t->ours6; i++)
                if (arr[i]->providerKey && guid_eq(arr[i]->providerKey, &k_ourProvider) &&
                    is_rule(&arr[i]->providerData, "dot-v6"))
                    t->ours6 = arr[i]->filterId;
            if (!t->ours6)
                t->ours6 = t->ours;
            FwpmFreeMemory0((void **)&arr);
        }
        FwpmFilterDestroyEnumHandle0(engine, eh);
    }
    /* Another provider's block filter, non-persistent (gone when the process ends). */
    FWPM_PROVIDER0 p = {0};
    p.providerKey = k_contosoProvider;
    p.displayData.name = L"Contoso Firewall (wfpemu)";
    FwpmProviderAdd0(engine, &p, NULL);
    FWPM_FILTER0 f = {0};
    f.filterKey = k_contosoFilter;
    f.displayData.name = L"Contoso: block outbound (wfpemu)";
    f.providerKey = (GUID *)&k_contosoProvider;
    f.layerKey = k_layerAuthConnectV4;
    f.subLayerKey = EMU_FWPM_SUBLAYER_UNIVERSAL;
    f.action.type = FWP_ACTION_BLOCK;
    UINT64 id = 0;
    if (FwpmFilterAdd0(engine, &f, NULL, &id) == ERROR_SUCCESS) {
        t->foreign = id;
    } else {
        FWPM_FILTER0 *got = NULL;
        if (FwpmFilterGetByKey0(engine, &k_contosoFilter, &got) == ERROR_SUCCESS && got) {
            t->foreign = got->filterId;
            FwpmFreeMemory0((void **)&got);
        }
    }
}

/* ---- building one event of a given version ---- */

static void *bump_copy(Bump *b, const void *src, SIZE_T n, SIZE_T align)
{
    void *p = bump(b, n, align);
    if (b->buf)
        memcpy(p, src, n);
    return p;
}

/* Fills the members every header version shares (they have the same names). */
#define FILL_HEADER(h, c, app, appLen, user, ts)                                                                   \
    do {                                                                                                           \
        (h)->timeStamp = (ts);                                                                                     \
        (h)->flags = (c)->flags;                                                                                   \
        (h)->ipVersion = (c)->ipVersion;                                                                           \
        (h)->ipProtocol = (c)->proto;                                                                              \
        if ((c)->ipVersion == FWP_IP_VERSION_V4) {                                                                 \
            (h)->localAddrV4 = (UINT32)(c)->local[0] << 24 | (UINT32)(c)->local[1] << 16 |                         \
                               (UINT32)(c)->local[2] << 8 | (c)->local[3];                                         \
            (h)->remoteAddrV4 = (UINT32)(c)->remote[0] << 24 | (UINT32)(c)->remote[1] << 16 |                      \
                                (UINT32)(c)->remote[2] << 8 | (c)->remote[3];                                      \
        } else {                                                                                                   \
            memcpy((h)->localAddrV6.byteArray16, (c)->local, 16);                                                  \
            memcpy((h)->remoteAddrV6.byteArray16, (c)->remote, 16);                                                \
        }                                                                                                          \
        (h)->localPort = (c)->localPort;                                                                           \
        (h)->remotePort = (c)->remotePort;                                                                         \
        (h)->appId.size = (appLen);                                                                                \
        (h)->appId.data = (app);                                                                                   \
        (h)->userId = (user);                                                                                      \
    } while (0)

static void *build_event(Bump *b, int version, const Canned *c, const Targets *t, UINT32 index)
{
    /* Time: now, minus one second per event so that they are ordered oldest first. */
    FILETIME ts;
    GetSystemTimeAsFileTime(&ts);
    ULARGE_INTEGER u = {.LowPart = ts.dwLowDateTime, .HighPart = ts.dwHighDateTime};
    u.QuadPart -= (ULONGLONG)(NCANNED - index) * 10000000ull;
    ts.dwLowDateTime = u.LowPart;
    ts.dwHighDateTime = u.HighPart;

    BYTE *app = NULL;
    UINT32 appLen = 0;
    switch (c->appMode) {
    case APP_OK:
        appLen = (UINT32)((wcslen(c->app) + 1) * sizeof(WCHAR));
        app = bump_copy(b, c->app, appLen, 2);
        break;
    case APP_NULL_DATA:
        appLen = 12;
        break;
    case APP_EMPTY_WILD:
        app = WILD;
        break;
    case APP_WILD:
        app = WILD;
        appLen = 40;
        break;
    }
    SID *user = NULL;
    static const BYTE badSid[8] = {9, 1, 0, 0, 0, 0, 0, 5};
    switch (c->userMode) {
    case USER_OURS:
        if (t->sidLen)
            user = bump_copy(b, t->sid, t->sidLen, 4);
        break;
    case USER_BAD_REVISION:
        user = bump_copy(b, badSid, sizeof badSid, 4);
        break;
    case USER_WILD:
        user = WILD;
        break;
    }
    UINT64 filterId = c->filter == FILTER_OURS    ? t->ours
                      : c->filter == FILTER_OURS6 ? t->ours6
                      : c->filter == FILTER_FOREIGN ? t->foreign
                                                    : t->gone;
    void *drop = NULL;
    if (c->dropMode == DROP_WILD) {
        drop = WILD;
    } else if (c->dropMode == DROP_OK) {
        if (version == 0) {
            FWPM_NET_EVENT_CLASSIFY_DROP0 *d = bump(b, sizeof *d, 8);
            if (b->buf) {
                d->filterId = filterId;
                d->layerId = c->layerId;
            }
            drop = d;
        } else if (version == 1) {
            FWPM_NET_EVENT_CLASSIFY_DROP1 *d = bump(b, sizeof *d, 8);
            if (b->buf) {
                d->filterId = filterId;
                d->layerId = c->layerId;
                d->msFwpDirection = c->direction;
            }
            drop = d;
        } else {
            FWPM_NET_EVENT_CLASSIFY_DROP2 *d = bump(b, sizeof *d, 8);
            if (b->buf) {
                d->filterId = filterId;
                d->layerId = c->layerId;
                d->msFwpDirection = c->direction;
            }
            drop = d;
        }
    }

#define EVENT_IF(N, T)                                                                                             \
    if (version == N) {                                                                                            \
        T *e = bump(b, sizeof *e, 8);                                                                              \
        if (b->buf) {                                                                                              \
            FILL_HEADER(&e->header, c, app, appLen, user, ts);                                                     \
            e->type = (FWPM_NET_EVENT_TYPE)c->type;                                                                \
            e->classifyDrop = drop;                                                                                \
        }                                                                                                          \
        return e;                                                                                                  \
    }
    EVENT_IF(0, FWPM_NET_EVENT0)
    EVENT_IF(1, FWPM_NET_EVENT1)
    EVENT_IF(2, FWPM_NET_EVENT2)
    EVENT_IF(3, FWPM_NET_EVENT3)
    EVENT_IF(4, FWPM_NET_EVENT4)
    EVENT_IF(5, FWPM_NET_EVENT5)
#undef EVENT_IF
    return NULL;
}

/* One page: the array of n entry pointers and everything they point to, in one block. */
static void *build_page(int version, const Targets *t, UINT32 from, UINT32 n)
{
    Bump m = {0};
    bump(&m, n * sizeof(void *), 8);
    for (UINT32 i = 0; i < n; i++)
        build_event(&m, version, &canned[from + i], t, from + i);
    Bump w = {emu_alloc(m.off), 0};
    void **arr = bump(&w, n * sizeof(void *), 8);
    for (UINT32 i = 0; i < n; i++)
        arr[i] = build_event(&w, version, &canned[from + i], t, from + i);
    return arr;
}

/* ---- enumeration ---- */

DWORD WINAPI FwpmNetEventCreateEnumHandle0(HANDLE engineHandle, const FWPM_NET_EVENT_ENUM_TEMPLATE0 *enumTemplate,
                                           HANDLE *enumHandle)
{
    char args[160];
    snprintf(args, sizeof args, "\"template\":%s", enumTemplate ? "\"time window\"" : "null");
    DWORD st = ERROR_SUCCESS;
    int m = mode();
    if (!engineHandle || !enumHandle)
        st = ERROR_INVALID_PARAMETER;
    else if (m == MODE_DISABLED)
        st = (DWORD)FWP_E_NET_EVENTS_DISABLED;
    else if (enumTemplate && enumTemplate->numFilterConditions)
        st = ERROR_NOT_SUPPORTED; /* conditions are not emulated */
    if (st != ERROR_SUCCESS) {
        nlog("FwpmNetEventCreateEnumHandle0", st, args, NULL);
        return st;
    }
    NeEnum *e = emu_alloc(sizeof *e);
    if (m == MODE_CANNED) {
        find_targets(engineHandle, &e->t);
        e->n = NCANNED;
    }
    nlock();
    e->next = g_nenums;
    g_nenums = e;
    nunlock();
    *enumHandle = (HANDLE)e;
    char out[160];
    snprintf(out, sizeof out, "\"events\":%lu,\"ours\":%llu,\"foreign\":%llu", (unsigned long)e->n,
             (unsigned long long)e->t.ours, (unsigned long long)e->t.foreign);
    nlog("FwpmNetEventCreateEnumHandle0", st, args, out);
    return st;
}

static NeEnum *find_nenum(HANDLE h)
{
    for (NeEnum *e = g_nenums; e; e = e->next)
        if ((HANDLE)e == h)
            return e;
    return NULL;
}

static DWORD net_event_enum(int version, HANDLE engineHandle, HANDLE enumHandle, UINT32 numEntriesRequested,
                            void ***entries, UINT32 *numEntriesReturned)
{
    char fn[32];
    snprintf(fn, sizeof fn, "FwpmNetEventEnum%d", version);
    if (!engineHandle || !entries || !numEntriesReturned) {
        nlog(fn, ERROR_INVALID_PARAMETER, NULL, NULL);
        return ERROR_INVALID_PARAMETER;
    }
    nlock();
    NeEnum *e = find_nenum(enumHandle);
    if (!e) {
        nunlock();
        nlog(fn, (DWORD)FWP_E_INVALID_ENUMERATOR, NULL, NULL);
        return (DWORD)FWP_E_INVALID_ENUMERATOR;
    }
    UINT32 n = e->n - e->pos;
    if (n > numEntriesRequested)
        n = numEntriesRequested;
    *entries = NULL;
    *numEntriesReturned = n;
    if (n) {
        *entries = build_page(version, &e->t, e->pos, n);
        if (g_npages == g_cappages) {
            size_t cap = g_cappages ? 2 * g_cappages : 16;
            void **v = emu_alloc(cap * sizeof *v);
            if (g_pages) {
                memcpy(v, g_pages, g_npages * sizeof *v);
                emu_free(g_pages);
            }
            g_pages = v;
            g_cappages = cap;
        }
        g_pages[g_npages++] = *entries;
    }
    UINT32 from = e->pos;
    e->pos += n;
    nunlock();
    char args[64], out[96];
    snprintf(args, sizeof args, "\"numEntriesRequested\":%lu", (unsigned long)numEntriesRequested);
    snprintf(out, sizeof out, "\"numEntriesReturned\":%lu,\"from\":%lu", (unsigned long)n, (unsigned long)from);
    nlog(fn, ERROR_SUCCESS, args, out);
    return ERROR_SUCCESS;
}

#define ENUM_FN(N, T)                                                                                              \
    DWORD WINAPI FwpmNetEventEnum##N(HANDLE engineHandle, HANDLE enumHandle, UINT32 numEntriesRequested,           \
                                     T ***entries, UINT32 *numEntriesReturned)                                     \
    {                                                                                                              \
        return net_event_enum(N, engineHandle, enumHandle, numEntriesRequested, (void ***)entries,                 \
                              numEntriesReturned);                                                                 \
    }
ENUM_FN(0, FWPM_NET_EVENT0)
ENUM_FN(1, FWPM_NET_EVENT1)
ENUM_FN(2, FWPM_NET_EVENT2)
ENUM_FN(3, FWPM_NET_EVENT3)
ENUM_FN(4, FWPM_NET_EVENT4)
ENUM_FN(5, FWPM_NET_EVENT5)

DWORD WINAPI FwpmNetEventDestroyEnumHandle0(HANDLE engineHandle, HANDLE enumHandle)
{
    DWORD st = ERROR_SUCCESS;
    nlock();
    NeEnum **pp = &g_nenums;
    while (*pp && (HANDLE)*pp != enumHandle)
        pp = &(*pp)->next;
    if (!engineHandle || !*pp) {
        st = (DWORD)FWP_E_INVALID_ENUMERATOR;
    } else {
        NeEnum *e = *pp;
        *pp = e->next;
        emu_free(e);
    }
    nunlock();
    nlog("FwpmNetEventDestroyEnumHandle0", st, NULL, NULL);
    return st;
}

/* ---- subscriptions ---- */

/* FWPM_NET_EVENT_CALLBACK1..4 (um/fwpmu.h); CALLBACK0 is in mingw-w64's fwpmu.h. */
typedef void(CALLBACK *FWPM_NET_EVENT_CALLBACK1)(void *context, const FWPM_NET_EVENT2 *event);
typedef void(CALLBACK *FWPM_NET_EVENT_CALLBACK2)(void *context, const FWPM_NET_EVENT3 *event);
typedef void(CALLBACK *FWPM_NET_EVENT_CALLBACK3)(void *context, const FWPM_NET_EVENT4 *event);
typedef void(CALLBACK *FWPM_NET_EVENT_CALLBACK4)(void *context, const FWPM_NET_EVENT5 *event);
typedef void(CALLBACK *NetEventCallback)(void *context, const void *event);

static DWORD WINAPI deliver(LPVOID param)
{
    NeSub *s = param;
    for (UINT32 i = 0; i < s->n; i++) {
        if (WaitForSingleObject(s->stop, 20) == WAIT_OBJECT_0)
            return 0;
        void **page = build_page(s->version, &s->t, i, 1);
        ((NetEventCallback)s->callback)(s->context, page[0]); /* CALLBACKn and NetEventCallback differ only in the event's pointer type */
        emu_free(page); /* the event lives only during the callback */
    }
    WaitForSingleObject(s->stop, INFINITE);
    return 0;
}

static DWORD subscribe(int n, HANDLE engineHandle, const FWPM_NET_EVENT_SUBSCRIPTION0 *subscription,
                       void (*callback)(void), void *context, HANDLE *eventsHandle)
{
    char fn[32];
    snprintf(fn, sizeof fn, "FwpmNetEventSubscribe%d", n);
    DWORD st = ERROR_SUCCESS;
    int m = mode();
    if (!engineHandle || !subscription || !callback || !eventsHandle)
        st = ERROR_INVALID_PARAMETER;
    else if (m == MODE_DISABLED)
        st = (DWORD)FWP_E_NET_EVENTS_DISABLED;
    if (st != ERROR_SUCCESS) {
        nlog(fn, st, NULL, NULL);
        return st;
    }
    NeSub *s = emu_alloc(sizeof *s);
    s->version = n + 1; /* Subscribe0 delivers FWPM_NET_EVENT1, … Subscribe4 FWPM_NET_EVENT5 */
    s->callback = callback;
    s->context = context;
    if (m == MODE_CANNED) {
        find_targets(engineHandle, &s->t);
        s->n = NCANNED;
    }
    s->stop = CreateEventW(NULL, TRUE, FALSE, NULL);
    nlock();
    s->next = g_subs;
    g_subs = s;
    nunlock();
    s->thread = CreateThread(NULL, 0, deliver, s, 0, NULL);
    *eventsHandle = (HANDLE)s;
    char out[64];
    snprintf(out, sizeof out, "\"events\":%lu", (unsigned long)s->n);
    nlog(fn, st, NULL, out);
    return st;
}

#define SUBSCRIBE_FN(N)                                                                                            \
    DWORD WINAPI FwpmNetEventSubscribe##N(HANDLE engineHandle, const FWPM_NET_EVENT_SUBSCRIPTION0 *subscription,   \
                                          FWPM_NET_EVENT_CALLBACK##N callback, void *context, HANDLE *eventsHandle)  \
    {                                                                                                              \
        return subscribe(N, engineHandle, subscription, (void (*)(void))callback, context, eventsHandle);          \
    }
SUBSCRIBE_FN(0)
SUBSCRIBE_FN(1)
SUBSCRIBE_FN(2)
SUBSCRIBE_FN(3)
SUBSCRIBE_FN(4)

/* Stops delivery and waits for a callback in progress, as WFP does. */
DWORD WINAPI FwpmNetEventUnsubscribe0(HANDLE engineHandle, HANDLE eventsHandle)
{
    DWORD st = ERROR_SUCCESS;
    nlock();
    NeSub **pp = &g_subs;
    while (*pp && (HANDLE)*pp != eventsHandle)
        pp = &(*pp)->next;
    NeSub *s = *pp;
    if (s)
        *pp = s->next;
    nunlock();
    if (!engineHandle || !s) {
        st = ERROR_INVALID_HANDLE;
    } else {
        SetEvent(s->stop);
        WaitForSingleObject(s->thread, INFINITE);
        CloseHandle(s->thread);
        CloseHandle(s->stop);
        emu_free(s);
    }
    nlog("FwpmNetEventUnsubscribe0", st, NULL, NULL);
    return st;
}
