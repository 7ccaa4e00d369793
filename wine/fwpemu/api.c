/*
 * The exported fwpuclnt.dll functions: sessions, transactions, adds, deletes, gets,
 * enumeration, FwpmFreeMemory0, and the call log.
 *
 * Environment:
 *   WFPEMU_LOG          call log, one JSON object per line, appended (default C:\windows\temp\wfpemu.jsonl)
 *   WFPEMU_STATE        state file of persistent objects (default wfpemu-state.txt next to the log)
 *   WFPEMU_FAIL         fn:N:code[,fn:N:code...]  the Nth call of fn returns code and does nothing;
 *                       fn:N+:code fails the Nth and every later call
 *   WFPEMU_STALL        fn[:N]  the Nth (default first) call of fn that succeeds is logged, then a
 *                       {"fn":"wfpemu.stall"} line, and the calling thread sleeps until the process
 *                       is killed (a test's "kill it mid-run")
 *   WFPEMU_OPEN_STATUS  code  FwpmEngineOpen0 returns it (0x6D9: BFE not running)
 * Paths starting with "/" are Unix paths and get Wine's "Z:" drive prefixed.
 *
 * Model: one object store per process, loaded from the state file at the first
 * FwpmEngineOpen0 and saved after every commit (explicit, or the implicit transaction of a
 * write outside one). An explicit transaction works on a copy of the store that replaces it
 * at commit, so commit is atomic and abort changes nothing. A failed call inside a
 * transaction leaves it open and unchanged. While a session holds a transaction, writes
 * and FwpmTransactionBegin0 from other sessions fail with FWP_E_TIMEOUT at once (WFP would
 * wait up to txnWaitTimeoutInMSec first).
 */
#include "emu.h"

#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

/* ---- state ---- */

typedef struct Session {
    struct Session *next;
    UINT64 id;
    UINT32 flags;
    Store *txn; /* explicit transaction, or NULL */
    BOOL txnReadOnly;
} Session;

enum { ENUM_PROVIDER = 1, ENUM_SUBLAYER, ENUM_FILTER };

typedef struct EnumH {
    struct EnumH *next;
    UINT64 id;
    Session *s;
    int kind;
    void **items; /* dup_* copies taken at creation: a snapshot */
    UINT32 n, pos;
} EnumH;

typedef struct {
    char fn[64];
    UINT32 nth, seen;
    BOOL andLater; /* "N+": the Nth call and every later one */
    DWORD code;
} FailSpec;

static CRITICAL_SECTION g_lock;
static BOOL g_configured;
static WCHAR *g_logPath, *g_statePath;
static FailSpec g_fail[16];
static int g_nfail;
static char g_stallFn[64];
static UINT32 g_stallNth = 1, g_stallSeen;
static BOOL g_openStatusSet;
static DWORD g_openStatus;
/* WFPEMU_RELOAD=1: re-read the state file at an FwpmEngineOpen0 that finds no session
 * of this process open, so that a long-running process (the wfpsandbox service) sees
 * what other processes committed meanwhile, as every client of the one real BFE does. */
static BOOL g_reload;

static Store *g_store; /* committed objects */
static BOOL g_loaded;
static Session *g_sessions;
static EnumH *g_enums;
static UINT64 g_nextSession = 1, g_nextEnum = 1, g_seq;

static void **g_out; /* blocks handed to callers, not yet freed */
static size_t g_nout, g_capout;
static UINT64 g_allocs, g_frees, g_badFrees;

/* ---- configuration ---- */

static void parse_fail(const WCHAR *w)
{
    char buf[1024];
    if (!WideCharToMultiByte(CP_UTF8, 0, w, -1, buf, sizeof buf, NULL, NULL))
        return;
    for (char *tok = strtok(buf, ","); tok && g_nfail < 16; tok = strtok(NULL, ",")) {
        char *c1 = strchr(tok, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c1 || !c2 || c1 - tok >= 63)
            continue;
        FailSpec *f = &g_fail[g_nfail++];
        memcpy(f->fn, tok, (size_t)(c1 - tok));
        f->fn[c1 - tok] = 0;
        char *end;
        f->nth = (UINT32)strtoul(c1 + 1, &end, 10);
        f->andLater = *end == '+';
        f->code = (DWORD)strtoul(c2 + 1, NULL, 0);
    }
}

static void configure(void)
{
    if (g_configured)
        return;
    g_configured = TRUE;
    g_logPath = path_fix(env_get(L"WFPEMU_LOG"));
    if (!g_logPath) {
        static const WCHAR def[] = L"C:\\windows\\temp\\wfpemu.jsonl";
        g_logPath = emu_alloc(sizeof def);
        memcpy(g_logPath, def, sizeof def);
    }
    g_statePath = path_fix(env_get(L"WFPEMU_STATE"));
    if (!g_statePath) {
        size_t n = wcslen(g_logPath), dir = n;
        while (dir > 0 && g_logPath[dir - 1] != L'\\' && g_logPath[dir - 1] != L'/')
            dir--;
        static const WCHAR name[] = L"wfpemu-state.txt";
        g_statePath = emu_alloc((dir + sizeof name / sizeof name[0]) * sizeof(WCHAR));
        memcpy(g_statePath, g_logPath, dir * sizeof(WCHAR));
        memcpy(g_statePath + dir, name, sizeof name);
    }
    WCHAR *fail = env_get(L"WFPEMU_FAIL");
    if (fail) {
        parse_fail(fail);
        emu_free(fail);
    }
    WCHAR *stall = env_get(L"WFPEMU_STALL");
    if (stall) {
        char buf[80];
        if (WideCharToMultiByte(CP_UTF8, 0, stall, -1, buf, sizeof buf, NULL, NULL)) {
            char *colon = strchr(buf, ':');
            if (colon) {
                *colon = 0;
                g_stallNth = (UINT32)strtoul(colon + 1, NULL, 10);
            }
            if (strlen(buf) < sizeof g_stallFn)
                strcpy(g_stallFn, buf);
        }
        emu_free(stall);
    }
    WCHAR *reload = env_get(L"WFPEMU_RELOAD");
    if (reload) {
        g_reload = reload[0] == L'1';
        emu_free(reload);
    }
    WCHAR *open = env_get(L"WFPEMU_OPEN_STATUS");
    if (open) {
        g_openStatusSet = TRUE;
        g_openStatus = (DWORD)wcstoul(open, NULL, 0);
        emu_free(open);
    }
}

/* ---- log ---- */

static void log_line(Sb *line)
{
    sb_putc(line, '\n');
    HANDLE h = CreateFileW(g_logPath, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_ALWAYS,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return;
    DWORD w;
    WriteFile(h, line->p, (DWORD)line->n, &w, NULL);
    CloseHandle(h);
}

static void log_memory(const char *event)
{
    UINT64 open = 0;
    for (Session *s = g_sessions; s; s = s->next)
        open++;
    Sb b = {0};
    sb_printf(&b,
              "{\"seq\":%llu,\"pid\":%lu,\"fn\":\"wfpemu.memory\",\"event\":\"%s\",\"allocs\":%llu,\"frees\":%llu,"
              "\"outstanding\":%llu,\"badFrees\":%llu,\"openSessions\":%llu,\"leak\":%s}",
              (unsigned long long)++g_seq, (unsigned long)GetCurrentProcessId(), event, (unsigned long long)g_allocs,
              (unsigned long long)g_frees, (unsigned long long)g_nout, (unsigned long long)g_badFrees,
              (unsigned long long)open, g_nout ? "true" : "false");
    log_line(&b);
    sb_free(&b);
}

typedef struct {
    const char *fn;
    Session *s;
    Sb args, out;
    BOOL injected;
} Call;

static Session *find_session(HANDLE h)
{
    for (Session *s = g_sessions; s; s = s->next)
        if ((HANDLE)s == h)
            return s;
    return NULL;
}

static void call_begin(Call *c, const char *fn, HANDLE h)
{
    EnterCriticalSection(&g_lock);
    configure();
    memset(c, 0, sizeof *c);
    c->fn = fn;
    c->s = h ? find_session(h) : NULL;
}

static void arg(Sb *b, const char *name)
{
    if (b->n)
        sb_putc(b, ',');
    sb_json_str(b, name);
    sb_putc(b, ':');
}

/* Whether this call is the one WFPEMU_FAIL names; then *code is what it returns. */
static BOOL call_injected(Call *c, DWORD *code)
{
    BOOL hit = FALSE;
    for (int i = 0; i < g_nfail; i++) {
        if (strcmp(g_fail[i].fn, c->fn) != 0)
            continue;
        UINT32 seen = ++g_fail[i].seen;
        if ((seen == g_fail[i].nth || (g_fail[i].andLater && seen > g_fail[i].nth)) && !hit) {
            hit = TRUE;
            *code = g_fail[i].code;
        }
    }
    c->injected = hit;
    return hit;
}

static DWORD call_end(Call *c, DWORD st)
{
    Sb b = {0};
    sb_printf(&b, "{\"seq\":%llu,\"pid\":%lu,\"fn\":", (unsigned long long)++g_seq, (unsigned long)GetCurrentProcessId());
    sb_json_str(&b, c->fn);
    sb_printf(&b, ",\"status\":\"0x%08lX\",\"session\":", (unsigned long)st);
    if (c->s)
        sb_printf(&b, "%llu", (unsigned long long)c->s->id);
    else
        sb_puts(&b, "null");
    sb_printf(&b, ",\"txn\":\"%s\"", !c->s || !c->s->txn ? "none" : c->s->txnReadOnly ? "read" : "write");
    if (c->injected)
        sb_puts(&b, ",\"injected\":true");
    sb_puts(&b, ",\"args\":{");
    if (c->args.p)
        sb_puts(&b, c->args.p);
    sb_puts(&b, "},\"out\":{");
    if (c->out.p)
        sb_puts(&b, c->out.p);
    sb_puts(&b, "}}");
    log_line(&b);
    sb_free(&b);
    sb_free(&c->args);
    sb_free(&c->out);
    BOOL stall = st == ERROR_SUCCESS && g_stallFn[0] && strcmp(g_stallFn, c->fn) == 0 && ++g_stallSeen == g_stallNth;
    if (stall) {
        Sb m = {0};
        sb_printf(&m, "{\"seq\":%llu,\"pid\":%lu,\"fn\":\"wfpemu.stall\",\"after\":", (unsigned long long)++g_seq,
                  (unsigned long)GetCurrentProcessId());
        sb_json_str(&m, c->fn);
        sb_puts(&m, "}");
        log_line(&m);
        sb_free(&m);
    }
    LeaveCriticalSection(&g_lock);
    while (stall)
        Sleep(INFINITE);
    return st;
}

/* ---- memory handed to callers ---- */

static void *out_alloc(SIZE_T n)
{
    void *p = emu_alloc(n);
    if (g_nout == g_capout) {
        size_t cap = g_capout ? 2 * g_capout : 64;
        void **v = emu_alloc(cap * sizeof *v);
        if (g_out) {
            memcpy(v, g_out, g_nout * sizeof *v);
            emu_free(g_out);
        }
        g_out = v;
        g_capout = cap;
    }
    g_out[g_nout++] = p;
    g_allocs++;
    return p;
}

#define OUT_ONE(kind, T)                                                                                           \
    static T *out_##kind(const T *src)                                                                             \
    {                                                                                                              \
        Bump m = {0};                                                                                              \
        bump_##kind(&m, src);                                                                                      \
        Bump w = {out_alloc(m.off), 0};                                                                            \
        return bump_##kind(&w, src);                                                                               \
    }
OUT_ONE(provider, FWPM_PROVIDER0)
OUT_ONE(sublayer, FWPM_SUBLAYER0)
OUT_ONE(filter, FWPM_FILTER0)

/* ---- helpers ---- */

static Store *read_store(Session *s)
{
    return s->txn ? s->txn : g_store;
}

static Session *txn_holder(void)
{
    for (Session *s = g_sessions; s; s = s->next)
        if (s->txn)
            return s;
    return NULL;
}

/* Where a write goes: the session's transaction, or the committed store (implicit txn). */
static DWORD write_store(Session *s, Store **out)
{
    if (s->txn) {
        if (s->txnReadOnly)
            return (DWORD)FWP_E_INCOMPATIBLE_TXN;
        *out = s->txn;
        return ERROR_SUCCESS;
    }
    if (txn_holder())
        return (DWORD)FWP_E_TIMEOUT;
    *out = g_store;
    return ERROR_SUCCESS;
}

static DWORD save_state(Call *c)
{
    DWORD st = persist_save(g_store, g_statePath);
    arg(&c->out, "stateSaved");
    sb_puts(&c->out, st == ERROR_SUCCESS ? "true" : "false");
    if (st != ERROR_SUCCESS) {
        arg(&c->out, "stateError");
        sb_printf(&c->out, "\"0x%08lX\"", (unsigned long)st);
    }
    return st;
}

/* After a write outside an explicit transaction: the implicit transaction commits. */
static DWORD implicit_commit(Call *c, DWORD st)
{
    if (st == ERROR_SUCCESS && !c->s->txn)
        st = save_state(c);
    return st;
}

static UINT64 dyn_of(Session *s)
{
    return (s->flags & FWPM_SESSION_FLAG_DYNAMIC) ? s->id : 0;
}

static DWORD check_sd_param(PSECURITY_DESCRIPTOR sd)
{
    if (sd && !IsValidSecurityDescriptor(sd))
        return (DWORD)HRESULT_FROM_WIN32(ERROR_INVALID_SECURITY_DESCR);
    return ERROR_SUCCESS;
}

/* ---- sessions ---- */

/* Whether WFPEMU_RELOAD may replace the store: no transaction, no enumeration and no
 * dynamic session's objects would be lost (a long-lived non-dynamic session, such as the
 * service's change subscription, does not hold it back). */
static BOOL reload_safe(void)
{
    if (g_enums)
        return FALSE;
    for (Session *s = g_sessions; s; s = s->next)
        if (s->txn || dyn_of(s))
            return FALSE;
    return TRUE;
}

DWORD WINAPI FwpmEngineOpen0(const wchar_t *serverName, UINT32 authnService, SEC_WINNT_AUTH_IDENTITY_W *authIdentity,
                             const FWPM_SESSION0 *session, HANDLE *engineHandle)
{
    Call c;
    call_begin(&c, "FwpmEngineOpen0", NULL);
    arg(&c.args, "serverName");
    sb_json_wstr(&c.args, serverName);
    arg(&c.args, "authnService");
    sb_printf(&c.args, "%lu", (unsigned long)authnService);
    arg(&c.args, "authIdentity");
    sb_puts(&c.args, authIdentity ? "\"non-null\"" : "null");
    arg(&c.args, "session");
    js_session(&c.args, session);
    DWORD st;
    if (call_injected(&c, &st))
        return call_end(&c, st);
    if (g_openStatusSet)
        return call_end(&c, g_openStatus);
    if (!engineHandle)
        return call_end(&c, ERROR_INVALID_PARAMETER);
    /* DOC nf-fwpmu-fwpmengineopen0: serverName must be NULL; authnService RPC_C_AUTHN_WINNT
     * or RPC_C_AUTHN_DEFAULT. */
    if (serverName || (authnService != RPC_C_AUTHN_WINNT && authnService != RPC_C_AUTHN_DEFAULT))
        return call_end(&c, ERROR_INVALID_PARAMETER);
    if (!g_loaded) {
        g_store = store_new();
        st = persist_load(g_store, g_statePath);
        arg(&c.out, "stateLoaded");
        sb_puts(&c.out, st == ERROR_SUCCESS ? "true" : "false");
        if (st != ERROR_SUCCESS) {
            store_free(g_store);
            g_store = NULL;
            return call_end(&c, st);
        }
        g_loaded = TRUE;
    } else if (g_reload && reload_safe()) {
        Store *fresh = store_new();
        st = persist_load(fresh, g_statePath);
        arg(&c.out, "stateReloaded");
        sb_puts(&c.out, st == ERROR_SUCCESS ? "true" : "false");
        if (st != ERROR_SUCCESS) {
            store_free(fresh);
            return call_end(&c, st);
        }
        store_free(g_store);
        g_store = fresh;
    }
    Session *s = emu_alloc(sizeof *s);
    s->id = g_nextSession++;
    s->flags = session ? session->flags : 0;
    s->next = g_sessions;
    g_sessions = s;
    *engineHandle = (HANDLE)s;
    c.s = s;
    arg(&c.out, "handle");
    sb_printf(&c.out, "%llu", (unsigned long long)s->id);
    return call_end(&c, ERROR_SUCCESS);
}

static void free_enum(EnumH *e)
{
    for (UINT32 i = 0; i < e->n; i++)
        emu_free(e->items[i]);
    emu_free(e->items);
    emu_free(e);
}

DWORD WINAPI FwpmEngineClose0(HANDLE engineHandle)
{
    Call c;
    call_begin(&c, "FwpmEngineClose0", engineHandle);
    DWORD st;
    if (call_injected(&c, &st))
        return call_end(&c, st);
    Session *s = c.s;
    if (!s)
        return call_end(&c, ERROR_INVALID_HANDLE);
    if (s->txn) { /* closing the handle aborts an open transaction */
        store_free(s->txn);
        s->txn = NULL;
        arg(&c.out, "abortedTxn");
        sb_puts(&c.out, "true");
    }
    if (dyn_of(s))
        store_drop_session(g_store, dyn_of(s));
    for (EnumH **pe = &g_enums; *pe;) {
        if ((*pe)->s == s) {
            EnumH *e = *pe;
            *pe = e->next;
            free_enum(e);
        } else {
            pe = &(*pe)->next;
        }
    }
    for (Session **ps = &g_sessions; *ps; ps = &(*ps)->next) {
        if (*ps == s) {
            *ps = s->next;
            break;
        }
    }
    changes_session_closed((HANDLE)s);
    emu_free(s);
    c.s = NULL;
    arg(&c.out, "closedSession");
    sb_puts(&c.out, "true");
    st = call_end(&c, ERROR_SUCCESS);
    EnterCriticalSection(&g_lock);
    log_memory("EngineClose");
    LeaveCriticalSection(&g_lock);
    return st;
}

/* ---- transactions ---- */

DWORD WINAPI FwpmTransactionBegin0(HANDLE engineHandle, UINT32 flags)
{
    Call c;
    call_begin(&c, "FwpmTransactionBegin0", engineHandle);
    arg(&c.args, "flags");
    sb_printf(&c.args, "%lu", (unsigned long)flags);
    DWORD st;
    if (call_injected(&c, &st))
        return call_end(&c, st);
    if (!c.s)
        return call_end(&c, ERROR_INVALID_HANDLE);
    if (flags & ~(UINT32)FWPM_TXN_READ_ONLY)
        return call_end(&c, (DWORD)FWP_E_INVALID_FLAGS);
    if (c.s->txn)
        return call_end(&c, (DWORD)FWP_E_TXN_IN_PROGRESS);
    if (txn_holder())
        return call_end(&c, (DWORD)FWP_E_TIMEOUT);
    c.s->txn = store_clone(g_store);
    c.s->txnReadOnly = (flags & FWPM_TXN_READ_ONLY) != 0;
    return call_end(&c, ERROR_SUCCESS);
}

DWORD WINAPI FwpmTransactionCommit0(HANDLE engineHandle)
{
    Call c;
    call_begin(&c, "FwpmTransactionCommit0", engineHandle);
    DWORD st;
    if (call_injected(&c, &st))
        return call_end(&c, st);
    if (!c.s)
        return call_end(&c, ERROR_INVALID_HANDLE);
    if (!c.s->txn)
        return call_end(&c, (DWORD)FWP_E_NO_TXN_IN_PROGRESS);
    BOOL ro = c.s->txnReadOnly;
    if (ro) {
        store_free(c.s->txn);
    } else {
        store_free(g_store);
        g_store = c.s->txn;
    }
    c.s->txn = NULL;
    return call_end(&c, ro ? ERROR_SUCCESS : save_state(&c));
}

DWORD WINAPI FwpmTransactionAbort0(HANDLE engineHandle)
{
    Call c;
    call_begin(&c, "FwpmTransactionAbort0", engineHandle);
    DWORD st;
    if (call_injected(&c, &st))
        return call_end(&c, st);
    if (!c.s)
        return call_end(&c, ERROR_INVALID_HANDLE);
    if (!c.s->txn)
        return call_end(&c, (DWORD)FWP_E_NO_TXN_IN_PROGRESS);
    store_free(c.s->txn);
    c.s->txn = NULL;
    return call_end(&c, ERROR_SUCCESS);
}

/* ---- adds ---- */

DWORD WINAPI FwpmProviderAdd0(HANDLE engineHandle, const FWPM_PROVIDER0 *provider, PSECURITY_DESCRIPTOR sd)
{
    Call c;
    call_begin(&c, "FwpmProviderAdd0", engineHandle);
    arg(&c.args, "provider");
    js_provider(&c.args, provider);
    arg(&c.args, "sd");
    js_sd_param(&c.args, sd);
    DWORD st;
    Store *w;
    if (call_injected(&c, &st))
        return call_end(&c, st);
    if (!c.s)
        return call_end(&c, ERROR_INVALID_HANDLE);
    if (!provider)
        return call_end(&c, ERROR_INVALID_PARAMETER);
    if ((st = check_sd_param(sd)) || (st = write_store(c.s, &w)))
        return call_end(&c, st);
    st = store_add_provider(w, provider, dyn_of(c.s));
    return call_end(&c, implicit_commit(&c, st));
}

DWORD WINAPI FwpmSubLayerAdd0(HANDLE engineHandle, const FWPM_SUBLAYER0 *subLayer, PSECURITY_DESCRIPTOR sd)
{
    Call c;
    call_begin(&c, "FwpmSubLayerAdd0", engineHandle);
    arg(&c.args, "subLayer");
    js_sublayer(&c.args, subLayer);
    arg(&c.args, "sd");
    js_sd_param(&c.args, sd);
    DWORD st;
    Store *w;
    if (call_injected(&c, &st))
        return call_end(&c, st);
    if (!c.s)
        return call_end(&c, ERROR_INVALID_HANDLE);
    if (!subLayer)
        return call_end(&c, ERROR_INVALID_PARAMETER);
    if ((st = check_sd_param(sd)) || (st = write_store(c.s, &w)))
        return call_end(&c, st);
    st = store_add_sublayer(w, subLayer, dyn_of(c.s));
    return call_end(&c, implicit_commit(&c, st));
}

DWORD WINAPI FwpmFilterAdd0(HANDLE engineHandle, const FWPM_FILTER0 *filter, PSECURITY_DESCRIPTOR sd, UINT64 *id)
{
    Call c;
    call_begin(&c, "FwpmFilterAdd0", engineHandle);
    arg(&c.args, "filter");
    js_filter(&c.args, filter);
    arg(&c.args, "sd");
    js_sd_param(&c.args, sd);
    arg(&c.args, "idOut");
    sb_puts(&c.args, id ? "true" : "false");
    DWORD st;
    Store *w;
    if (call_injected(&c, &st))
        return call_end(&c, st);
    if (!c.s)
        return call_end(&c, ERROR_INVALID_HANDLE);
    if (!filter)
        return call_end(&c, ERROR_INVALID_PARAMETER);
    if ((st = check_sd_param(sd)) || (st = write_store(c.s, &w)))
        return call_end(&c, st);
    UINT64 newId = 0;
    st = store_add_filter(w, filter, dyn_of(c.s), &newId);
    if (st == ERROR_SUCCESS) {
        if (id)
            *id = newId;
        arg(&c.out, "id");
        sb_printf(&c.out, "%llu", (unsigned long long)newId);
    }
    return call_end(&c, implicit_commit(&c, st));
}

/* ---- deletes ---- */

typedef DWORD (*DeleteFn)(Store *, const GUID *, UINT64);

static DWORD delete_by_key(const char *fn, HANDLE engineHandle, const GUID *key, DeleteFn del)
{
    Call c;
    call_begin(&c, fn, engineHandle);
    arg(&c.args, "key");
    sb_guid(&c.args, key);
    DWORD st;
    Store *w;
    if (call_injected(&c, &st))
        return call_end(&c, st);
    if (!c.s)
        return call_end(&c, ERROR_INVALID_HANDLE);
    if (!key)
        return call_end(&c, ERROR_INVALID_PARAMETER);
    if ((st = write_store(c.s, &w)))
        return call_end(&c, st);
    st = del(w, key, dyn_of(c.s));
    return call_end(&c, implicit_commit(&c, st));
}

DWORD WINAPI FwpmProviderDeleteByKey0(HANDLE engineHandle, const GUID *key)
{
    return delete_by_key("FwpmProviderDeleteByKey0", engineHandle, key, store_delete_provider);
}

DWORD WINAPI FwpmSubLayerDeleteByKey0(HANDLE engineHandle, const GUID *key)
{
    return delete_by_key("FwpmSubLayerDeleteByKey0", engineHandle, key, store_delete_sublayer);
}

DWORD WINAPI FwpmFilterDeleteByKey0(HANDLE engineHandle, const GUID *key)
{
    return delete_by_key("FwpmFilterDeleteByKey0", engineHandle, key, store_delete_filter);
}

/* ---- security ---- */

/* Fwpm*SetSecurityInfoByKey0: "cannot be called from within an explicit transaction"
   (WFP, Access control); the code returned there is not documented, and this emulator
   answers FWP_E_TXN_IN_PROGRESS. It keeps no security descriptors: it checks the
   arguments, that the object exists, and logs what was asked — securityInfo and the
   DACL's bytes (AclSize of them, from the ACL header) — for the Wine tests. */
typedef int (*ExistsFn)(const Store *s, const GUID *key);
static int provider_exists(const Store *s, const GUID *k) { return store_provider(s, k) != NULL; }
static int sublayer_exists(const Store *s, const GUID *k) { return store_sublayer(s, k) != NULL; }
static int filter_exists(const Store *s, const GUID *k) { return store_filter(s, k) != NULL; }

static DWORD set_security(const char *fn, HANDLE engineHandle, const GUID *key, SECURITY_INFORMATION securityInfo,
                          const SID *sidOwner, const SID *sidGroup, const ACL *dacl, const ACL *sacl,
                          ExistsFn exists, DWORD notFound)
{
    Call c;
    call_begin(&c, fn, engineHandle);
    arg(&c.args, "key");
    sb_guid(&c.args, key);
    arg(&c.args, "securityInfo");
    sb_printf(&c.args, "%lu", (unsigned long)securityInfo);
    arg(&c.args, "owner");
    sb_puts(&c.args, sidOwner ? "true" : "false");
    arg(&c.args, "group");
    sb_puts(&c.args, sidGroup ? "true" : "false");
    arg(&c.args, "sacl");
    sb_puts(&c.args, sacl ? "true" : "false");
    arg(&c.args, "dacl");
    if (!dacl) {
        sb_puts(&c.args, "null");
    } else if (!IsValidAcl((PACL)dacl)) {
        sb_puts(&c.args, "{\"valid\":false}");
    } else {
        sb_puts(&c.args, "{\"valid\":true,\"bytes\":\"");
        sb_hex(&c.args, (const BYTE *)dacl, dacl->AclSize);
        sb_puts(&c.args, "\"}");
    }
    DWORD st;
    if (call_injected(&c, &st))
        return call_end(&c, st);
    if (!c.s)
        return call_end(&c, ERROR_INVALID_HANDLE);
    if (!key)
        return call_end(&c, ERROR_INVALID_PARAMETER);
    if (c.s->txn)
        return call_end(&c, (DWORD)FWP_E_TXN_IN_PROGRESS);
    if ((securityInfo & DACL_SECURITY_INFORMATION) && dacl && !IsValidAcl((PACL)dacl))
        return call_end(&c, ERROR_INVALID_ACL);
    if (txn_holder())
        return call_end(&c, (DWORD)FWP_E_TIMEOUT);
    if (!exists(g_store, key))
        return call_end(&c, notFound);
    return call_end(&c, ERROR_SUCCESS);
}

DWORD WINAPI FwpmProviderSetSecurityInfoByKey0(HANDLE engineHandle, const GUID *key, SECURITY_INFORMATION securityInfo,
                                               const SID *sidOwner, const SID *sidGroup, const ACL *dacl, const ACL *sacl)
{
    return set_security("FwpmProviderSetSecurityInfoByKey0", engineHandle, key, securityInfo, sidOwner, sidGroup, dacl,
                        sacl, provider_exists, (DWORD)FWP_E_PROVIDER_NOT_FOUND);
}

DWORD WINAPI FwpmSubLayerSetSecurityInfoByKey0(HANDLE engineHandle, const GUID *key, SECURITY_INFORMATION securityInfo,
                                               const SID *sidOwner, const SID *sidGroup, const ACL *dacl, const ACL *sacl)
{
    return set_security("FwpmSubLayerSetSecurityInfoByKey0", engineHandle, key, securityInfo, sidOwner, sidGroup, dacl,
                        sacl, sublayer_exists, (DWORD)FWP_E_SUBLAYER_NOT_FOUND);
}

DWORD WINAPI FwpmFilterSetSecurityInfoByKey0(HANDLE engineHandle, const GUID *key, SECURITY_INFORMATION securityInfo,
                                             const SID *sidOwner, const SID *sidGroup, const ACL *dacl, const ACL *sacl)
{
    return set_security("FwpmFilterSetSecurityInfoByKey0", engineHandle, key, securityInfo, sidOwner, sidGroup, dacl,
                        sacl, filter_exists, (DWORD)FWP_E_FILTER_NOT_FOUND);
}

/* ---- gets ---- */

DWORD WINAPI FwpmProviderGetByKey0(HANDLE engineHandle, const GUID *key, FWPM_PROVIDER0 **provider)
{
    Call c;
    call_begin(&c, "FwpmProviderGetByKey0", engineHandle);
    arg(&c.args, "key");
    sb_guid(&c.args, key);
    DWORD st;
    if (call_injected(&c, &st))
        return call_end(&c, st);
    if (!c.s)
        return call_end(&c, ERROR_INVALID_HANDLE);
    if (!key || !provider)
        return call_end(&c, ERROR_INVALID_PARAMETER);
    const FWPM_PROVIDER0 *p = store_provider(read_store(c.s), key);
    if (!p)
        return call_end(&c, (DWORD)FWP_E_PROVIDER_NOT_FOUND);
    *provider = out_provider(p);
    arg(&c.out, "provider");
    js_provider(&c.out, p);
    return call_end(&c, ERROR_SUCCESS);
}

DWORD WINAPI FwpmSubLayerGetByKey0(HANDLE engineHandle, const GUID *key, FWPM_SUBLAYER0 **subLayer)
{
    Call c;
    call_begin(&c, "FwpmSubLayerGetByKey0", engineHandle);
    arg(&c.args, "key");
    sb_guid(&c.args, key);
    DWORD st;
    if (call_injected(&c, &st))
        return call_end(&c, st);
    if (!c.s)
        return call_end(&c, ERROR_INVALID_HANDLE);
    if (!key || !subLayer)
        return call_end(&c, ERROR_INVALID_PARAMETER);
    const FWPM_SUBLAYER0 *sl = store_sublayer(read_store(c.s), key);
    if (!sl)
        return call_end(&c, (DWORD)FWP_E_SUBLAYER_NOT_FOUND);
    *subLayer = out_sublayer(sl);
    arg(&c.out, "subLayer");
    js_sublayer(&c.out, sl);
    return call_end(&c, ERROR_SUCCESS);
}

static DWORD filter_get(Call *c, const FWPM_FILTER0 *f, FWPM_FILTER0 **out)
{
    if (!f)
        return call_end(c, (DWORD)FWP_E_FILTER_NOT_FOUND);
    *out = out_filter(f);
    arg(&c->out, "filter");
    js_filter(&c->out, f);
    return call_end(c, ERROR_SUCCESS);
}

DWORD WINAPI FwpmFilterGetByKey0(HANDLE engineHandle, const GUID *key, FWPM_FILTER0 **filter)
{
    Call c;
    call_begin(&c, "FwpmFilterGetByKey0", engineHandle);
    arg(&c.args, "key");
    sb_guid(&c.args, key);
    DWORD st;
    if (call_injected(&c, &st))
        return call_end(&c, st);
    if (!c.s)
        return call_end(&c, ERROR_INVALID_HANDLE);
    if (!key || !filter)
        return call_end(&c, ERROR_INVALID_PARAMETER);
    return filter_get(&c, store_filter(read_store(c.s), key), filter);
}

DWORD WINAPI FwpmFilterGetById0(HANDLE engineHandle, UINT64 id, FWPM_FILTER0 **filter)
{
    Call c;
    call_begin(&c, "FwpmFilterGetById0", engineHandle);
    arg(&c.args, "id");
    sb_printf(&c.args, "%llu", (unsigned long long)id);
    DWORD st;
    if (call_injected(&c, &st))
        return call_end(&c, st);
    if (!c.s)
        return call_end(&c, ERROR_INVALID_HANDLE);
    if (!filter)
        return call_end(&c, ERROR_INVALID_PARAMETER);
    return filter_get(&c, store_filter_by_id(read_store(c.s), id), filter);
}

/* ---- enumeration ---- */

static EnumH *new_enum(Session *s, int kind)
{
    EnumH *e = emu_alloc(sizeof *e);
    e->id = g_nextEnum++;
    e->s = s;
    e->kind = kind;
    e->next = g_enums;
    g_enums = e;
    return e;
}

static void enum_push(EnumH *e, void *item, UINT32 cap)
{
    if (!e->items)
        e->items = emu_alloc((cap ? cap : 1) * sizeof *e->items);
    e->items[e->n++] = item;
}

static EnumH *find_enum(Session *s, HANDLE h, int kind)
{
    for (EnumH *e = g_enums; e; e = e->next)
        if ((HANDLE)e == h && e->s == s && e->kind == kind)
            return e;
    return NULL;
}

static DWORD enum_created(Call *c, EnumH *e, HANDLE *enumHandle)
{
    *enumHandle = (HANDLE)e;
    arg(&c->out, "enumHandle");
    sb_printf(&c->out, "%llu", (unsigned long long)e->id);
    arg(&c->out, "snapshot");
    sb_printf(&c->out, "%lu", (unsigned long)e->n);
    return call_end(c, ERROR_SUCCESS);
}

DWORD WINAPI FwpmProviderCreateEnumHandle0(HANDLE engineHandle, const FWPM_PROVIDER_ENUM_TEMPLATE0 *enumTemplate,
                                           HANDLE *enumHandle)
{
    Call c;
    call_begin(&c, "FwpmProviderCreateEnumHandle0", engineHandle);
    arg(&c.args, "template");
    sb_puts(&c.args, enumTemplate ? "{}" : "null");
    DWORD st;
    if (call_injected(&c, &st))
        return call_end(&c, st);
    if (!c.s)
        return call_end(&c, ERROR_INVALID_HANDLE);
    if (!enumHandle)
        return call_end(&c, ERROR_INVALID_PARAMETER);
    Store *r = read_store(c.s);
    EnumH *e = new_enum(c.s, ENUM_PROVIDER);
    for (UINT32 i = 0; i < r->prov.n; i++)
        enum_push(e, dup_provider(r->prov.v[i].obj), r->prov.n);
    return enum_created(&c, e, enumHandle);
}

DWORD WINAPI FwpmSubLayerCreateEnumHandle0(HANDLE engineHandle, const FWPM_SUBLAYER_ENUM_TEMPLATE0 *enumTemplate,
                                           HANDLE *enumHandle)
{
    Call c;
    call_begin(&c, "FwpmSubLayerCreateEnumHandle0", engineHandle);
    arg(&c.args, "template");
    if (enumTemplate) {
        sb_puts(&c.args, "{\"providerKey\":");
        sb_guid(&c.args, enumTemplate->providerKey);
        sb_putc(&c.args, '}');
    } else {
        sb_puts(&c.args, "null");
    }
    DWORD st;
    if (call_injected(&c, &st))
        return call_end(&c, st);
    if (!c.s)
        return call_end(&c, ERROR_INVALID_HANDLE);
    if (!enumHandle)
        return call_end(&c, ERROR_INVALID_PARAMETER);
    Store *r = read_store(c.s);
    EnumH *e = new_enum(c.s, ENUM_SUBLAYER);
    for (UINT32 i = 0; i < r->sub.n; i++) {
        const FWPM_SUBLAYER0 *sl = r->sub.v[i].obj;
        if (enumTemplate && enumTemplate->providerKey &&
            (!sl->providerKey || !guid_eq(sl->providerKey, enumTemplate->providerKey)))
            continue;
        enum_push(e, dup_sublayer(sl), r->sub.n);
    }
    return enum_created(&c, e, enumHandle);
}

DWORD WINAPI FwpmFilterCreateEnumHandle0(HANDLE engineHandle, const FWPM_FILTER_ENUM_TEMPLATE0 *enumTemplate,
                                         HANDLE *enumHandle)
{
    Call c;
    call_begin(&c, "FwpmFilterCreateEnumHandle0", engineHandle);
    arg(&c.args, "template");
    js_filter_template(&c.args, enumTemplate);
    DWORD st;
    if (call_injected(&c, &st))
        return call_end(&c, st);
    if (!c.s)
        return call_end(&c, ERROR_INVALID_HANDLE);
    if (!enumHandle)
        return call_end(&c, ERROR_INVALID_PARAMETER);
    const FWPM_FILTER_ENUM_TEMPLATE0 *t = enumTemplate;
    if (t && !guid_is_zero(&t->layerKey) && !emu_layer(&t->layerKey))
        return call_end(&c, (DWORD)FWP_E_LAYER_NOT_FOUND);
    if (t && t->numFilterConditions) {
        /* Condition templates are not emulated; refuse rather than answer wrongly. */
        return call_end(&c, ERROR_NOT_SUPPORTED);
    }
    if (t && guid_is_zero(&t->layerKey)) {
        /* What WFP does with a zero layerKey is undocumented (wfp-facts.md §10.5); the
         * emulator enumerates all layers and says so. */
        arg(&c.out, "note");
        sb_puts(&c.out, "\"zero layerKey treated as all layers (undocumented on Windows)\"");
    }
    Store *r = read_store(c.s);
    EnumH *e = new_enum(c.s, ENUM_FILTER);
    for (UINT32 i = 0; i < r->filt.n; i++) {
        const FWPM_FILTER0 *f = r->filt.v[i].obj;
        if (t) {
            if (t->providerKey && (!f->providerKey || !guid_eq(f->providerKey, t->providerKey)))
                continue;
            if (!guid_is_zero(&t->layerKey) && !guid_eq(&t->layerKey, &f->layerKey))
                continue;
            /* "only filters whose action type contains at least one of the bits" (DOC
             * ns-fwpmtypes-fwpm_filter_enum_template0): actionMask 0 matches nothing. */
            if ((f->action.type & t->actionMask) == 0)
                continue;
        }
        enum_push(e, dup_filter(f), r->filt.n);
    }
    return enum_created(&c, e, enumHandle);
}

typedef void *(*OutFn)(const void *);

static DWORD enum_next(const char *fn, int kind, HANDLE engineHandle, HANDLE enumHandle, UINT32 numEntriesRequested,
                       void ***entries, UINT32 *numEntriesReturned)
{
    Call c;
    call_begin(&c, fn, engineHandle);
    arg(&c.args, "numEntriesRequested");
    sb_printf(&c.args, "%lu", (unsigned long)numEntriesRequested);
    DWORD st;
    if (call_injected(&c, &st))
        return call_end(&c, st);
    if (!c.s)
        return call_end(&c, ERROR_INVALID_HANDLE);
    if (!entries || !numEntriesReturned)
        return call_end(&c, ERROR_INVALID_PARAMETER);
    EnumH *e = find_enum(c.s, enumHandle, kind);
    if (!e)
        return call_end(&c, (DWORD)FWP_E_INVALID_ENUMERATOR);
    UINT32 k = e->n - e->pos;
    if (k > numEntriesRequested)
        k = numEntriesRequested;
    *entries = NULL;
    *numEntriesReturned = k;
    arg(&c.out, "returned");
    sb_printf(&c.out, "%lu", (unsigned long)k);
    arg(&c.out, "keys");
    sb_putc(&c.out, '[');
    if (k) {
        Bump m = {0};
        bump(&m, k * sizeof(void *), 8);
        for (UINT32 i = 0; i < k; i++) {
            void *item = e->items[e->pos + i];
            if (kind == ENUM_PROVIDER)
                bump_provider(&m, item);
            else if (kind == ENUM_SUBLAYER)
                bump_sublayer(&m, item);
            else
                bump_filter(&m, item);
        }
        Bump w = {out_alloc(m.off), 0};
        void **arr = bump(&w, k * sizeof(void *), 8);
        for (UINT32 i = 0; i < k; i++) {
            void *item = e->items[e->pos + i];
            const GUID *key;
            if (kind == ENUM_PROVIDER) {
                arr[i] = bump_provider(&w, item);
                key = &((FWPM_PROVIDER0 *)item)->providerKey;
            } else if (kind == ENUM_SUBLAYER) {
                arr[i] = bump_sublayer(&w, item);
                key = &((FWPM_SUBLAYER0 *)item)->subLayerKey;
            } else {
                arr[i] = bump_filter(&w, item);
                key = &((FWPM_FILTER0 *)item)->filterKey;
            }
            if (i)
                sb_putc(&c.out, ',');
            sb_guid(&c.out, key);
        }
        *entries = arr;
        e->pos += k;
    }
    sb_putc(&c.out, ']');
    return call_end(&c, ERROR_SUCCESS);
}

DWORD WINAPI FwpmProviderEnum0(HANDLE engineHandle, HANDLE enumHandle, UINT32 numEntriesRequested,
                               FWPM_PROVIDER0 ***entries, UINT32 *numEntriesReturned)
{
    return enum_next("FwpmProviderEnum0", ENUM_PROVIDER, engineHandle, enumHandle, numEntriesRequested,
                     (void ***)entries, numEntriesReturned);
}

DWORD WINAPI FwpmSubLayerEnum0(HANDLE engineHandle, HANDLE enumHandle, UINT32 numEntriesRequested,
                               FWPM_SUBLAYER0 ***entries, UINT32 *numEntriesReturned)
{
    return enum_next("FwpmSubLayerEnum0", ENUM_SUBLAYER, engineHandle, enumHandle, numEntriesRequested,
                     (void ***)entries, numEntriesReturned);
}

DWORD WINAPI FwpmFilterEnum0(HANDLE engineHandle, HANDLE enumHandle, UINT32 numEntriesRequested,
                             FWPM_FILTER0 ***entries, UINT32 *numEntriesReturned)
{
    return enum_next("FwpmFilterEnum0", ENUM_FILTER, engineHandle, enumHandle, numEntriesRequested, (void ***)entries,
                     numEntriesReturned);
}

static DWORD destroy_enum(const char *fn, int kind, HANDLE engineHandle, HANDLE enumHandle)
{
    Call c;
    call_begin(&c, fn, engineHandle);
    DWORD st;
    if (call_injected(&c, &st))
        return call_end(&c, st);
    if (!c.s)
        return call_end(&c, ERROR_INVALID_HANDLE);
    EnumH *e = find_enum(c.s, enumHandle, kind);
    if (!e)
        return call_end(&c, (DWORD)FWP_E_INVALID_ENUMERATOR);
    arg(&c.args, "enumHandle");
    sb_printf(&c.args, "%llu", (unsigned long long)e->id);
    for (EnumH **pe = &g_enums; *pe; pe = &(*pe)->next) {
        if (*pe == e) {
            *pe = e->next;
            break;
        }
    }
    free_enum(e);
    return call_end(&c, ERROR_SUCCESS);
}

DWORD WINAPI FwpmProviderDestroyEnumHandle0(HANDLE engineHandle, HANDLE enumHandle)
{
    return destroy_enum("FwpmProviderDestroyEnumHandle0", ENUM_PROVIDER, engineHandle, enumHandle);
}

DWORD WINAPI FwpmSubLayerDestroyEnumHandle0(HANDLE engineHandle, HANDLE enumHandle)
{
    return destroy_enum("FwpmSubLayerDestroyEnumHandle0", ENUM_SUBLAYER, engineHandle, enumHandle);
}

DWORD WINAPI FwpmFilterDestroyEnumHandle0(HANDLE engineHandle, HANDLE enumHandle)
{
    return destroy_enum("FwpmFilterDestroyEnumHandle0", ENUM_FILTER, engineHandle, enumHandle);
}

/* ---- memory ---- */

void WINAPI FwpmFreeMemory0(void **p)
{
    Call c;
    call_begin(&c, "FwpmFreeMemory0", NULL);
    arg(&c.args, "p");
    sb_puts(&c.args, !p ? "null" : !*p ? "\"*p == NULL\"" : "\"non-null\"");
    DWORD st = ERROR_SUCCESS;
    if (p && *p) {
        size_t i = 0;
        while (i < g_nout && g_out[i] != *p)
            i++;
        if (i == g_nout && netev_owns(*p)) {
            /* A net event page (netevents.c). It is left allocated: netevents.c keeps its
             * list of pages, and a test DLL can afford the few kilobytes. */
            arg(&c.out, "netEventPage");
            sb_puts(&c.out, "true");
            *p = NULL;
        } else if (i == g_nout) {
            /* Not a block this DLL returned (e.g. an enum entry instead of the array). */
            g_badFrees++;
            st = ERROR_INVALID_PARAMETER;
            arg(&c.out, "error");
            sb_puts(&c.out, "\"pointer was not returned by fwpuclnt (free the array, not its entries)\"");
        } else {
            emu_free(*p);
            g_out[i] = g_out[--g_nout];
            g_frees++;
            *p = NULL;
        }
    }
    call_end(&c, st);
}

/* ---- for changes.c ---- */

DWORD emu_call_check(const char *fn, HANDLE engine, BOOL *injected, BOOL *inTxn)
{
    Call c;
    call_begin(&c, fn, engine);
    DWORD st = ERROR_SUCCESS;
    *injected = call_injected(&c, &st);
    *inTxn = c.s && c.s->txn;
    if (!*injected && engine && !c.s)
        st = ERROR_INVALID_HANDLE;
    LeaveCriticalSection(&g_lock);
    return st;
}

void emu_call_log(const char *fn, HANDLE engine, DWORD st, BOOL injected, const char *args, const char *out)
{
    Call c;
    call_begin(&c, fn, engine);
    c.injected = injected;
    if (args)
        sb_puts(&c.args, args);
    if (out)
        sb_puts(&c.out, out);
    call_end(&c, st);
}

Store *emu_committed_clone(void)
{
    EnterCriticalSection(&g_lock);
    Store *c = g_loaded ? store_clone(g_store) : NULL;
    LeaveCriticalSection(&g_lock);
    return c;
}

const WCHAR *emu_state_path(void)
{
    EnterCriticalSection(&g_lock);
    configure();
    LeaveCriticalSection(&g_lock);
    return g_statePath;
}

/* ---- process ---- */

BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved)
{
    (void)inst;
    (void)reserved;
    if (reason == DLL_PROCESS_ATTACH) {
        InitializeCriticalSection(&g_lock);
    } else if (reason == DLL_PROCESS_DETACH) {
        /* At process exit other threads are gone and may have died holding the lock. */
        BOOL locked = TryEnterCriticalSection(&g_lock);
        if (g_configured)
            log_memory("ProcessExit");
        if (locked)
            LeaveCriticalSection(&g_lock);
    }
    return TRUE;
}
