/*
 * Change notifications: FwpmFilterSubscribeChanges0, FwpmSubLayerSubscribeChanges0,
 * FwpmProviderSubscribeChanges0 and their Unsubscribe counterparts, each logged in the
 * call log like every other call (api.c's emu_call_log).
 *
 * Emulation, not WFP's mechanism. One BFE serves every process on Windows; here each
 * process has its own store and the persistent objects live in the state file
 * (persist.c). So a subscription is a watcher thread that, every WATCH_MS, builds a
 * view — the state file's objects (every process's committed persistent objects) plus
 * the non-persistent objects of this process's committed store (api.c), which no other
 * process can have — keeps the objects its template matches, diffs them by key with the
 * previous view and calls the callback for each difference: deletes (filters, sublayers,
 * providers), then adds (providers, sublayers, filters), each in key order; a filter
 * whose ID changed under the same key is a delete and an add. The state file is read
 * only when its size or write time changed, opened with every share mode so that a
 * writer's replace of it never fails because of the watcher. Consequences:
 *   - changes are seen up to WATCH_MS late, and several changes of one interval are
 *     reported as the net difference (an add and delete of the same object in one
 *     interval is not reported at all);
 *   - unlike WFP ("Subscribers do not receive notifications for changes made with the same
 *     session handle used to subscribe"), the subscribing session's own changes are
 *     reported too: the view does not say who made a change;
 *   - only committed changes are seen (a transaction works on a copy until it commits).
 * Like WFP: FWP_E_TXN_IN_PROGRESS inside a transaction (DOC nf-fwpmu-fwpm*subscribechanges0,
 * nf-fwpmu-fwpm*unsubscribechanges0), Unsubscribe waits for a callback in progress, and the
 * session's close ends its subscriptions.
 *
 * Templates: a filter template's providerKey, a non-zero layerKey and actionMask are
 * honoured (a zero layerKey matches every layer: what WFP does with it is not documented);
 * its other members are ignored. A sublayer template's providerKey is honoured. The
 * provider template has only a reserved member: every provider matches.
 *
 * Argument checks: a NULL engineHandle, subscription, callback or changeHandle is
 * ERROR_INVALID_PARAMETER; a handle that names no session, or a change handle that names
 * no subscription of this kind, ERROR_INVALID_HANDLE; flags other than
 * FWPM_SUBSCRIPTION_FLAG_NOTIFY_ON_ADD | _ON_DELETE, FWP_E_INVALID_FLAGS.
 */
#include "emu.h"

#include <stdio.h>

#define WATCH_MS 100

#ifndef FWPM_SUBSCRIPTION_FLAG_NOTIFY_ON_ADD
#define FWPM_SUBSCRIPTION_FLAG_NOTIFY_ON_ADD 0x00000001
#endif
#ifndef FWPM_SUBSCRIPTION_FLAG_NOTIFY_ON_DELETE
#define FWPM_SUBSCRIPTION_FLAG_NOTIFY_ON_DELETE 0x00000002
#endif

enum { K_FILTER, K_SUBLAYER, K_PROVIDER };

static const char *const subscribeFn[] = {"FwpmFilterSubscribeChanges0", "FwpmSubLayerSubscribeChanges0",
                                          "FwpmProviderSubscribeChanges0"};
static const char *const unsubscribeFn[] = {"FwpmFilterUnsubscribeChanges0", "FwpmSubLayerUnsubscribeChanges0",
                                            "FwpmProviderUnsubscribeChanges0"};

/* One object of a view: its key and, for filters, its ID. */
typedef struct {
    GUID key;
    UINT64 id;
} Item;

typedef struct {
    Item *v;
    UINT32 n, cap;
} Items;

typedef struct Sub {
    struct Sub *next;
    int kind;
    HANDLE engine;
    UINT32 flags;
    BOOL hasProvider, hasLayer;
    GUID provider, layer;
    UINT32 actionMask;
    void *callback, *context;
    Items last;
    HANDLE stop, thread;
    BOOL detached; /* the session closed: the thread frees the Sub when it ends */
    /* The state file as last read, and when. */
    Store *file;
    FILETIME fileTime;
    DWORD fileSize;
    BOOL fileSeen;
} Sub;

static CRITICAL_SECTION g_subLock;
static INIT_ONCE g_subInit = INIT_ONCE_STATIC_INIT;
static Sub *g_subs;

static BOOL CALLBACK init_lock(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
    (void)once;
    (void)param;
    (void)ctx;
    InitializeCriticalSection(&g_subLock);
    return TRUE;
}

static void lock(void)
{
    InitOnceExecuteOnce(&g_subInit, init_lock, NULL, NULL);
    EnterCriticalSection(&g_subLock);
}

static void unlock(void)
{
    LeaveCriticalSection(&g_subLock);
}

/* ---- views ---- */

static void items_add(Items *it, const GUID *key, UINT64 id)
{
    if (it->n == it->cap) {
        UINT32 cap = it->cap ? 2 * it->cap : 32;
        Item *v = emu_alloc(cap * sizeof *v);
        if (it->v) {
            memcpy(v, it->v, it->n * sizeof *v);
            emu_free(it->v);
        }
        it->v = v;
        it->cap = cap;
    }
    it->v[it->n].key = *key;
    it->v[it->n].id = id;
    it->n++;
}

static const Item *items_find(const Items *it, const GUID *key)
{
    for (UINT32 i = 0; i < it->n; i++)
        if (guid_eq(&it->v[i].key, key))
            return &it->v[i];
    return NULL;
}

static int item_cmp(const void *a, const void *b)
{
    return memcmp(&((const Item *)a)->key, &((const Item *)b)->key, sizeof(GUID));
}

static BOOL provider_is(const GUID *p, const Sub *s)
{
    return !s->hasProvider || (p && guid_eq(p, &s->provider));
}

/* Adds the objects of st that s's template matches; persistent says which ones to take
 * (TRUE: only persistent, FALSE: only non-persistent). */
static void view_add(Items *out, const Sub *s, const Store *st, BOOL persistent)
{
    if (!st)
        return;
    if (s->kind == K_FILTER) {
        for (UINT32 i = 0; i < st->filt.n; i++) {
            const FWPM_FILTER0 *f = st->filt.v[i].obj;
            if (!!(f->flags & FWPM_FILTER_FLAG_PERSISTENT) != persistent || !provider_is(f->providerKey, s))
                continue;
            if (s->hasLayer && !guid_eq(&f->layerKey, &s->layer))
                continue;
            if (!(f->action.type & s->actionMask))
                continue;
            items_add(out, &f->filterKey, f->filterId);
        }
    } else if (s->kind == K_SUBLAYER) {
        for (UINT32 i = 0; i < st->sub.n; i++) {
            const FWPM_SUBLAYER0 *sl = st->sub.v[i].obj;
            if (!!(emu_sublayer_flags(sl) & FWPM_SUBLAYER_FLAG_PERSISTENT) != persistent || !provider_is(sl->providerKey, s))
                continue;
            items_add(out, &sl->subLayerKey, 0);
        }
    } else {
        for (UINT32 i = 0; i < st->prov.n; i++) {
            const FWPM_PROVIDER0 *p = st->prov.v[i].obj;
            if (!!(p->flags & FWPM_PROVIDER_FLAG_PERSISTENT) != persistent)
                continue;
            items_add(out, &p->providerKey, 0);
        }
    }
}

/* Reads the state file again when it changed since the last read. A file that cannot be
 * read or parsed now (being replaced) keeps the last view. */
static void refresh_file(Sub *s)
{
    const WCHAR *path = emu_state_path();
    WIN32_FILE_ATTRIBUTE_DATA a;
    if (!GetFileAttributesExW(path, GetFileExInfoStandard, &a)) {
        DWORD e = GetLastError();
        if (e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND) { /* no file: nothing persistent */
            store_free(s->file);
            s->file = store_new();
            s->fileSeen = FALSE;
        }
        return;
    }
    if (s->fileSeen && s->file && CompareFileTime(&a.ftLastWriteTime, &s->fileTime) == 0 &&
        a.nFileSizeLow == s->fileSize)
        return;
    HANDLE h = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return;
    DWORD size = GetFileSize(h, NULL), got = 0;
    char *text = emu_alloc((SIZE_T)size + 1);
    BOOL ok = ReadFile(h, text, size, &got, NULL) && got == size;
    CloseHandle(h);
    if (!ok) {
        emu_free(text);
        return;
    }
    Store *fresh = store_new();
    if (persist_parse(fresh, text) != ERROR_SUCCESS) {
        store_free(fresh);
        return;
    }
    store_free(s->file);
    s->file = fresh;
    s->fileTime = a.ftLastWriteTime;
    s->fileSize = a.nFileSizeLow;
    s->fileSeen = TRUE;
}

static Items view(Sub *s)
{
    Items out = {0};
    refresh_file(s);
    view_add(&out, s, s->file, TRUE);
    Store *mine = emu_committed_clone();
    view_add(&out, s, mine, FALSE);
    store_free(mine);
    if (out.n)
        qsort(out.v, out.n, sizeof *out.v, item_cmp);
    return out;
}

/* ---- delivery ---- */

static void notify(Sub *s, FWPM_CHANGE_TYPE type, const Item *it)
{
    if (s->kind == K_FILTER) {
        FWPM_FILTER_CHANGE0 c = {type, it->key, it->id};
        ((FWPM_FILTER_CHANGE_CALLBACK0)s->callback)(s->context, &c);
    } else if (s->kind == K_SUBLAYER) {
        FWPM_SUBLAYER_CHANGE0 c = {type, it->key};
        ((FWPM_SUBLAYER_CHANGE_CALLBACK0)s->callback)(s->context, &c);
    } else {
        FWPM_PROVIDER_CHANGE0 c = {type, it->key};
        ((FWPM_PROVIDER_CHANGE_CALLBACK0)s->callback)(s->context, &c);
    }
}

static BOOL stopped(Sub *s)
{
    return WaitForSingleObject(s->stop, 0) == WAIT_OBJECT_0;
}

static DWORD WINAPI watch(LPVOID param)
{
    Sub *s = param;
    while (WaitForSingleObject(s->stop, WATCH_MS) == WAIT_TIMEOUT) {
        Items now = view(s);
        if (s->flags & FWPM_SUBSCRIPTION_FLAG_NOTIFY_ON_DELETE)
            for (UINT32 i = 0; i < s->last.n && !stopped(s); i++) {
                const Item *n = items_find(&now, &s->last.v[i].key);
                if (!n || n->id != s->last.v[i].id)
                    notify(s, FWPM_CHANGE_DELETE, &s->last.v[i]);
            }
        if (s->flags & FWPM_SUBSCRIPTION_FLAG_NOTIFY_ON_ADD)
            for (UINT32 i = 0; i < now.n && !stopped(s); i++) {
                const Item *o = items_find(&s->last, &now.v[i].key);
                if (!o || o->id != now.v[i].id)
                    notify(s, FWPM_CHANGE_ADD, &now.v[i]);
            }
        emu_free(s->last.v);
        s->last = now;
    }
    lock();
    BOOL detached = s->detached;
    unlock();
    if (detached) { /* nobody waits for this thread: it frees what it owns */
        CloseHandle(s->thread);
        CloseHandle(s->stop);
        emu_free(s->last.v);
        store_free(s->file);
        emu_free(s);
    }
    return 0;
}

/* ---- the exported functions ---- */

static DWORD subscribe(int kind, HANDLE engine, const void *subscription, void *callback, void *context,
                       HANDLE *changeHandle)
{
    const char *fn = subscribeFn[kind];
    BOOL injected = FALSE, inTxn = FALSE;
    DWORD st = emu_call_check(fn, engine, &injected, &inTxn);
    Sb args = {0}, out = {0};
    UINT32 flags = 0;
    /* FWPM_{FILTER,SUBLAYER,PROVIDER}_SUBSCRIPTION0 begin alike: enumTemplate, flags, sessionKey. */
    const FWPM_SUBLAYER_SUBSCRIPTION0 *common = subscription;
    if (common) {
        flags = common->flags;
        sb_printf(&args, "\"flags\":%lu,\"sessionKey\":", (unsigned long)flags);
        sb_guid(&args, &common->sessionKey);
        sb_puts(&args, ",\"enumTemplate\":");
        if (!common->enumTemplate) {
            sb_puts(&args, "null");
        } else if (kind == K_FILTER) {
            js_filter_template(&args, ((const FWPM_FILTER_SUBSCRIPTION0 *)subscription)->enumTemplate);
        } else if (kind == K_SUBLAYER) {
            sb_puts(&args, "{\"providerKey\":");
            sb_guid(&args, common->enumTemplate->providerKey);
            sb_puts(&args, "}");
        } else {
            sb_puts(&args, "\"non-null\"");
        }
    } else {
        sb_puts(&args, "\"subscription\":null");
    }
    if (st == ERROR_SUCCESS) {
        if (!engine || !subscription || !callback || !changeHandle)
            st = ERROR_INVALID_PARAMETER;
        else if (inTxn)
            st = (DWORD)FWP_E_TXN_IN_PROGRESS;
        else if (flags & ~(UINT32)(FWPM_SUBSCRIPTION_FLAG_NOTIFY_ON_ADD | FWPM_SUBSCRIPTION_FLAG_NOTIFY_ON_DELETE))
            st = (DWORD)FWP_E_INVALID_FLAGS;
    }
    if (st != ERROR_SUCCESS) {
        emu_call_log(fn, engine, st, injected, args.p, NULL);
        sb_free(&args);
        return st;
    }
    Sub *s = emu_alloc(sizeof *s);
    s->kind = kind;
    s->engine = engine;
    s->flags = flags;
    s->callback = callback;
    s->context = context;
    s->actionMask = 0xFFFFFFFF;
    if (kind == K_FILTER && common->enumTemplate) {
        const FWPM_FILTER_ENUM_TEMPLATE0 *t = ((const FWPM_FILTER_SUBSCRIPTION0 *)subscription)->enumTemplate;
        if (t->providerKey) {
            s->hasProvider = TRUE;
            s->provider = *t->providerKey;
        }
        if (!guid_is_zero(&t->layerKey)) {
            s->hasLayer = TRUE;
            s->layer = t->layerKey;
        }
        s->actionMask = t->actionMask;
    } else if (kind == K_SUBLAYER && common->enumTemplate && common->enumTemplate->providerKey) {
        s->hasProvider = TRUE;
        s->provider = *common->enumTemplate->providerKey;
    }
    s->last = view(s); /* what exists now is no change */
    s->stop = CreateEventW(NULL, TRUE, FALSE, NULL);
    lock();
    s->next = g_subs;
    g_subs = s;
    unlock();
    s->thread = CreateThread(NULL, 0, watch, s, 0, NULL);
    *changeHandle = (HANDLE)s;
    sb_printf(&out, "\"objects\":%lu", (unsigned long)s->last.n);
    emu_call_log(fn, engine, ERROR_SUCCESS, FALSE, args.p, out.p);
    sb_free(&args);
    sb_free(&out);
    return ERROR_SUCCESS;
}

static DWORD unsubscribe(int kind, HANDLE engine, HANDLE changeHandle)
{
    const char *fn = unsubscribeFn[kind];
    BOOL injected = FALSE, inTxn = FALSE;
    DWORD st = emu_call_check(fn, engine, &injected, &inTxn);
    if (st == ERROR_SUCCESS) {
        if (!engine)
            st = ERROR_INVALID_PARAMETER;
        else if (inTxn)
            st = (DWORD)FWP_E_TXN_IN_PROGRESS;
    }
    Sub *s = NULL;
    if (st == ERROR_SUCCESS) {
        lock();
        Sub **pp = &g_subs;
        while (*pp && ((HANDLE)*pp != changeHandle || (*pp)->kind != kind || (*pp)->engine != engine))
            pp = &(*pp)->next;
        s = *pp;
        if (s)
            *pp = s->next;
        unlock();
        if (!s)
            st = ERROR_INVALID_HANDLE;
    }
    if (s) { /* stop, and wait for a callback in progress, as WFP does */
        SetEvent(s->stop);
        WaitForSingleObject(s->thread, INFINITE);
        CloseHandle(s->thread);
        CloseHandle(s->stop);
        emu_free(s->last.v);
        store_free(s->file);
        emu_free(s);
    }
    emu_call_log(fn, engine, st, injected, NULL, NULL);
    return st;
}

void changes_session_closed(HANDLE engine)
{
    lock();
    for (Sub **pp = &g_subs; *pp;) {
        Sub *s = *pp;
        if (s->engine == engine) {
            *pp = s->next;
            s->detached = TRUE;
            SetEvent(s->stop);
        } else {
            pp = &s->next;
        }
    }
    unlock();
}

DWORD WINAPI FwpmFilterSubscribeChanges0(HANDLE engineHandle, const FWPM_FILTER_SUBSCRIPTION0 *subscription,
                                         FWPM_FILTER_CHANGE_CALLBACK0 callback, void *context, HANDLE *changeHandle)
{
    return subscribe(K_FILTER, engineHandle, subscription, (void *)callback, context, changeHandle);
}

DWORD WINAPI FwpmSubLayerSubscribeChanges0(HANDLE engineHandle, const FWPM_SUBLAYER_SUBSCRIPTION0 *subscription,
                                           FWPM_SUBLAYER_CHANGE_CALLBACK0 callback, void *context,
                                           HANDLE *changeHandle)
{
    return subscribe(K_SUBLAYER, engineHandle, subscription, (void *)callback, context, changeHandle);
}

DWORD WINAPI FwpmProviderSubscribeChanges0(HANDLE engineHandle, const FWPM_PROVIDER_SUBSCRIPTION0 *subscription,
                                           FWPM_PROVIDER_CHANGE_CALLBACK0 callback, void *context,
                                           HANDLE *changeHandle)
{
    return subscribe(K_PROVIDER, engineHandle, subscription, (void *)callback, context, changeHandle);
}

DWORD WINAPI FwpmFilterUnsubscribeChanges0(HANDLE engineHandle, HANDLE changeHandle)
{
    return unsubscribe(K_FILTER, engineHandle, changeHandle);
}

DWORD WINAPI FwpmSubLayerUnsubscribeChanges0(HANDLE engineHandle, HANDLE changeHandle)
{
    return unsubscribe(K_SUBLAYER, engineHandle, changeHandle);
}

DWORD WINAPI FwpmProviderUnsubscribeChanges0(HANDLE engineHandle, HANDLE changeHandle)
{
    return unsubscribe(K_PROVIDER, engineHandle, changeHandle);
}
