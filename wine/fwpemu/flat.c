/*
 * Deep copies of WFP structs. Every object the DLL keeps, and every object it returns, is
 * one heap block holding the struct and everything it points to, as the real fwpuclnt.dll
 * returns it: one FwpmFreeMemory0 frees it all. Copies run twice over a Bump: once to
 * measure (buf == NULL, nothing written) and once to write.
 */
#include "emu.h"

#include <wchar.h>

void *bump(Bump *b, SIZE_T n, SIZE_T align)
{
    b->off = (b->off + align - 1) & ~(align - 1);
    void *p = b->buf ? b->buf + b->off : NULL;
    b->off += n;
    return p;
}

static BYTE *bump_bytes(Bump *b, const void *src, SIZE_T n)
{
    if (!src || n == 0)
        return NULL;
    BYTE *d = bump(b, n, 8);
    if (d)
        memcpy(d, src, n);
    return d;
}

static WCHAR *bump_wstr(Bump *b, const WCHAR *s)
{
    return s ? (WCHAR *)bump_bytes(b, s, (wcslen(s) + 1) * sizeof(WCHAR)) : NULL;
}

static void bump_blob(Bump *b, FWP_BYTE_BLOB *dst, const FWP_BYTE_BLOB *src)
{
    BYTE *d = bump_bytes(b, src->data, src->size);
    if (dst) {
        dst->size = src->data ? src->size : 0;
        dst->data = d;
    }
}

static FWP_BYTE_BLOB *bump_blob_ptr(Bump *b, const FWP_BYTE_BLOB *src)
{
    if (!src)
        return NULL;
    FWP_BYTE_BLOB *d = bump(b, sizeof *d, 8);
    bump_blob(b, d, src);
    return d;
}

static void bump_display(Bump *b, FWPM_DISPLAY_DATA0 *dst, const FWPM_DISPLAY_DATA0 *src)
{
    WCHAR *name = bump_wstr(b, src->name);
    WCHAR *desc = bump_wstr(b, src->description);
    if (dst) {
        dst->name = name;
        dst->description = desc;
    }
}

static SID *bump_sid(Bump *b, const SID *s)
{
    return s ? (SID *)bump_bytes(b, s, sid_length(s)) : NULL;
}

static FWP_TOKEN_INFORMATION *bump_token_info(Bump *b, const FWP_TOKEN_INFORMATION *src)
{
    if (!src)
        return NULL;
    FWP_TOKEN_INFORMATION *d = bump(b, sizeof *d, 8);
    SID_AND_ATTRIBUTES *sids = src->sidCount ? bump(b, src->sidCount * sizeof *sids, 8) : NULL;
    SID_AND_ATTRIBUTES *rsids = src->restrictedSidCount ? bump(b, src->restrictedSidCount * sizeof *rsids, 8) : NULL;
    for (ULONG i = 0; i < src->sidCount; i++) {
        SID *s = bump_sid(b, src->sids[i].Sid);
        if (sids) {
            sids[i].Sid = s;
            sids[i].Attributes = src->sids[i].Attributes;
        }
    }
    for (ULONG i = 0; i < src->restrictedSidCount; i++) {
        SID *s = bump_sid(b, src->restrictedSids[i].Sid);
        if (rsids) {
            rsids[i].Sid = s;
            rsids[i].Attributes = src->restrictedSids[i].Attributes;
        }
    }
    if (d) {
        *d = *src;
        d->sids = sids;
        d->restrictedSids = rsids;
    }
    return d;
}

/* FWP_VALUE0 and FWP_CONDITION_VALUE0 share their layout; a FWP_VALUE0 never holds the three
 * condition-only types, so one copier serves both. */
static void bump_value(Bump *b, FWP_CONDITION_VALUE0 *dst, const FWP_CONDITION_VALUE0 *src)
{
    if (dst)
        *dst = *src;
    void *p = NULL;
    switch (src->type) {
    case FWP_UINT64:
    case FWP_INT64:
    case FWP_DOUBLE:
        p = bump_bytes(b, src->uint64, 8);
        break;
    case FWP_BYTE_ARRAY16_TYPE:
        p = bump_bytes(b, src->byteArray16, sizeof(FWP_BYTE_ARRAY16));
        break;
    case FWP_BYTE_ARRAY6_TYPE:
        p = bump_bytes(b, src->byteArray6, sizeof(FWP_BYTE_ARRAY6));
        break;
    case FWP_BYTE_BLOB_TYPE:
    case FWP_SECURITY_DESCRIPTOR_TYPE:
    case FWP_TOKEN_ACCESS_INFORMATION_TYPE:
        p = bump_blob_ptr(b, src->byteBlob);
        break;
    case FWP_SID:
        p = bump_sid(b, src->sid);
        break;
    case FWP_TOKEN_INFORMATION_TYPE:
        p = bump_token_info(b, src->tokenInformation);
        break;
    case FWP_UNICODE_STRING_TYPE:
        p = bump_wstr(b, src->unicodeString);
        break;
    case FWP_V4_ADDR_MASK:
        p = bump_bytes(b, src->v4AddrMask, sizeof(FWP_V4_ADDR_AND_MASK));
        break;
    case FWP_V6_ADDR_MASK:
        p = bump_bytes(b, src->v6AddrMask, sizeof(FWP_V6_ADDR_AND_MASK));
        break;
    case FWP_RANGE_TYPE: {
        FWP_RANGE0 *r = bump(b, sizeof *r, 8);
        bump_value(b, r ? (FWP_CONDITION_VALUE0 *)&r->valueLow : NULL, (const FWP_CONDITION_VALUE0 *)&src->rangeValue->valueLow);
        bump_value(b, r ? (FWP_CONDITION_VALUE0 *)&r->valueHigh : NULL, (const FWP_CONDITION_VALUE0 *)&src->rangeValue->valueHigh);
        p = r;
        break;
    }
    default:
        return; /* inline scalar or FWP_EMPTY: *dst = *src was enough */
    }
    if (dst)
        dst->uint64 = p; /* every pointer member of the union sits at the same offset */
}

static GUID *bump_guid_ptr(Bump *b, const GUID *g)
{
    if (!g)
        return NULL;
    GUID *d = bump(b, sizeof *d, 4);
    if (d)
        *d = *g;
    return d;
}

FWPM_PROVIDER0 *bump_provider(Bump *b, const FWPM_PROVIDER0 *src)
{
    FWPM_PROVIDER0 *d = bump(b, sizeof *d, 8);
    if (d)
        *d = *src;
    bump_display(b, d ? &d->displayData : NULL, &src->displayData);
    bump_blob(b, d ? &d->providerData : NULL, &src->providerData);
    WCHAR *svc = bump_wstr(b, src->serviceName);
    if (d)
        d->serviceName = svc;
    return d;
}

FWPM_SUBLAYER0 *bump_sublayer(Bump *b, const FWPM_SUBLAYER0 *src)
{
    FWPM_SUBLAYER0 *d = bump(b, sizeof *d, 8);
    if (d)
        *d = *src; /* copies the SDK's UINT32 flags with the bytes mingw calls padding */
    bump_display(b, d ? &d->displayData : NULL, &src->displayData);
    GUID *pk = bump_guid_ptr(b, src->providerKey);
    bump_blob(b, d ? &d->providerData : NULL, &src->providerData);
    if (d)
        d->providerKey = pk;
    return d;
}

FWPM_FILTER0 *bump_filter(Bump *b, const FWPM_FILTER0 *src)
{
    FWPM_FILTER0 *d = bump(b, sizeof *d, 8);
    if (d) {
        *d = *src;
        d->reserved = NULL;
    }
    bump_display(b, d ? &d->displayData : NULL, &src->displayData);
    GUID *pk = bump_guid_ptr(b, src->providerKey);
    bump_blob(b, d ? &d->providerData : NULL, &src->providerData);
    bump_value(b, d ? (FWP_CONDITION_VALUE0 *)&d->weight : NULL, (const FWP_CONDITION_VALUE0 *)&src->weight);
    bump_value(b, d ? (FWP_CONDITION_VALUE0 *)&d->effectiveWeight : NULL,
               (const FWP_CONDITION_VALUE0 *)&src->effectiveWeight);
    FWPM_FILTER_CONDITION0 *conds = NULL;
    if (src->numFilterConditions && src->filterCondition) {
        conds = bump(b, src->numFilterConditions * sizeof *conds, 8);
        for (UINT32 i = 0; i < src->numFilterConditions; i++) {
            if (conds)
                conds[i] = src->filterCondition[i];
            bump_value(b, conds ? &conds[i].conditionValue : NULL, &src->filterCondition[i].conditionValue);
        }
    }
    if (d) {
        d->providerKey = pk;
        d->filterCondition = conds;
        if (!conds)
            d->numFilterConditions = 0;
    }
    return d;
}

#define DUP(kind, T)                                                                                               \
    T *dup_##kind(const T *src)                                                                                    \
    {                                                                                                              \
        Bump m = {0};                                                                                              \
        bump_##kind(&m, src);                                                                                      \
        Bump w = {emu_alloc(m.off), 0};                                                                            \
        return bump_##kind(&w, src);                                                                               \
    }
DUP(provider, FWPM_PROVIDER0)
DUP(sublayer, FWPM_SUBLAYER0)
DUP(filter, FWPM_FILTER0)

DWORD check_value(const FWP_CONDITION_VALUE0 *v, BOOL condition)
{
    switch (v->type) {
    case FWP_EMPTY:
    case FWP_UINT8:
    case FWP_UINT16:
    case FWP_UINT32:
    case FWP_INT8:
    case FWP_INT16:
    case FWP_INT32:
    case FWP_FLOAT:
        return ERROR_SUCCESS;
    case FWP_UINT64:
    case FWP_INT64:
    case FWP_DOUBLE:
    case FWP_BYTE_ARRAY16_TYPE:
    case FWP_BYTE_ARRAY6_TYPE:
    case FWP_SID:
    case FWP_UNICODE_STRING_TYPE:
        if (!v->uint64)
            return (DWORD)FWP_E_NULL_POINTER;
        if (v->type == FWP_SID && !sid_valid((const BYTE *)v->sid, 8 + 4 * SID_MAX_SUB_AUTHORITIES, NULL))
            return ERROR_INVALID_SID;
        return ERROR_SUCCESS;
    case FWP_BYTE_BLOB_TYPE:
    case FWP_TOKEN_ACCESS_INFORMATION_TYPE:
        if (!v->byteBlob || (v->byteBlob->size && !v->byteBlob->data))
            return (DWORD)FWP_E_NULL_POINTER;
        return ERROR_SUCCESS;
    case FWP_SECURITY_DESCRIPTOR_TYPE:
        if (!v->sd || (v->sd->size && !v->sd->data))
            return (DWORD)FWP_E_NULL_POINTER;
        /* "FWP_E_INVALID_SECURITY_DESCRIPTOR"-style failures come back as HRESULT_FROM_WIN32
         * (DOC nf-fwpmu-fwpmfilteradd0: absolute SD -> 0x8007053A). */
        if (!sd_valid_self_relative(v->sd->data, v->sd->size))
            return (DWORD)HRESULT_FROM_WIN32(ERROR_INVALID_SECURITY_DESCR);
        return ERROR_SUCCESS;
    case FWP_TOKEN_INFORMATION_TYPE: {
        const FWP_TOKEN_INFORMATION *t = v->tokenInformation;
        if (!t || (t->sidCount && !t->sids) || (t->restrictedSidCount && !t->restrictedSids))
            return (DWORD)FWP_E_NULL_POINTER;
        for (ULONG i = 0; i < t->sidCount; i++)
            if (!t->sids[i].Sid)
                return (DWORD)FWP_E_NULL_POINTER;
        for (ULONG i = 0; i < t->restrictedSidCount; i++)
            if (!t->restrictedSids[i].Sid)
                return (DWORD)FWP_E_NULL_POINTER;
        return ERROR_SUCCESS;
    }
    case FWP_V4_ADDR_MASK:
    case FWP_V6_ADDR_MASK:
    case FWP_RANGE_TYPE:
        if (!condition)
            return ERROR_INVALID_PARAMETER;
        if (!v->v4AddrMask)
            return (DWORD)FWP_E_NULL_POINTER;
        if (v->type == FWP_V6_ADDR_MASK && v->v6AddrMask->prefixLength > 128)
            return (DWORD)FWP_E_INVALID_NET_MASK;
        if (v->type == FWP_RANGE_TYPE) {
            const FWP_RANGE0 *r = v->rangeValue;
            if (r->valueLow.type != r->valueHigh.type)
                return (DWORD)FWP_E_INVALID_RANGE;
            DWORD st = check_value((const FWP_CONDITION_VALUE0 *)&r->valueLow, FALSE);
            if (st == ERROR_SUCCESS)
                st = check_value((const FWP_CONDITION_VALUE0 *)&r->valueHigh, FALSE);
            return st;
        }
        return ERROR_SUCCESS;
    default:
        return ERROR_INVALID_PARAMETER;
    }
}
