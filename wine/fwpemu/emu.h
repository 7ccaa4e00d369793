/*
 * fwpemu: an emulation of the user-mode WFP management API (fwpuclnt.dll) for running
 * wfpsandbox.exe under Wine. Internal declarations shared by the source files.
 *
 *   util.c     string builder, JSON and hex helpers, GUIDs, environment
 *   sd.c       structural validation of self-relative security descriptors, SDDL
 *   flat.c     deep copies of WFP structs into single heap blocks; value validation
 *   store.c    the object store and WFP's error contract for adds and deletes
 *   persist.c  the state file holding persistent objects between processes
 *   jsonobj.c  JSON forms of the WFP structs for the call log
 *   api.c      the exported Fwpm* functions, sessions, transactions, enumeration, log
 *   netevents.c FwpmNetEvent* (canned net events; written by the events work)
 *   changes.c  Fwpm{Filter,SubLayer,Provider}{Subscribe,Unsubscribe}Changes0
 */
#ifndef WFPEMU_EMU_H
#define WFPEMU_EMU_H

#include "sdk.h"

#include <stdarg.h>
#include <stddef.h>

/* ---- zlayers.h (generated) ---- */

typedef struct {
    GUID key;
    const char *name;
    const GUID *fields; /* NULL: field list not transcribed, any field accepted */
    UINT32 nfields;
} EmuLayer;

typedef struct {
    GUID key;
    const char *name;
} EmuName;

/* ---- util.c ---- */

typedef struct {
    char *p;
    size_t n, cap;
} Sb;

void sb_putc(Sb *b, char c);
void sb_puts(Sb *b, const char *s);
void sb_printf(Sb *b, const char *fmt, ...) __attribute__((format(gnu_printf, 2, 3)));
void sb_json_str(Sb *b, const char *s);      /* quoted, escaped; NULL -> null */
void sb_json_wstr(Sb *b, const WCHAR *s);    /* UTF-16 -> quoted UTF-8; NULL -> null */
void sb_hex(Sb *b, const BYTE *p, size_t n); /* lowercase hex digits, no quotes */
void sb_guid(Sb *b, const GUID *g);          /* quoted lowercase GUID; NULL -> null */
void sb_free(Sb *b);
void guid_format(const GUID *g, char out[37]);
BOOL guid_parse(const char *s, GUID *g);
BOOL guid_is_zero(const GUID *g);
BOOL guid_eq(const GUID *a, const GUID *b);
void guid_random(GUID *g);
void *emu_alloc(SIZE_T n); /* zeroed internal heap memory; aborts the process when out of memory */
void emu_free(void *p);
/* Environment variable as a newly allocated wide string, or NULL. */
WCHAR *env_get(const WCHAR *name);
/* A path from the environment made usable by Wine: "/tmp/x" becomes "Z:/tmp/x". */
WCHAR *path_fix(WCHAR *p);

/* ---- sd.c ---- */

/* Whether p[0..n) is a structurally valid self-relative SECURITY_DESCRIPTOR. */
BOOL sd_valid_self_relative(const BYTE *p, UINT32 n);
/* Whether p[0..avail) starts with a valid SID; its length goes to *len. */
BOOL sid_valid(const BYTE *p, UINT32 avail, UINT32 *len);
UINT32 sid_length(const SID *sid);
/* SDDL of a validated self-relative SD, decoded here (O:, G:, D: with A/D ACEs). */
void sb_sddl(Sb *b, const BYTE *sd, UINT32 n);
/* SDDL as Wine's advapi32 ConvertSecurityDescriptorToStringSecurityDescriptorW gives it. */
void sb_sddl_advapi(Sb *b, const BYTE *sd);
void sb_sid(Sb *b, const SID *sid); /* S-1-... form, quoted */

/* ---- flat.c ---- */

/* A bump allocator over one block; with buf == NULL it only measures. */
typedef struct {
    BYTE *buf;
    SIZE_T off;
} Bump;

void *bump(Bump *b, SIZE_T n, SIZE_T align);
FWPM_PROVIDER0 *bump_provider(Bump *b, const FWPM_PROVIDER0 *src);
FWPM_SUBLAYER0 *bump_sublayer(Bump *b, const FWPM_SUBLAYER0 *src);
FWPM_FILTER0 *bump_filter(Bump *b, const FWPM_FILTER0 *src);
/* One-block deep copies on the internal heap (free with emu_free). */
FWPM_PROVIDER0 *dup_provider(const FWPM_PROVIDER0 *src);
FWPM_SUBLAYER0 *dup_sublayer(const FWPM_SUBLAYER0 *src);
FWPM_FILTER0 *dup_filter(const FWPM_FILTER0 *src);
/* Checks a value's type and pointers before it is copied: ERROR_SUCCESS, FWP_E_NULL_POINTER,
 * ERROR_INVALID_PARAMETER (unknown type), or 0x8007053A (SD not self-relative). */
DWORD check_value(const FWP_CONDITION_VALUE0 *v, BOOL condition);

/* ---- store.c ---- */

typedef struct {
    void *obj;         /* FWPM_PROVIDER0 / FWPM_SUBLAYER0 / FWPM_FILTER0, one dup_* block */
    UINT64 dynSession; /* nonzero: added from this dynamic session */
} Ent;

typedef struct {
    Ent *v;
    UINT32 n, cap;
} Vec;

typedef struct {
    Vec prov, sub, filt;
    UINT64 nextFilterId;
} Store;

Store *store_new(void);
Store *store_clone(const Store *s);
void store_free(Store *s);
FWPM_PROVIDER0 *store_provider(const Store *s, const GUID *key);
FWPM_SUBLAYER0 *store_sublayer(const Store *s, const GUID *key);
FWPM_FILTER0 *store_filter(const Store *s, const GUID *key);
FWPM_FILTER0 *store_filter_by_id(const Store *s, UINT64 id);
/* Adds validate everything first and change nothing on failure. */
DWORD store_add_provider(Store *s, const FWPM_PROVIDER0 *p, UINT64 dynSession);
DWORD store_add_sublayer(Store *s, const FWPM_SUBLAYER0 *sl, UINT64 dynSession);
DWORD store_add_filter(Store *s, const FWPM_FILTER0 *f, UINT64 dynSession, UINT64 *id);
DWORD store_delete_provider(Store *s, const GUID *key, UINT64 dynSession);
DWORD store_delete_sublayer(Store *s, const GUID *key, UINT64 dynSession);
DWORD store_delete_filter(Store *s, const GUID *key, UINT64 dynSession);
/* Removes every object added from a dynamic session (children first). */
void store_drop_session(Store *s, UINT64 dynSession);
const EmuLayer *emu_layer(const GUID *key);
const char *emu_field_name(const GUID *key);
const char *emu_layer_name(const GUID *key);
const char *emu_sublayer_name(const GUID *key);
BOOL emu_builtin_sublayer(const GUID *key);

/* ---- persist.c ---- */

/* Writes the persistent objects of s (atomically: temp file + rename). */
DWORD persist_save(const Store *s, const WCHAR *path);
/* Adds the objects in the file to s; a missing file is an empty state. */
DWORD persist_load(Store *s, const WCHAR *path);
/* Adds the objects of a state file's NUL-terminated text to s; frees text (emu_free). */
DWORD persist_parse(Store *s, char *text);

/* ---- api.c, for changes.c ---- */

/* The checks every call starts with, without logging: WFPEMU_FAIL (*injected, and its code
 * is returned), then ERROR_INVALID_HANDLE for a handle that names no open session. *inTxn
 * says whether the session holds a transaction. */
DWORD emu_call_check(const char *fn, HANDLE engine, BOOL *injected, BOOL *inTxn);
/* Logs one call like every other exported function (args and out are JSON members or NULL). */
void emu_call_log(const char *fn, HANDLE engine, DWORD st, BOOL injected, const char *args, const char *out);
/* A copy of this process's committed store (NULL before the first FwpmEngineOpen0), and
 * the state file's path. */
Store *emu_committed_clone(void);
const WCHAR *emu_state_path(void);

/* ---- changes.c ---- */

/* FwpmEngineClose0 ends the session's change subscriptions (without waiting for them). */
void changes_session_closed(HANDLE engine);

/* ---- netevents.c ---- */

/* Whether p is a net event Enum page netevents.c returned (FwpmFreeMemory0 accepts those). */
BOOL netev_owns(void *p);

/* ---- jsonobj.c ---- */

void js_value(Sb *b, const FWP_CONDITION_VALUE0 *v);
void js_provider(Sb *b, const FWPM_PROVIDER0 *p);
void js_sublayer(Sb *b, const FWPM_SUBLAYER0 *s);
void js_filter(Sb *b, const FWPM_FILTER0 *f);
void js_session(Sb *b, const FWPM_SESSION0 *s);
void js_filter_template(Sb *b, const FWPM_FILTER_ENUM_TEMPLATE0 *t);
void js_sd_param(Sb *b, PSECURITY_DESCRIPTOR sd);

#endif
