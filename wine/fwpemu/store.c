/*
 * The object store: providers, sublayers and filters with the WFP error contract.
 *
 * Sources (wfp-facts.md §1-§6): DOC:fwp/object-management (lifetimes; "A persistent object
 * cannot refer to a dynamic object, a static object, or a persistent object owned by a
 * different provider" -> FWP_E_LIFETIME_MISMATCH; "An object cannot be deleted until all
 * objects that reference it have first been deleted" -> FWP_E_IN_USE), the Fwpm*Add0 and
 * Fwpm*DeleteByKey0 reference pages (return codes), DOC:fwp/filter-weight-assignment.
 *
 * Every add validates first and changes nothing when it fails, so a failed call inside a
 * transaction leaves the transaction as it was (WFP does not abort it either).
 */
#include "emu.h"
#include "zlayers.h"

static void vec_push(Vec *v, void *obj, UINT64 dyn)
{
    if (v->n == v->cap) {
        UINT32 cap = v->cap ? 2 * v->cap : 16;
        Ent *e = emu_alloc(cap * sizeof *e);
        if (v->v) {
            memcpy(e, v->v, v->n * sizeof *e);
            emu_free(v->v);
        }
        v->v = e;
        v->cap = cap;
    }
    v->v[v->n].obj = obj;
    v->v[v->n].dynSession = dyn;
    v->n++;
}

static void vec_remove(Vec *v, UINT32 i)
{
    emu_free(v->v[i].obj);
    memmove(&v->v[i], &v->v[i + 1], (v->n - i - 1) * sizeof v->v[0]);
    v->n--;
}

static void vec_free(Vec *v)
{
    for (UINT32 i = 0; i < v->n; i++)
        emu_free(v->v[i].obj);
    emu_free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
}

Store *store_new(void)
{
    Store *s = emu_alloc(sizeof *s);
    s->nextFilterId = 0x10000; /* arbitrary, keeps emulated IDs apart from small integers */
    return s;
}

Store *store_clone(const Store *s)
{
    Store *c = store_new();
    c->nextFilterId = s->nextFilterId;
    for (UINT32 i = 0; i < s->prov.n; i++)
        vec_push(&c->prov, dup_provider(s->prov.v[i].obj), s->prov.v[i].dynSession);
    for (UINT32 i = 0; i < s->sub.n; i++)
        vec_push(&c->sub, dup_sublayer(s->sub.v[i].obj), s->sub.v[i].dynSession);
    for (UINT32 i = 0; i < s->filt.n; i++)
        vec_push(&c->filt, dup_filter(s->filt.v[i].obj), s->filt.v[i].dynSession);
    return c;
}

void store_free(Store *s)
{
    if (!s)
        return;
    vec_free(&s->prov);
    vec_free(&s->sub);
    vec_free(&s->filt);
    emu_free(s);
}

static int find_provider(const Store *s, const GUID *key)
{
    for (UINT32 i = 0; i < s->prov.n; i++)
        if (guid_eq(&((FWPM_PROVIDER0 *)s->prov.v[i].obj)->providerKey, key))
            return (int)i;
    return -1;
}

static int find_sublayer(const Store *s, const GUID *key)
{
    for (UINT32 i = 0; i < s->sub.n; i++)
        if (guid_eq(&((FWPM_SUBLAYER0 *)s->sub.v[i].obj)->subLayerKey, key))
            return (int)i;
    return -1;
}

static int find_filter(const Store *s, const GUID *key)
{
    for (UINT32 i = 0; i < s->filt.n; i++)
        if (guid_eq(&((FWPM_FILTER0 *)s->filt.v[i].obj)->filterKey, key))
            return (int)i;
    return -1;
}

FWPM_PROVIDER0 *store_provider(const Store *s, const GUID *key)
{
    int i = find_provider(s, key);
    return i < 0 ? NULL : s->prov.v[i].obj;
}

FWPM_SUBLAYER0 *store_sublayer(const Store *s, const GUID *key)
{
    int i = find_sublayer(s, key);
    return i < 0 ? NULL : s->sub.v[i].obj;
}

FWPM_FILTER0 *store_filter(const Store *s, const GUID *key)
{
    int i = find_filter(s, key);
    return i < 0 ? NULL : s->filt.v[i].obj;
}

FWPM_FILTER0 *store_filter_by_id(const Store *s, UINT64 id)
{
    for (UINT32 i = 0; i < s->filt.n; i++)
        if (((FWPM_FILTER0 *)s->filt.v[i].obj)->filterId == id)
            return s->filt.v[i].obj;
    return NULL;
}

const EmuLayer *emu_layer(const GUID *key)
{
    for (size_t i = 0; i < sizeof emu_layers / sizeof emu_layers[0]; i++)
        if (guid_eq(&emu_layers[i].key, key))
            return &emu_layers[i];
    return NULL;
}

const char *emu_layer_name(const GUID *key)
{
    const EmuLayer *l = emu_layer(key);
    return l ? l->name : NULL;
}

const char *emu_field_name(const GUID *key)
{
    for (size_t i = 0; i < sizeof emu_field_names / sizeof emu_field_names[0]; i++)
        if (guid_eq(&emu_field_names[i].key, key))
            return emu_field_names[i].name;
    return NULL;
}

const char *emu_sublayer_name(const GUID *key)
{
    for (size_t i = 0; i < sizeof emu_sublayer_names / sizeof emu_sublayer_names[0]; i++)
        if (guid_eq(&emu_sublayer_names[i].key, key))
            return emu_sublayer_names[i].name;
    return NULL;
}

BOOL emu_builtin_sublayer(const GUID *key)
{
    return emu_sublayer_name(key) != NULL;
}

/* Lifetime ranks: an object may only refer to objects of the same or a longer lifetime. */
enum { LIFE_DYNAMIC, LIFE_STATIC, LIFE_PERSISTENT, LIFE_BUILTIN };

static int life(UINT64 dyn, BOOL persistent)
{
    return dyn ? LIFE_DYNAMIC : persistent ? LIFE_PERSISTENT : LIFE_STATIC;
}

static BOOL equal_opt_guid(const GUID *a, const GUID *b)
{
    if (!a || !b)
        return a == b;
    return guid_eq(a, b);
}

DWORD store_add_provider(Store *s, const FWPM_PROVIDER0 *p, UINT64 dyn)
{
    if (!p->displayData.name)
        return (DWORD)FWP_E_NULL_DISPLAY_NAME;
    if (p->flags & ~(UINT32)FWPM_PROVIDER_FLAG_PERSISTENT)
        return (DWORD)FWP_E_INVALID_FLAGS;
    if (guid_is_zero(&p->providerKey))
        return (DWORD)FWP_E_INVALID_PARAMETER; /* [I] the provider key names the provider */
    if (find_provider(s, &p->providerKey) >= 0)
        return (DWORD)FWP_E_ALREADY_EXISTS;
    vec_push(&s->prov, dup_provider(p), dyn);
    return ERROR_SUCCESS;
}

DWORD store_add_sublayer(Store *s, const FWPM_SUBLAYER0 *sl, UINT64 dyn)
{
    if (!sl->displayData.name)
        return (DWORD)FWP_E_NULL_DISPLAY_NAME;
    UINT32 flags = emu_sublayer_flags(sl);
    if (flags & ~(UINT32)FWPM_SUBLAYER_FLAG_PERSISTENT)
        return (DWORD)FWP_E_INVALID_FLAGS;
    FWPM_SUBLAYER0 tmp = *sl;
    if (guid_is_zero(&tmp.subLayerKey))
        guid_random(&tmp.subLayerKey); /* "If the GUID is zero, BFE generates one" [I: as for filters] */
    if (find_sublayer(s, &tmp.subLayerKey) >= 0 || emu_builtin_sublayer(&tmp.subLayerKey))
        return (DWORD)FWP_E_ALREADY_EXISTS;
    int mine = life(dyn, flags & FWPM_SUBLAYER_FLAG_PERSISTENT);
    if (sl->providerKey) {
        int pi = find_provider(s, sl->providerKey);
        if (pi < 0)
            return (DWORD)FWP_E_PROVIDER_NOT_FOUND;
        const FWPM_PROVIDER0 *p = s->prov.v[pi].obj;
        if (life(s->prov.v[pi].dynSession, p->flags & FWPM_PROVIDER_FLAG_PERSISTENT) < mine)
            return (DWORD)FWP_E_LIFETIME_MISMATCH;
    }
    vec_push(&s->sub, dup_sublayer(&tmp), dyn);
    return ERROR_SUCCESS;
}

/* Data types a few condition fields take (fwpmu.h comments; DOC ne-fwptypes-fwp_data_type;
 * DOC fwp/filtering-condition-identifiers). Fields not listed accept any type. */
static const struct {
    GUID field;
    FWP_DATA_TYPE types[5];
} field_types[] = {
    /* ALE_USER_ID, ALE_REMOTE_USER_ID, ALE_REMOTE_MACHINE_ID: a security descriptor. */
    {{0xaf043a0a, 0xb34d, 0x4f86, {0x97, 0x9c, 0xc9, 0x03, 0x71, 0xaf, 0x6e, 0x66}}, {FWP_SECURITY_DESCRIPTOR_TYPE}},
    {{0xf63073b7, 0x0189, 0x4ab0, {0x95, 0xa4, 0x61, 0x23, 0xcb, 0xfa, 0xb8, 0x62}}, {FWP_SECURITY_DESCRIPTOR_TYPE}},
    {{0x1aa47f51, 0x7f93, 0x4508, {0xa2, 0x71, 0x81, 0xab, 0xb0, 0x0c, 0x9c, 0xab}}, {FWP_SECURITY_DESCRIPTOR_TYPE}},
    /* IP_PROTOCOL: UINT8. */
    {{0x3971ef2b, 0x623e, 0x4f9a, {0x8c, 0xb1, 0x6e, 0x79, 0xb8, 0x06, 0xb9, 0xa7}}, {FWP_UINT8, FWP_RANGE_TYPE}},
    /* IP_REMOTE_PORT, IP_LOCAL_PORT: UINT16. */
    {{0xc35a604d, 0xd22b, 0x4e1a, {0x91, 0xb4, 0x68, 0xf6, 0x74, 0xee, 0x67, 0x4b}}, {FWP_UINT16, FWP_RANGE_TYPE}},
    {{0x0c1ba1af, 0x5765, 0x453f, {0xaf, 0x22, 0xa8, 0xf7, 0x91, 0xac, 0x77, 0x5b}}, {FWP_UINT16, FWP_RANGE_TYPE}},
    /* ALE_APP_ID: a byte blob (the NT path from FwpmGetAppIdFromFileName0). */
    {{0xd78e1e87, 0x8644, 0x4ea5, {0x94, 0x37, 0xd8, 0x09, 0xec, 0xef, 0xc9, 0x71}}, {FWP_BYTE_BLOB_TYPE}},
    /* IP_REMOTE_ADDRESS, IP_LOCAL_ADDRESS. */
    {{0xb235ae9a, 0x1d64, 0x49b8, {0xa4, 0x4c, 0x5f, 0xf3, 0xd9, 0x09, 0x50, 0x45}},
     {FWP_UINT32, FWP_BYTE_ARRAY16_TYPE, FWP_V4_ADDR_MASK, FWP_V6_ADDR_MASK, FWP_RANGE_TYPE}},
    {{0xd9ee00de, 0xc1ef, 0x4617, {0xbf, 0xe3, 0xff, 0xd8, 0xf5, 0xa0, 0x89, 0x57}},
     {FWP_UINT32, FWP_BYTE_ARRAY16_TYPE, FWP_V4_ADDR_MASK, FWP_V6_ADDR_MASK, FWP_RANGE_TYPE}},
    /* ALE_PACKAGE_ID: a SID. */
    {{0x71bc78fa, 0xf17c, 0x4997, {0xa6, 0x02, 0x6a, 0xbb, 0x26, 0x1f, 0x35, 0x1c}}, {FWP_SID}},
};

/* "Sortable data types consist of all integer types, FWP_BYTE_ARRAY16_TYPE, FWP_BYTE_BLOB_TYPE,
 * and FWP_UNICODE_STRING_TYPE." (DOC ne-fwptypes-fwp_match_type). FWP_FLOAT and FWP_DOUBLE
 * are not integer types. FWP_V4_ADDR_MASK / FWP_V6_ADDR_MASK are not in the list: the page's
 * Remarks let them be compared with an address field but name no match type; the strict
 * reading (EQUAL only) is ours. */
static BOOL sortable(FWP_DATA_TYPE t)
{
    return (t >= FWP_UINT8 && t <= FWP_INT64) || t == FWP_BYTE_ARRAY16_TYPE || t == FWP_BYTE_BLOB_TYPE ||
           t == FWP_UNICODE_STRING_TYPE;
}

/*
 * Which match types a condition value's data type supports, as the FWP_MATCH_TYPE reference
 * states them (DOC ne-fwptypes-fwp_match_type, SDK fwptypes.h); anything else is
 * FWP_E_MATCH_TYPE_MISMATCH (winerror.h 0x80320026). Checked when a filter is added, not
 * when the state file is loaded: what is stored stays loadable.
 *
 * Microsoft's own filters break the sortable rule - Windows Firewall's WSH filters match
 * ALE_PACKAGE_ID NOT_EQUAL an FWP_SID (windows-itpro-docs, "Troubleshooting UWP app
 * connectivity") - so a real BFE may accept more. The emulator follows the documentation.
 * wfp/testdata/matchtypes.tsv is the expectation (TestEmulatorMatchTypes); it is not read here.
 * The range value has been checked by check_value (bounds present and of one type).
 */
static DWORD check_match_type(UINT32 m, const FWP_CONDITION_VALUE0 *v)
{
    FWP_DATA_TYPE t = v->type;
    BOOL ok = FALSE;
    /* FWP_MATCH_RANGE "Tests whether the value is within a given range of condition values";
     * rangeValue is "Available when type is FWP_RANGE_TYPE". The page does not pair them
     * explicitly; strict reading: a range needs FWP_MATCH_RANGE and FWP_MATCH_RANGE needs a
     * range, because the Remarks require the condition's type to be the compared value's
     * ("The BFE does not perform any data conversion"), no field holds a range, and ranges
     * are not among the listed exceptions - "All data types support FWP_MATCH_EQUAL" does
     * not extend to FWP_RANGE_TYPE. */
    if ((t == FWP_RANGE_TYPE) != (m == FWP_MATCH_RANGE))
        return (DWORD)FWP_E_MATCH_TYPE_MISMATCH;
    switch (m) {
    case FWP_MATCH_EQUAL: /* "All data types support FWP_MATCH_EQUAL." */
        ok = TRUE;
        break;
    case FWP_MATCH_GREATER: /* "Only sortable data types support FWP_MATCH_GREATER." and so on. */
    case FWP_MATCH_LESS:
    case FWP_MATCH_GREATER_OR_EQUAL:
    case FWP_MATCH_LESS_OR_EQUAL:
    case FWP_MATCH_NOT_EQUAL: /* an SD is not sortable: NOT_EQUAL on ALE_USER_ID is refused */
        ok = sortable(t);
        break;
    case FWP_MATCH_RANGE: /* "Only sortable data types support FWP_MATCH_RANGE": the bounds' type */
        ok = sortable(v->rangeValue->valueLow.type);
        break;
    case FWP_MATCH_FLAGS_ALL_SET: /* "Only unsigned integer data types support FWP_MATCH_FLAGS_..." */
    case FWP_MATCH_FLAGS_ANY_SET:
    case FWP_MATCH_FLAGS_NONE_SET:
        ok = t >= FWP_UINT8 && t <= FWP_UINT64;
        break;
    case FWP_MATCH_EQUAL_CASE_INSENSITIVE: /* "Only the FWP_UNICODE_STRING_TYPE data type supports" */
        ok = t == FWP_UNICODE_STRING_TYPE;
        break;
    case EMU_FWP_MATCH_PREFIX: /* "The types FWP_BYTE_BLOB_TYPE (when it contains a string) and */
    case EMU_FWP_MATCH_NOT_PREFIX: /* FWP_UNICODE_STRING_TYPE support this match type." Contents unchecked. */
        ok = t == FWP_BYTE_BLOB_TYPE || t == FWP_UNICODE_STRING_TYPE;
        break;
    }
    return ok ? ERROR_SUCCESS : (DWORD)FWP_E_MATCH_TYPE_MISMATCH;
}

static DWORD check_condition(const EmuLayer *layer, const FWPM_FILTER_CONDITION0 *c)
{
    if (layer->fields) {
        BOOL found = FALSE;
        for (UINT32 i = 0; i < layer->nfields && !found; i++)
            found = guid_eq(&layer->fields[i], &c->fieldKey);
        if (!found)
            return (DWORD)FWP_E_CONDITION_NOT_FOUND;
    }
    if ((UINT32)c->matchType >= EMU_FWP_MATCH_TYPE_MAX)
        return ERROR_INVALID_PARAMETER;
    DWORD st = check_value(&c->conditionValue, TRUE);
    if (st != ERROR_SUCCESS)
        return st;
    FWP_DATA_TYPE t = c->conditionValue.type;
    for (size_t i = 0; i < sizeof field_types / sizeof field_types[0]; i++) {
        if (!guid_eq(&field_types[i].field, &c->fieldKey))
            continue;
        BOOL ok = FALSE;
        for (int k = 0; k < 5 && field_types[i].types[k]; k++) {
            FWP_DATA_TYPE want = field_types[i].types[k];
            if (want == FWP_RANGE_TYPE && t == FWP_RANGE_TYPE)
                ok = c->conditionValue.rangeValue->valueLow.type == field_types[i].types[0];
            else if (want == t)
                ok = TRUE;
        }
        if (!ok)
            return (DWORD)FWP_E_TYPE_MISMATCH;
    }
    return check_match_type((UINT32)c->matchType, &c->conditionValue);
}

static UINT64 auto_weight(const FWPM_FILTER0 *f, UINT64 range)
{
    /* Emulated: WFP computes the low 60 bits "based on the filter conditions"; here more
     * conditions give a higher weight. Deterministic, below 2^60. */
    return (range << 60) | ((UINT64)(f->numFilterConditions & 0xff) << 52);
}

DWORD store_add_filter(Store *s, const FWPM_FILTER0 *f, UINT64 dyn, UINT64 *id)
{
    if (!f->displayData.name)
        return (DWORD)FWP_E_NULL_DISPLAY_NAME;
    const UINT32 known = FWPM_FILTER_FLAG_PERSISTENT | FWPM_FILTER_FLAG_BOOTTIME | FWPM_FILTER_FLAG_HAS_PROVIDER_CONTEXT |
                         FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT | FWPM_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED |
                         FWPM_FILTER_FLAG_INDEXED;
    if (f->flags & ~known)
        return (DWORD)FWP_E_INVALID_FLAGS;
    if ((f->flags & FWPM_FILTER_FLAG_PERSISTENT) && (f->flags & FWPM_FILTER_FLAG_BOOTTIME))
        return (DWORD)FWP_E_INVALID_FLAGS; /* mutually exclusive (DOC ns-fwpmtypes-fwpm_filter0) */
    if (f->flags & FWPM_FILTER_FLAG_HAS_PROVIDER_CONTEXT)
        return (DWORD)FWP_E_PROVIDER_CONTEXT_NOT_FOUND; /* the emulator has no provider contexts */

    FWPM_FILTER0 tmp = *f;
    if (guid_is_zero(&tmp.filterKey))
        guid_random(&tmp.filterKey); /* DOC ns-fwpmtypes-fwpm_filter0: zero key -> BFE generates one */
    if (find_filter(s, &tmp.filterKey) >= 0)
        return (DWORD)FWP_E_ALREADY_EXISTS;

    const EmuLayer *layer = emu_layer(&f->layerKey);
    if (!layer)
        return (DWORD)FWP_E_LAYER_NOT_FOUND;

    int mine = life(dyn, f->flags & FWPM_FILTER_FLAG_PERSISTENT);
    if (f->providerKey) {
        int pi = find_provider(s, f->providerKey);
        if (pi < 0)
            return (DWORD)FWP_E_PROVIDER_NOT_FOUND;
        const FWPM_PROVIDER0 *p = s->prov.v[pi].obj;
        if (life(s->prov.v[pi].dynSession, p->flags & FWPM_PROVIDER_FLAG_PERSISTENT) < mine)
            return (DWORD)FWP_E_LIFETIME_MISMATCH;
    }
    if (guid_is_zero(&tmp.subLayerKey))
        tmp.subLayerKey = EMU_FWPM_SUBLAYER_UNIVERSAL; /* DOC: zero -> the default sublayer */
    if (!emu_builtin_sublayer(&tmp.subLayerKey)) {
        int si = find_sublayer(s, &tmp.subLayerKey);
        if (si < 0)
            return (DWORD)FWP_E_SUBLAYER_NOT_FOUND;
        const FWPM_SUBLAYER0 *sl = s->sub.v[si].obj;
        int theirs = life(s->sub.v[si].dynSession, emu_sublayer_flags(sl) & FWPM_SUBLAYER_FLAG_PERSISTENT);
        if (theirs < mine)
            return (DWORD)FWP_E_LIFETIME_MISMATCH;
        if (mine == LIFE_PERSISTENT && sl->providerKey && !equal_opt_guid(sl->providerKey, f->providerKey))
            return (DWORD)FWP_E_LIFETIME_MISMATCH; /* persistent object of a different provider */
    }

    UINT64 range = 0;
    switch (f->weight.type) {
    case FWP_EMPTY:
        break;
    case FWP_UINT8:
        if (f->weight.uint8 > FWPM_WEIGHT_RANGE_MAX)
            return (DWORD)FWP_E_INVALID_WEIGHT;
        range = f->weight.uint8;
        break;
    case FWP_UINT64:
        if (!f->weight.uint64)
            return (DWORD)FWP_E_NULL_POINTER;
        break;
    default:
        return (DWORD)FWP_E_INVALID_WEIGHT;
    }

    switch (f->action.type) {
    case FWP_ACTION_BLOCK:
    case FWP_ACTION_PERMIT:
    case FWP_ACTION_CONTINUE:
        break;
    case FWP_ACTION_CALLOUT_TERMINATING:
    case FWP_ACTION_CALLOUT_INSPECTION:
    case FWP_ACTION_CALLOUT_UNKNOWN:
        return (DWORD)FWP_E_CALLOUT_NOT_FOUND; /* the emulator has no callouts */
    default:
        return (DWORD)FWP_E_INVALID_ACTION_TYPE;
    }

    if (f->numFilterConditions && !f->filterCondition)
        return (DWORD)FWP_E_NULL_POINTER;
    for (UINT32 i = 0; i < f->numFilterConditions; i++) {
        DWORD st = check_condition(layer, &f->filterCondition[i]);
        if (st != ERROR_SUCCESS)
            return st;
    }

    UINT64 ew = f->weight.type == FWP_UINT64 ? *f->weight.uint64 : auto_weight(f, range);
    tmp.filterId = s->nextFilterId++;
    tmp.effectiveWeight.type = FWP_UINT64;
    tmp.effectiveWeight.uint64 = &ew;
    vec_push(&s->filt, dup_filter(&tmp), dyn);
    if (id)
        *id = tmp.filterId;
    return ERROR_SUCCESS;
}

/* Insert a filter exactly as stored (state file): keeps filterId and effectiveWeight. */
void store_insert_loaded_filter(Store *s, const FWPM_FILTER0 *f);
void store_insert_loaded_filter(Store *s, const FWPM_FILTER0 *f)
{
    vec_push(&s->filt, dup_filter(f), 0);
    if (f->filterId >= s->nextFilterId)
        s->nextFilterId = f->filterId + 1;
}

DWORD store_delete_filter(Store *s, const GUID *key, UINT64 dyn)
{
    int i = find_filter(s, key);
    if (i < 0)
        return (DWORD)FWP_E_FILTER_NOT_FOUND;
    if (dyn && s->filt.v[i].dynSession != dyn)
        return (DWORD)FWP_E_DYNAMIC_SESSION_IN_PROGRESS;
    vec_remove(&s->filt, (UINT32)i);
    return ERROR_SUCCESS;
}

DWORD store_delete_sublayer(Store *s, const GUID *key, UINT64 dyn)
{
    int i = find_sublayer(s, key);
    if (i < 0)
        return emu_builtin_sublayer(key) ? (DWORD)FWP_E_BUILTIN_OBJECT : (DWORD)FWP_E_SUBLAYER_NOT_FOUND;
    if (dyn && s->sub.v[i].dynSession != dyn)
        return (DWORD)FWP_E_DYNAMIC_SESSION_IN_PROGRESS;
    for (UINT32 k = 0; k < s->filt.n; k++)
        if (guid_eq(&((FWPM_FILTER0 *)s->filt.v[k].obj)->subLayerKey, key))
            return (DWORD)FWP_E_IN_USE;
    vec_remove(&s->sub, (UINT32)i);
    return ERROR_SUCCESS;
}

DWORD store_delete_provider(Store *s, const GUID *key, UINT64 dyn)
{
    int i = find_provider(s, key);
    if (i < 0)
        return (DWORD)FWP_E_PROVIDER_NOT_FOUND;
    if (dyn && s->prov.v[i].dynSession != dyn)
        return (DWORD)FWP_E_DYNAMIC_SESSION_IN_PROGRESS;
    for (UINT32 k = 0; k < s->sub.n; k++) {
        const GUID *pk = ((FWPM_SUBLAYER0 *)s->sub.v[k].obj)->providerKey;
        if (pk && guid_eq(pk, key))
            return (DWORD)FWP_E_IN_USE;
    }
    for (UINT32 k = 0; k < s->filt.n; k++) {
        const GUID *pk = ((FWPM_FILTER0 *)s->filt.v[k].obj)->providerKey;
        if (pk && guid_eq(pk, key))
            return (DWORD)FWP_E_IN_USE;
    }
    vec_remove(&s->prov, (UINT32)i);
    return ERROR_SUCCESS;
}

void store_drop_session(Store *s, UINT64 dyn)
{
    for (UINT32 i = s->filt.n; i-- > 0;)
        if (s->filt.v[i].dynSession == dyn)
            vec_remove(&s->filt, i);
    for (UINT32 i = s->sub.n; i-- > 0;)
        if (s->sub.v[i].dynSession == dyn)
            vec_remove(&s->sub, i);
    for (UINT32 i = s->prov.n; i-- > 0;)
        if (s->prov.v[i].dynSession == dyn)
            vec_remove(&s->prov, i);
}
