/* JSON forms of the WFP structs for the call log (one object per call, see api.c). */
#include "emu.h"

static const char *type_name(UINT32 t)
{
    switch (t) {
    case FWP_EMPTY: return "FWP_EMPTY";
    case FWP_UINT8: return "FWP_UINT8";
    case FWP_UINT16: return "FWP_UINT16";
    case FWP_UINT32: return "FWP_UINT32";
    case FWP_UINT64: return "FWP_UINT64";
    case FWP_INT8: return "FWP_INT8";
    case FWP_INT16: return "FWP_INT16";
    case FWP_INT32: return "FWP_INT32";
    case FWP_INT64: return "FWP_INT64";
    case FWP_FLOAT: return "FWP_FLOAT";
    case FWP_DOUBLE: return "FWP_DOUBLE";
    case FWP_BYTE_ARRAY16_TYPE: return "FWP_BYTE_ARRAY16_TYPE";
    case FWP_BYTE_BLOB_TYPE: return "FWP_BYTE_BLOB_TYPE";
    case FWP_SID: return "FWP_SID";
    case FWP_SECURITY_DESCRIPTOR_TYPE: return "FWP_SECURITY_DESCRIPTOR_TYPE";
    case FWP_TOKEN_INFORMATION_TYPE: return "FWP_TOKEN_INFORMATION_TYPE";
    case FWP_TOKEN_ACCESS_INFORMATION_TYPE: return "FWP_TOKEN_ACCESS_INFORMATION_TYPE";
    case FWP_UNICODE_STRING_TYPE: return "FWP_UNICODE_STRING_TYPE";
    case FWP_BYTE_ARRAY6_TYPE: return "FWP_BYTE_ARRAY6_TYPE";
    case FWP_V4_ADDR_MASK: return "FWP_V4_ADDR_MASK";
    case FWP_V6_ADDR_MASK: return "FWP_V6_ADDR_MASK";
    case FWP_RANGE_TYPE: return "FWP_RANGE_TYPE";
    }
    return NULL;
}

static const char *match_name(UINT32 m)
{
    static const char *const names[] = {
        "FWP_MATCH_EQUAL", "FWP_MATCH_GREATER", "FWP_MATCH_LESS", "FWP_MATCH_GREATER_OR_EQUAL",
        "FWP_MATCH_LESS_OR_EQUAL", "FWP_MATCH_RANGE", "FWP_MATCH_FLAGS_ALL_SET", "FWP_MATCH_FLAGS_ANY_SET",
        "FWP_MATCH_FLAGS_NONE_SET", "FWP_MATCH_EQUAL_CASE_INSENSITIVE", "FWP_MATCH_NOT_EQUAL", "FWP_MATCH_PREFIX",
        "FWP_MATCH_NOT_PREFIX",
    };
    return m < sizeof names / sizeof names[0] ? names[m] : NULL;
}

static void js_blob(Sb *b, const FWP_BYTE_BLOB *blob)
{
    if (!blob) {
        sb_puts(b, "null");
        return;
    }
    sb_putc(b, '"');
    if (blob->data)
        sb_hex(b, blob->data, blob->size);
    sb_putc(b, '"');
}

static void js_sd_blob(Sb *b, const FWP_BYTE_BLOB *blob)
{
    sb_puts(b, ",\"hex\":");
    js_blob(b, blob);
    if (!blob || !blob->data || !sd_valid_self_relative(blob->data, blob->size)) {
        sb_puts(b, ",\"valid\":false");
        return;
    }
    sb_puts(b, ",\"valid\":true,\"sddl\":\"");
    sb_sddl(b, blob->data, blob->size);
    sb_puts(b, "\",\"sddlAdvapi\":");
    sb_sddl_advapi(b, blob->data);
}

void js_value(Sb *b, const FWP_CONDITION_VALUE0 *v)
{
    sb_printf(b, "{\"type\":%u,\"typeName\":", (unsigned)v->type);
    sb_json_str(b, type_name(v->type));
    switch (v->type) {
    case FWP_EMPTY:
        break;
    case FWP_UINT8: sb_printf(b, ",\"value\":%u", v->uint8); break;
    case FWP_UINT16: sb_printf(b, ",\"value\":%u", v->uint16); break;
    case FWP_UINT32: sb_printf(b, ",\"value\":%lu", (unsigned long)v->uint32); break;
    case FWP_INT8: sb_printf(b, ",\"value\":%d", v->int8); break;
    case FWP_INT16: sb_printf(b, ",\"value\":%d", v->int16); break;
    case FWP_INT32: sb_printf(b, ",\"value\":%ld", (long)v->int32); break;
    case FWP_FLOAT: sb_printf(b, ",\"value\":%g", (double)v->float32); break;
    case FWP_UINT64:
        if (v->uint64)
            sb_printf(b, ",\"value\":%llu", (unsigned long long)*v->uint64);
        break;
    case FWP_INT64:
        if (v->int64)
            sb_printf(b, ",\"value\":%lld", (long long)*v->int64);
        break;
    case FWP_DOUBLE:
        if (v->double64)
            sb_printf(b, ",\"value\":%g", *v->double64);
        break;
    case FWP_BYTE_ARRAY16_TYPE:
        if (v->byteArray16) {
            sb_puts(b, ",\"hex\":\"");
            sb_hex(b, v->byteArray16->byteArray16, 16);
            sb_putc(b, '"');
        }
        break;
    case FWP_BYTE_ARRAY6_TYPE:
        if (v->byteArray6) {
            sb_puts(b, ",\"hex\":\"");
            sb_hex(b, v->byteArray6->byteArray6, 6);
            sb_putc(b, '"');
        }
        break;
    case FWP_BYTE_BLOB_TYPE:
    case FWP_TOKEN_ACCESS_INFORMATION_TYPE:
        sb_puts(b, ",\"hex\":");
        js_blob(b, v->byteBlob);
        break;
    case FWP_SECURITY_DESCRIPTOR_TYPE:
        js_sd_blob(b, v->sd);
        break;
    case FWP_SID:
        if (v->sid && sid_valid((const BYTE *)v->sid, 8 + 4 * SID_MAX_SUB_AUTHORITIES, NULL)) {
            sb_puts(b, ",\"sid\":");
            sb_sid(b, v->sid);
        }
        break;
    case FWP_UNICODE_STRING_TYPE:
        sb_puts(b, ",\"value\":");
        sb_json_wstr(b, v->unicodeString);
        break;
    case FWP_V4_ADDR_MASK:
        if (v->v4AddrMask) {
            UINT32 a = v->v4AddrMask->addr, m = v->v4AddrMask->mask;
            sb_printf(b, ",\"addr\":\"%lu.%lu.%lu.%lu\",\"mask\":\"%lu.%lu.%lu.%lu\"", (unsigned long)(a >> 24),
                      (unsigned long)(a >> 16 & 255), (unsigned long)(a >> 8 & 255), (unsigned long)(a & 255),
                      (unsigned long)(m >> 24), (unsigned long)(m >> 16 & 255), (unsigned long)(m >> 8 & 255),
                      (unsigned long)(m & 255));
        }
        break;
    case FWP_V6_ADDR_MASK:
        if (v->v6AddrMask) {
            sb_puts(b, ",\"addrHex\":\"");
            sb_hex(b, v->v6AddrMask->addr, 16);
            sb_printf(b, "\",\"prefixLength\":%u", v->v6AddrMask->prefixLength);
        }
        break;
    case FWP_RANGE_TYPE:
        if (v->rangeValue) {
            sb_puts(b, ",\"low\":");
            js_value(b, (const FWP_CONDITION_VALUE0 *)&v->rangeValue->valueLow);
            sb_puts(b, ",\"high\":");
            js_value(b, (const FWP_CONDITION_VALUE0 *)&v->rangeValue->valueHigh);
        }
        break;
    case FWP_TOKEN_INFORMATION_TYPE:
        if (v->tokenInformation)
            sb_printf(b, ",\"sidCount\":%lu,\"restrictedSidCount\":%lu", v->tokenInformation->sidCount,
                      v->tokenInformation->restrictedSidCount);
        break;
    default:
        break;
    }
    sb_putc(b, '}');
}

static void js_display(Sb *b, const FWPM_DISPLAY_DATA0 *d)
{
    sb_puts(b, "\"name\":");
    sb_json_wstr(b, d->name);
    sb_puts(b, ",\"description\":");
    sb_json_wstr(b, d->description);
}

void js_provider(Sb *b, const FWPM_PROVIDER0 *p)
{
    if (!p) {
        sb_puts(b, "null");
        return;
    }
    sb_puts(b, "{\"key\":");
    sb_guid(b, &p->providerKey);
    sb_putc(b, ',');
    js_display(b, &p->displayData);
    sb_printf(b, ",\"flags\":%lu,\"providerData\":", (unsigned long)p->flags);
    js_blob(b, &p->providerData);
    sb_puts(b, ",\"serviceName\":");
    sb_json_wstr(b, p->serviceName);
    sb_putc(b, '}');
}

void js_sublayer(Sb *b, const FWPM_SUBLAYER0 *s)
{
    if (!s) {
        sb_puts(b, "null");
        return;
    }
    sb_puts(b, "{\"key\":");
    sb_guid(b, &s->subLayerKey);
    sb_putc(b, ',');
    js_display(b, &s->displayData);
    sb_printf(b, ",\"flags\":%lu,\"providerKey\":", (unsigned long)emu_sublayer_flags(s));
    sb_guid(b, s->providerKey);
    sb_puts(b, ",\"providerData\":");
    js_blob(b, &s->providerData);
    sb_printf(b, ",\"weight\":%u}", s->weight);
}

static void js_named_guid(Sb *b, const char *field, const GUID *g, const char *name)
{
    sb_printf(b, ",\"%s\":", field);
    sb_guid(b, g);
    sb_printf(b, ",\"%sName\":", field);
    sb_json_str(b, name);
}

void js_filter(Sb *b, const FWPM_FILTER0 *f)
{
    if (!f) {
        sb_puts(b, "null");
        return;
    }
    sb_puts(b, "{\"key\":");
    sb_guid(b, &f->filterKey);
    sb_putc(b, ',');
    js_display(b, &f->displayData);
    sb_printf(b, ",\"flags\":%lu,\"providerKey\":", (unsigned long)f->flags);
    sb_guid(b, f->providerKey);
    sb_puts(b, ",\"providerData\":");
    js_blob(b, &f->providerData);
    js_named_guid(b, "layerKey", &f->layerKey, emu_layer_name(&f->layerKey));
    js_named_guid(b, "subLayerKey", &f->subLayerKey, emu_sublayer_name(&f->subLayerKey));
    sb_puts(b, ",\"weight\":");
    js_value(b, (const FWP_CONDITION_VALUE0 *)&f->weight);
    sb_printf(b, ",\"action\":{\"type\":%lu,\"calloutKey\":", (unsigned long)f->action.type);
    sb_guid(b, &f->action.calloutKey);
    sb_printf(b, "},\"rawContext\":%llu,\"filterId\":%llu,\"effectiveWeight\":", (unsigned long long)f->rawContext,
              (unsigned long long)f->filterId);
    js_value(b, (const FWP_CONDITION_VALUE0 *)&f->effectiveWeight);
    sb_printf(b, ",\"numFilterConditions\":%lu,\"conditions\":[", (unsigned long)f->numFilterConditions);
    for (UINT32 i = 0; f->filterCondition && i < f->numFilterConditions; i++) {
        const FWPM_FILTER_CONDITION0 *c = &f->filterCondition[i];
        if (i)
            sb_putc(b, ',');
        sb_puts(b, "{\"fieldKey\":");
        sb_guid(b, &c->fieldKey);
        sb_puts(b, ",\"fieldKeyName\":");
        sb_json_str(b, emu_field_name(&c->fieldKey));
        sb_printf(b, ",\"matchType\":%u,\"matchTypeName\":", (unsigned)c->matchType);
        sb_json_str(b, match_name(c->matchType));
        sb_puts(b, ",\"value\":");
        js_value(b, &c->conditionValue);
        sb_putc(b, '}');
    }
    sb_puts(b, "]}");
}

void js_session(Sb *b, const FWPM_SESSION0 *s)
{
    if (!s) {
        sb_puts(b, "null");
        return;
    }
    sb_puts(b, "{\"key\":");
    sb_guid(b, &s->sessionKey);
    sb_putc(b, ',');
    js_display(b, &s->displayData);
    sb_printf(b, ",\"flags\":%lu,\"txnWaitTimeoutInMSec\":%lu}", (unsigned long)s->flags,
              (unsigned long)s->txnWaitTimeoutInMSec);
}

void js_filter_template(Sb *b, const FWPM_FILTER_ENUM_TEMPLATE0 *t)
{
    if (!t) {
        sb_puts(b, "null");
        return;
    }
    sb_puts(b, "{\"providerKey\":");
    sb_guid(b, t->providerKey);
    js_named_guid(b, "layerKey", &t->layerKey, emu_layer_name(&t->layerKey));
    sb_printf(b, ",\"enumType\":%u,\"flags\":%lu,\"numFilterConditions\":%lu,\"actionMask\":%lu,\"calloutKey\":",
              (unsigned)t->enumType, (unsigned long)t->flags, (unsigned long)t->numFilterConditions,
              (unsigned long)t->actionMask);
    sb_guid(b, t->calloutKey);
    sb_putc(b, '}');
}

void js_sd_param(Sb *b, PSECURITY_DESCRIPTOR sd)
{
    if (!sd) {
        sb_puts(b, "null");
        return;
    }
    if (!IsValidSecurityDescriptor(sd)) {
        sb_puts(b, "{\"valid\":false}");
        return;
    }
    DWORD len = GetSecurityDescriptorLength(sd);
    /* The bytes as passed, so a test can decode the descriptor itself (the DACL, the
       rights of each ACE) instead of trusting advapi's SDDL rendering; and whether it is
       self-relative (SE_SELF_RELATIVE, 0x8000, in the Control word at offset 2): the
       form a caller can hand over as one block, which is what wfpsandbox builds. */
    SECURITY_DESCRIPTOR_CONTROL control = 0;
    DWORD revision = 0;
    GetSecurityDescriptorControl(sd, &control, &revision);
    BOOL selfRelative = (control & SE_SELF_RELATIVE) != 0;
    sb_printf(b, "{\"valid\":true,\"length\":%lu,\"selfRelative\":%s,\"bytes\":",
              (unsigned long)len, selfRelative ? "true" : "false");
    if (selfRelative) {
        sb_putc(b, '"');
        sb_hex(b, (const BYTE *)sd, len);
        sb_putc(b, '"');
    } else {
        sb_puts(b, "null");
    }
    sb_puts(b, ",\"sddlAdvapi\":");
    sb_sddl_advapi(b, sd);
    sb_putc(b, '}');
}
