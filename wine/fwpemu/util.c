/* String builder, JSON, hex and GUID helpers, environment. */
#include "emu.h"

#include <stdio.h>
#include <wchar.h>

BOOLEAN WINAPI SystemFunction036(PVOID RandomBuffer, ULONG RandomBufferLength);

void *emu_alloc(SIZE_T n)
{
    void *p = HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, n ? n : 1);
    if (!p) {
        OutputDebugStringA("fwpemu: out of memory\n");
        ExitProcess(3);
    }
    return p;
}

void emu_free(void *p)
{
    if (p)
        HeapFree(GetProcessHeap(), 0, p);
}

static void sb_grow(Sb *b, size_t extra)
{
    if (b->n + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra + 1)
        cap *= 2;
    char *p = emu_alloc(cap);
    if (b->p) {
        memcpy(p, b->p, b->n);
        emu_free(b->p);
    }
    b->p = p;
    b->cap = cap;
    b->p[b->n] = 0;
}

void sb_putc(Sb *b, char c)
{
    sb_grow(b, 1);
    b->p[b->n++] = c;
    b->p[b->n] = 0;
}

void sb_puts(Sb *b, const char *s)
{
    size_t n = strlen(s);
    sb_grow(b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void sb_printf(Sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    sb_grow(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

void sb_json_str(Sb *b, const char *s)
{
    if (!s) {
        sb_puts(b, "null");
        return;
    }
    sb_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': sb_puts(b, "\\\""); break;
        case '\\': sb_puts(b, "\\\\"); break;
        case '\n': sb_puts(b, "\\n"); break;
        case '\r': sb_puts(b, "\\r"); break;
        case '\t': sb_puts(b, "\\t"); break;
        default:
            if (*p < 0x20)
                sb_printf(b, "\\u%04x", *p);
            else
                sb_putc(b, (char)*p);
        }
    }
    sb_putc(b, '"');
}

void sb_json_wstr(Sb *b, const WCHAR *s)
{
    if (!s) {
        sb_puts(b, "null");
        return;
    }
    int n = WideCharToMultiByte(CP_UTF8, 0, s, -1, NULL, 0, NULL, NULL);
    if (n <= 0) {
        sb_puts(b, "\"\"");
        return;
    }
    char *u = emu_alloc((SIZE_T)n);
    WideCharToMultiByte(CP_UTF8, 0, s, -1, u, n, NULL, NULL);
    sb_json_str(b, u);
    emu_free(u);
}

void sb_hex(Sb *b, const BYTE *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    sb_grow(b, 2 * n);
    for (size_t i = 0; i < n; i++) {
        b->p[b->n++] = digits[p[i] >> 4];
        b->p[b->n++] = digits[p[i] & 15];
    }
    b->p[b->n] = 0;
}

void guid_format(const GUID *g, char out[37])
{
    snprintf(out, 37, "%08lx-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", (unsigned long)g->Data1, g->Data2,
             g->Data3, g->Data4[0], g->Data4[1], g->Data4[2], g->Data4[3], g->Data4[4], g->Data4[5], g->Data4[6],
             g->Data4[7]);
}

void sb_guid(Sb *b, const GUID *g)
{
    if (!g) {
        sb_puts(b, "null");
        return;
    }
    char s[37];
    guid_format(g, s);
    sb_putc(b, '"');
    sb_puts(b, s);
    sb_putc(b, '"');
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

BOOL guid_parse(const char *s, GUID *g)
{
    /* xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx */
    BYTE raw[16];
    int k = 0;
    for (int i = 0; s[i] && k < 32; i++) {
        if (s[i] == '-') {
            if (i != 8 && i != 13 && i != 18 && i != 23)
                return FALSE;
            continue;
        }
        int v = hexval(s[i]);
        if (v < 0)
            return FALSE;
        if (k % 2 == 0)
            raw[k / 2] = (BYTE)(v << 4);
        else
            raw[k / 2] |= (BYTE)v;
        k++;
    }
    if (k != 32 || strlen(s) != 36)
        return FALSE;
    g->Data1 = ((DWORD)raw[0] << 24) | ((DWORD)raw[1] << 16) | ((DWORD)raw[2] << 8) | raw[3];
    g->Data2 = (WORD)((raw[4] << 8) | raw[5]);
    g->Data3 = (WORD)((raw[6] << 8) | raw[7]);
    memcpy(g->Data4, raw + 8, 8);
    return TRUE;
}

BOOL guid_is_zero(const GUID *g)
{
    static const GUID zero;
    return memcmp(g, &zero, sizeof zero) == 0;
}

BOOL guid_eq(const GUID *a, const GUID *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

void guid_random(GUID *g)
{
    if (!SystemFunction036(g, sizeof *g)) {
        static LONG counter;
        memset(g, 0, sizeof *g);
        g->Data1 = (DWORD)InterlockedIncrement(&counter);
        g->Data2 = (WORD)GetCurrentProcessId();
    }
    g->Data3 = (WORD)((g->Data3 & 0x0fff) | 0x4000); /* version 4 */
    g->Data4[0] = (BYTE)((g->Data4[0] & 0x3f) | 0x80);
}

WCHAR *env_get(const WCHAR *name)
{
    DWORD n = GetEnvironmentVariableW(name, NULL, 0);
    if (n == 0)
        return NULL;
    WCHAR *v = emu_alloc((SIZE_T)n * sizeof(WCHAR));
    if (GetEnvironmentVariableW(name, v, n) >= n || v[0] == 0) {
        emu_free(v);
        return NULL;
    }
    return v;
}

WCHAR *path_fix(WCHAR *p)
{
    if (!p || p[0] != L'/')
        return p;
    size_t n = wcslen(p);
    WCHAR *q = emu_alloc((n + 3) * sizeof(WCHAR));
    q[0] = L'Z';
    q[1] = L':';
    memcpy(q + 2, p, (n + 1) * sizeof(WCHAR));
    emu_free(p);
    return q;
}

void sb_free(Sb *b)
{
    emu_free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}
