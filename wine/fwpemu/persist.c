/*
 * The state file: persistent providers, sublayers and filters, so that separate runs of
 * wfpsandbox.exe see what earlier runs committed (as BFE keeps them in the registry).
 *
 * Text, one object per line, space-separated tokens:
 *   wfpemu-state 1
 *   next <next filter id>
 *   P <key> <flags> <name> <description> <providerData> <serviceName>
 *   S <key> <flags> <providerKey> <name> <description> <providerData> <weight>
 *   F <key> <filterId> <flags> <providerKey> <name> <description> <providerData> <layerKey>
 *     <subLayerKey> <weight:V> <actionType> <calloutKey> <rawContext/providerContextKey:16 bytes hex>
 *     <effectiveWeight:V> <n> then n times <fieldKey> <matchType> <V>
 * Strings and blobs are "=" followed by hex bytes (UTF-16LE without terminator); "-" is NULL.
 * A value V is "<type>:<hex>" (scalars little-endian at their width, pointer types the
 * bytes pointed to); a range is "258:" followed by its low and high values.
 * FWP_TOKEN_INFORMATION_TYPE values are not saved (never used by persistent filters here).
 */
#include "emu.h"

#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

void store_insert_loaded_filter(Store *s, const FWPM_FILTER0 *f);

/* ---- writing ---- */

static void put_bytes(Sb *b, const void *p, size_t n)
{
    sb_puts(b, " =");
    if (p)
        sb_hex(b, p, n);
}

static void put_wstr(Sb *b, const WCHAR *s)
{
    if (!s)
        sb_puts(b, " -");
    else
        put_bytes(b, s, wcslen(s) * sizeof(WCHAR));
}

static void put_guid(Sb *b, const GUID *g)
{
    char s[37];
    if (!g) {
        sb_puts(b, " -");
        return;
    }
    guid_format(g, s);
    sb_putc(b, ' ');
    sb_puts(b, s);
}

static void put_value(Sb *b, const FWP_CONDITION_VALUE0 *v)
{
    sb_printf(b, " %u:", (unsigned)v->type);
    const void *p = NULL;
    size_t n = 0;
    switch (v->type) {
    case FWP_UINT8: case FWP_INT8: p = &v->uint8; n = 1; break;
    case FWP_UINT16: case FWP_INT16: p = &v->uint16; n = 2; break;
    case FWP_UINT32: case FWP_INT32: case FWP_FLOAT: p = &v->uint32; n = 4; break;
    case FWP_UINT64: case FWP_INT64: case FWP_DOUBLE: p = v->uint64; n = 8; break;
    case FWP_BYTE_ARRAY16_TYPE: p = v->byteArray16; n = 16; break;
    case FWP_BYTE_ARRAY6_TYPE: p = v->byteArray6; n = 6; break;
    case FWP_BYTE_BLOB_TYPE: case FWP_SECURITY_DESCRIPTOR_TYPE: case FWP_TOKEN_ACCESS_INFORMATION_TYPE:
        if (v->byteBlob) {
            p = v->byteBlob->data;
            n = v->byteBlob->size;
        }
        break;
    case FWP_SID: p = v->sid; n = v->sid ? sid_length(v->sid) : 0; break;
    case FWP_UNICODE_STRING_TYPE:
        p = v->unicodeString;
        n = v->unicodeString ? wcslen(v->unicodeString) * sizeof(WCHAR) : 0;
        break;
    case FWP_V4_ADDR_MASK: p = v->v4AddrMask; n = sizeof(FWP_V4_ADDR_AND_MASK); break;
    case FWP_V6_ADDR_MASK: p = v->v6AddrMask; n = sizeof(FWP_V6_ADDR_AND_MASK); break;
    case FWP_RANGE_TYPE:
        put_value(b, (const FWP_CONDITION_VALUE0 *)&v->rangeValue->valueLow);
        put_value(b, (const FWP_CONDITION_VALUE0 *)&v->rangeValue->valueHigh);
        return;
    default: /* FWP_EMPTY; FWP_TOKEN_INFORMATION_TYPE is not saved */
        break;
    }
    if (p)
        sb_hex(b, p, n);
}

static BOOL persistent_ent(const Ent *e, UINT32 flags)
{
    return e->dynSession == 0 && (flags & 1); /* all three *_FLAG_PERSISTENT are 0x1 */
}

DWORD persist_save(const Store *s, const WCHAR *path)
{
    Sb b = {0};
    sb_printf(&b, "wfpemu-state 1\nnext %llu\n", (unsigned long long)s->nextFilterId);
    for (UINT32 i = 0; i < s->prov.n; i++) {
        const FWPM_PROVIDER0 *p = s->prov.v[i].obj;
        if (!persistent_ent(&s->prov.v[i], p->flags))
            continue;
        sb_puts(&b, "P");
        put_guid(&b, &p->providerKey);
        sb_printf(&b, " %lu", (unsigned long)p->flags);
        put_wstr(&b, p->displayData.name);
        put_wstr(&b, p->displayData.description);
        put_bytes(&b, p->providerData.data, p->providerData.size);
        put_wstr(&b, p->serviceName);
        sb_putc(&b, '\n');
    }
    for (UINT32 i = 0; i < s->sub.n; i++) {
        const FWPM_SUBLAYER0 *sl = s->sub.v[i].obj;
        if (!persistent_ent(&s->sub.v[i], emu_sublayer_flags(sl)))
            continue;
        sb_puts(&b, "S");
        put_guid(&b, &sl->subLayerKey);
        sb_printf(&b, " %lu", (unsigned long)emu_sublayer_flags(sl));
        put_guid(&b, sl->providerKey);
        put_wstr(&b, sl->displayData.name);
        put_wstr(&b, sl->displayData.description);
        put_bytes(&b, sl->providerData.data, sl->providerData.size);
        sb_printf(&b, " %u\n", sl->weight);
    }
    for (UINT32 i = 0; i < s->filt.n; i++) {
        const FWPM_FILTER0 *f = s->filt.v[i].obj;
        if (!persistent_ent(&s->filt.v[i], f->flags))
            continue;
        sb_puts(&b, "F");
        put_guid(&b, &f->filterKey);
        sb_printf(&b, " %llu %lu", (unsigned long long)f->filterId, (unsigned long)f->flags);
        put_guid(&b, f->providerKey);
        put_wstr(&b, f->displayData.name);
        put_wstr(&b, f->displayData.description);
        put_bytes(&b, f->providerData.data, f->providerData.size);
        put_guid(&b, &f->layerKey);
        put_guid(&b, &f->subLayerKey);
        put_value(&b, (const FWP_CONDITION_VALUE0 *)&f->weight);
        sb_printf(&b, " %lu", (unsigned long)f->action.type);
        put_guid(&b, &f->action.calloutKey);
        sb_putc(&b, ' ');
        sb_hex(&b, (const BYTE *)&f->providerContextKey, sizeof(GUID));
        put_value(&b, (const FWP_CONDITION_VALUE0 *)&f->effectiveWeight);
        sb_printf(&b, " %lu", (unsigned long)f->numFilterConditions);
        for (UINT32 k = 0; k < f->numFilterConditions; k++) {
            put_guid(&b, &f->filterCondition[k].fieldKey);
            sb_printf(&b, " %u", (unsigned)f->filterCondition[k].matchType);
            put_value(&b, &f->filterCondition[k].conditionValue);
        }
        sb_putc(&b, '\n');
    }

    size_t n = wcslen(path);
    WCHAR *tmp = emu_alloc((n + 8) * sizeof(WCHAR));
    memcpy(tmp, path, n * sizeof(WCHAR));
    wcscpy(tmp + n, L".tmp");
    DWORD st = ERROR_SUCCESS;
    HANDLE h = CreateFileW(tmp, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        st = GetLastError();
    } else {
        DWORD w = 0;
        if (!WriteFile(h, b.p, (DWORD)b.n, &w, NULL) || w != b.n)
            st = GetLastError() ? GetLastError() : ERROR_WRITE_FAULT;
        if (!FlushFileBuffers(h) && st == ERROR_SUCCESS)
            st = GetLastError();
        CloseHandle(h);
        if (st == ERROR_SUCCESS && !MoveFileExW(tmp, path, MOVEFILE_REPLACE_EXISTING))
            st = GetLastError();
    }
    emu_free(tmp);
    sb_free(&b);
    return st;
}

/* ---- reading ---- */

typedef struct {
    void **v;
    size_t n, cap;
} Scratch;

static void *scratch(Scratch *s, size_t n)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 32;
        void **v = emu_alloc(cap * sizeof *v);
        if (s->v) {
            memcpy(v, s->v, s->n * sizeof *v);
            emu_free(s->v);
        }
        s->v = v;
        s->cap = cap;
    }
    return s->v[s->n++] = emu_alloc(n);
}

static void scratch_free(Scratch *s)
{
    for (size_t i = 0; i < s->n; i++)
        emu_free(s->v[i]);
    emu_free(s->v);
    memset(s, 0, sizeof *s);
}

typedef struct {
    char *cur;
    BOOL bad;
    Scratch mem;
} Lexer;

static char *next_tok(Lexer *lx)
{
    while (*lx->cur == ' ')
        lx->cur++;
    if (!*lx->cur) {
        lx->bad = TRUE;
        return "";
    }
    char *t = lx->cur;
    while (*lx->cur && *lx->cur != ' ')
        lx->cur++;
    if (*lx->cur)
        *lx->cur++ = 0;
    return t;
}

static int hexv(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes hex into zeroed scratch memory with 24 spare bytes: a terminator for strings, and
 * room for the widest fixed-size value (a 17-byte FWP_V6_ADDR_AND_MASK) when a damaged file
 * gives fewer bytes than the type needs. */
static BYTE *unhex(Lexer *lx, const char *h, size_t *n)
{
    size_t len = strlen(h);
    if (len % 2) {
        lx->bad = TRUE;
        len--;
    }
    BYTE *p = scratch(&lx->mem, len / 2 + 24);
    for (size_t i = 0; i < len / 2; i++) {
        int a = hexv(h[2 * i]), b = hexv(h[2 * i + 1]);
        if (a < 0 || b < 0)
            lx->bad = TRUE;
        p[i] = (BYTE)(a << 4 | b);
    }
    *n = len / 2;
    return p;
}

static UINT64 tok_u64(Lexer *lx)
{
    char *t = next_tok(lx), *end;
    UINT64 v = strtoull(t, &end, 10);
    if (*end || !*t)
        lx->bad = TRUE;
    return v;
}

static GUID tok_guid(Lexer *lx)
{
    GUID g = {0};
    if (!guid_parse(next_tok(lx), &g))
        lx->bad = TRUE;
    return g;
}

static GUID *tok_guid_ptr(Lexer *lx)
{
    char *t = next_tok(lx);
    if (strcmp(t, "-") == 0)
        return NULL;
    GUID *g = scratch(&lx->mem, sizeof *g);
    if (!guid_parse(t, g))
        lx->bad = TRUE;
    return g;
}

static BYTE *tok_bytes(Lexer *lx, size_t *n, BOOL *isNull)
{
    char *t = next_tok(lx);
    *isNull = strcmp(t, "-") == 0;
    if (*isNull || t[0] != '=') {
        if (!*isNull)
            lx->bad = TRUE;
        *n = 0;
        return NULL;
    }
    return unhex(lx, t + 1, n);
}

static WCHAR *tok_wstr(Lexer *lx)
{
    size_t n;
    BOOL isNull;
    BYTE *p = tok_bytes(lx, &n, &isNull);
    return isNull ? NULL : (WCHAR *)p;
}

static void tok_blob(Lexer *lx, FWP_BYTE_BLOB *b)
{
    size_t n;
    BOOL isNull;
    BYTE *p = tok_bytes(lx, &n, &isNull);
    b->size = (UINT32)n;
    b->data = n ? p : NULL;
}

static void tok_value(Lexer *lx, FWP_CONDITION_VALUE0 *v)
{
    char *t = next_tok(lx), *colon = strchr(t, ':');
    memset(v, 0, sizeof *v);
    if (!colon) {
        lx->bad = TRUE;
        return;
    }
    *colon = 0;
    v->type = (FWP_DATA_TYPE)strtoul(t, NULL, 10);
    size_t n;
    BYTE *p = unhex(lx, colon + 1, &n);
    switch (v->type) {
    case FWP_EMPTY: break;
    case FWP_UINT8: case FWP_INT8: case FWP_UINT16: case FWP_INT16: case FWP_UINT32: case FWP_INT32: case FWP_FLOAT:
        memcpy(&v->uint32, p, n > 4 ? 4 : n);
        break;
    case FWP_BYTE_BLOB_TYPE: case FWP_SECURITY_DESCRIPTOR_TYPE: case FWP_TOKEN_ACCESS_INFORMATION_TYPE: {
        FWP_BYTE_BLOB *b = scratch(&lx->mem, sizeof *b);
        b->size = (UINT32)n;
        b->data = n ? p : NULL;
        v->byteBlob = b;
        break;
    }
    case FWP_RANGE_TYPE: {
        FWP_RANGE0 *r = scratch(&lx->mem, sizeof *r);
        tok_value(lx, (FWP_CONDITION_VALUE0 *)&r->valueLow);
        tok_value(lx, (FWP_CONDITION_VALUE0 *)&r->valueHigh);
        v->rangeValue = r;
        break;
    }
    case FWP_TOKEN_INFORMATION_TYPE:
        v->type = FWP_EMPTY;
        break;
    default: /* every other type points at the decoded bytes (strings got their terminator) */
        v->uint64 = (UINT64 *)p;
    }
}

DWORD persist_load(Store *s, const WCHAR *path)
{
    HANDLE h = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        DWORD e = GetLastError();
        return e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND ? ERROR_SUCCESS : e;
    }
    DWORD size = GetFileSize(h, NULL), got = 0;
    char *text = emu_alloc(size + 1);
    BOOL ok = ReadFile(h, text, size, &got, NULL);
    CloseHandle(h);
    if (!ok || got != size) {
        emu_free(text);
        return ERROR_READ_FAULT;
    }
    return persist_parse(s, text);
}

DWORD persist_parse(Store *s, char *text)
{
    DWORD st = ERROR_SUCCESS;
    char *line = text;
    BOOL header = FALSE;
    while (line && *line && st == ERROR_SUCCESS) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        Lexer lx = {line, FALSE, {0}};
        char *kind = next_tok(&lx);
        if (!header) {
            header = strcmp(kind, "wfpemu-state") == 0 && strcmp(next_tok(&lx), "1") == 0;
            if (!header)
                st = ERROR_BAD_FORMAT;
        } else if (strcmp(kind, "next") == 0) {
            UINT64 next = tok_u64(&lx);
            if (next > s->nextFilterId)
                s->nextFilterId = next;
        } else if (strcmp(kind, "P") == 0) {
            FWPM_PROVIDER0 p = {0};
            p.providerKey = tok_guid(&lx);
            p.flags = (UINT32)tok_u64(&lx);
            p.displayData.name = tok_wstr(&lx);
            p.displayData.description = tok_wstr(&lx);
            tok_blob(&lx, &p.providerData);
            p.serviceName = tok_wstr(&lx);
            st = lx.bad ? ERROR_BAD_FORMAT : store_add_provider(s, &p, 0);
        } else if (strcmp(kind, "S") == 0) {
            FWPM_SUBLAYER0 sl = {0};
            sl.subLayerKey = tok_guid(&lx);
            emu_set_sublayer_flags(&sl, (UINT32)tok_u64(&lx));
            sl.providerKey = tok_guid_ptr(&lx);
            sl.displayData.name = tok_wstr(&lx);
            sl.displayData.description = tok_wstr(&lx);
            tok_blob(&lx, &sl.providerData);
            sl.weight = (UINT16)tok_u64(&lx);
            st = lx.bad ? ERROR_BAD_FORMAT : store_add_sublayer(s, &sl, 0);
        } else if (strcmp(kind, "F") == 0) {
            FWPM_FILTER0 f = {0};
            f.filterKey = tok_guid(&lx);
            f.filterId = tok_u64(&lx);
            f.flags = (UINT32)tok_u64(&lx);
            f.providerKey = tok_guid_ptr(&lx);
            f.displayData.name = tok_wstr(&lx);
            f.displayData.description = tok_wstr(&lx);
            tok_blob(&lx, &f.providerData);
            f.layerKey = tok_guid(&lx);
            f.subLayerKey = tok_guid(&lx);
            tok_value(&lx, (FWP_CONDITION_VALUE0 *)&f.weight);
            f.action.type = (FWP_ACTION_TYPE)tok_u64(&lx);
            f.action.calloutKey = tok_guid(&lx);
            size_t n;
            BYTE *ctx = unhex(&lx, next_tok(&lx), &n);
            if (n == sizeof(GUID))
                memcpy(&f.providerContextKey, ctx, n);
            else
                lx.bad = TRUE;
            tok_value(&lx, (FWP_CONDITION_VALUE0 *)&f.effectiveWeight);
            f.numFilterConditions = (UINT32)tok_u64(&lx);
            if (f.numFilterConditions > 1024)
                lx.bad = TRUE;
            if (!lx.bad && f.numFilterConditions) {
                f.filterCondition = scratch(&lx.mem, f.numFilterConditions * sizeof *f.filterCondition);
                for (UINT32 k = 0; k < f.numFilterConditions && !lx.bad; k++) {
                    f.filterCondition[k].fieldKey = tok_guid(&lx);
                    f.filterCondition[k].matchType = (FWP_MATCH_TYPE)tok_u64(&lx);
                    tok_value(&lx, &f.filterCondition[k].conditionValue);
                }
            }
            if (lx.bad)
                st = ERROR_BAD_FORMAT;
            else
                store_insert_loaded_filter(s, &f);
        } else if (*kind) {
            st = ERROR_BAD_FORMAT;
        }
        scratch_free(&lx.mem);
        line = nl ? nl + 1 : NULL;
    }
    emu_free(text);
    return st;
}
