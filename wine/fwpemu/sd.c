/*
 * Security descriptors: structural validation of the self-relative form WFP requires for
 * FWP_SECURITY_DESCRIPTOR_TYPE condition values, and SDDL for the call log.
 *
 * Layouts: SECURITY_DESCRIPTOR_RELATIVE, ACL, ACE_HEADER, SID in winnt.h; SDDL syntax in
 * https://learn.microsoft.com/windows/win32/secauthz/security-descriptor-string-format and
 * .../ace-strings; SID aliases in sddl.h (SDDL_EVERYONE "WD" and friends).
 *
 * Why an own SDDL decoder: Wine 8's advapi32 does not know the "WR" alias (WRITE RESTRICTED,
 * S-1-5-33): ConvertStringSecurityDescriptorToSecurityDescriptorW fails on it with
 * ERROR_INVALID_ACL and ConvertSecurityDescriptorToStringSecurityDescriptorW prints
 * S-1-5-33 where Windows prints WR. The log carries both: "sddl" (this decoder, Windows
 * spelling) and "sddlAdvapi" (what Wine's advapi32 returns).
 */
#include "emu.h"

#include <sddl.h>

UINT32 sid_length(const SID *sid)
{
    return 8 + 4 * (UINT32)sid->SubAuthorityCount;
}

BOOL sid_valid(const BYTE *p, UINT32 avail, UINT32 *len)
{
    if (avail < 8)
        return FALSE;
    const SID *sid = (const SID *)p;
    if (sid->Revision != SID_REVISION || sid->SubAuthorityCount > SID_MAX_SUB_AUTHORITIES)
        return FALSE;
    UINT32 n = sid_length(sid);
    if (n > avail)
        return FALSE;
    if (len)
        *len = n;
    return TRUE;
}

/* ACE types whose body is ACCESS_MASK followed by one SID (winnt.h). */
static BOOL simple_ace(BYTE type)
{
    switch (type) {
    case ACCESS_ALLOWED_ACE_TYPE:
    case ACCESS_DENIED_ACE_TYPE:
    case SYSTEM_AUDIT_ACE_TYPE:
    case SYSTEM_ALARM_ACE_TYPE:
    case ACCESS_ALLOWED_CALLBACK_ACE_TYPE:
    case ACCESS_DENIED_CALLBACK_ACE_TYPE:
    case SYSTEM_MANDATORY_LABEL_ACE_TYPE:
        return TRUE;
    }
    return FALSE;
}

static BOOL acl_valid(const BYTE *p, UINT32 avail)
{
    if (avail < sizeof(ACL))
        return FALSE;
    const ACL *acl = (const ACL *)p;
    if (acl->AclRevision < MIN_ACL_REVISION || acl->AclRevision > MAX_ACL_REVISION)
        return FALSE;
    if (acl->AclSize < sizeof(ACL) || acl->AclSize > avail || acl->AclSize % 4 != 0)
        return FALSE;
    UINT32 off = sizeof(ACL);
    for (UINT32 i = 0; i < acl->AceCount; i++) {
        if (off + sizeof(ACE_HEADER) > acl->AclSize)
            return FALSE;
        const ACE_HEADER *h = (const ACE_HEADER *)(p + off);
        if (h->AceSize < sizeof(ACE_HEADER) || h->AceSize % 4 != 0 || off + h->AceSize > acl->AclSize)
            return FALSE;
        if (simple_ace(h->AceType)) {
            UINT32 body = sizeof(ACE_HEADER) + sizeof(ACCESS_MASK);
            if (h->AceSize < body || !sid_valid(p + off + body, h->AceSize - body, NULL))
                return FALSE;
        }
        off += h->AceSize;
    }
    return TRUE;
}

BOOL sd_valid_self_relative(const BYTE *p, UINT32 n)
{
    if (!p || n < sizeof(SECURITY_DESCRIPTOR_RELATIVE))
        return FALSE;
    const SECURITY_DESCRIPTOR_RELATIVE *sd = (const SECURITY_DESCRIPTOR_RELATIVE *)p;
    if (sd->Revision != SECURITY_DESCRIPTOR_REVISION || !(sd->Control & SE_SELF_RELATIVE))
        return FALSE;
    const DWORD offs[2] = {sd->Owner, sd->Group};
    for (int i = 0; i < 2; i++) {
        if (offs[i] == 0)
            continue;
        if (offs[i] < sizeof *sd || offs[i] >= n || !sid_valid(p + offs[i], n - offs[i], NULL))
            return FALSE;
    }
    if ((sd->Control & SE_DACL_PRESENT) && sd->Dacl != 0) {
        if (sd->Dacl < sizeof *sd || sd->Dacl >= n || !acl_valid(p + sd->Dacl, n - sd->Dacl))
            return FALSE;
    }
    if ((sd->Control & SE_SACL_PRESENT) && sd->Sacl != 0) {
        if (sd->Sacl < sizeof *sd || sd->Sacl >= n || !acl_valid(p + sd->Sacl, n - sd->Sacl))
            return FALSE;
    }
    return TRUE;
}

/* SID string aliases Windows prints for machine-independent SIDs (sddl.h). */
static const struct {
    const char *alias, *sid;
} sid_aliases[] = {
    {"WD", "S-1-1-0"},      {"CO", "S-1-3-0"},      {"CG", "S-1-3-1"},      {"NU", "S-1-5-2"},
    {"IU", "S-1-5-4"},      {"SU", "S-1-5-6"},      {"AN", "S-1-5-7"},      {"PS", "S-1-5-10"},
    {"AU", "S-1-5-11"},     {"RC", "S-1-5-12"},     {"SY", "S-1-5-18"},     {"LS", "S-1-5-19"},
    {"NS", "S-1-5-20"},     {"WR", "S-1-5-33"},     {"BA", "S-1-5-32-544"}, {"BU", "S-1-5-32-545"},
    {"BG", "S-1-5-32-546"}, {"AC", "S-1-15-2-1"},   {"LW", "S-1-16-4096"},  {"ME", "S-1-16-8192"},
    {"HI", "S-1-16-12288"}, {"SI", "S-1-16-16384"},
};

static void sid_string(Sb *b, const SID *sid)
{
    ULONGLONG auth = 0;
    for (int i = 0; i < 6; i++)
        auth = (auth << 8) | sid->IdentifierAuthority.Value[i];
    sb_printf(b, "S-%u-", sid->Revision);
    if (auth >= 0x100000000ULL)
        sb_printf(b, "0x%012llx", auth);
    else
        sb_printf(b, "%llu", auth);
    for (int i = 0; i < sid->SubAuthorityCount; i++)
        sb_printf(b, "-%lu", (unsigned long)sid->SubAuthority[i]);
}

void sb_sid(Sb *b, const SID *sid)
{
    if (!sid) {
        sb_puts(b, "null");
        return;
    }
    sb_putc(b, '"');
    sid_string(b, sid);
    sb_putc(b, '"');
}

static void sddl_sid(Sb *b, const SID *sid)
{
    Sb t = {0};
    sid_string(&t, sid);
    for (size_t i = 0; i < sizeof sid_aliases / sizeof sid_aliases[0]; i++) {
        if (strcmp(t.p, sid_aliases[i].sid) == 0) {
            sb_puts(b, sid_aliases[i].alias);
            sb_free(&t);
            return;
        }
    }
    sb_puts(b, t.p);
    sb_free(&t);
}

/* Access-right aliases in the order Windows prints them (sddl.h SDDL_* rights). */
static const struct {
    const char *alias;
    DWORD bit;
} right_aliases[] = {
    {"GA", GENERIC_ALL}, {"GR", GENERIC_READ}, {"GW", GENERIC_WRITE}, {"GX", GENERIC_EXECUTE},
    {"CC", 0x1},         {"DC", 0x2},          {"LC", 0x4},           {"SW", 0x8},
    {"RP", 0x10},        {"WP", 0x20},         {"DT", 0x40},          {"LO", 0x80},
    {"CR", 0x100},       {"SD", DELETE},       {"RC", READ_CONTROL},  {"WD", WRITE_DAC},
    {"WO", WRITE_OWNER},
};

static void sddl_rights(Sb *b, DWORD mask)
{
    DWORD known = 0;
    for (size_t i = 0; i < sizeof right_aliases / sizeof right_aliases[0]; i++)
        known |= right_aliases[i].bit;
    if (mask == 0 || (mask & ~known) != 0) {
        sb_printf(b, "0x%lx", (unsigned long)mask);
        return;
    }
    for (size_t i = 0; i < sizeof right_aliases / sizeof right_aliases[0]; i++)
        if (mask & right_aliases[i].bit)
            sb_puts(b, right_aliases[i].alias);
}

static void sddl_acl(Sb *b, const BYTE *p)
{
    const ACL *acl = (const ACL *)p;
    UINT32 off = sizeof(ACL);
    for (UINT32 i = 0; i < acl->AceCount; i++) {
        const ACE_HEADER *h = (const ACE_HEADER *)(p + off);
        sb_putc(b, '(');
        switch (h->AceType) {
        case ACCESS_ALLOWED_ACE_TYPE: sb_puts(b, "A"); break;
        case ACCESS_DENIED_ACE_TYPE: sb_puts(b, "D"); break;
        case SYSTEM_AUDIT_ACE_TYPE: sb_puts(b, "AU"); break;
        case SYSTEM_ALARM_ACE_TYPE: sb_puts(b, "AL"); break;
        case SYSTEM_MANDATORY_LABEL_ACE_TYPE: sb_puts(b, "ML"); break;
        default: sb_printf(b, "0x%x", h->AceType);
        }
        sb_putc(b, ';');
        static const struct {
            const char *alias;
            BYTE bit;
        } flags[] = {{"OI", OBJECT_INHERIT_ACE},  {"CI", CONTAINER_INHERIT_ACE},      {"NP", NO_PROPAGATE_INHERIT_ACE},
                     {"IO", INHERIT_ONLY_ACE},    {"ID", INHERITED_ACE},              {"SA", SUCCESSFUL_ACCESS_ACE_FLAG},
                     {"FA", FAILED_ACCESS_ACE_FLAG}};
        for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
            if (h->AceFlags & flags[k].bit)
                sb_puts(b, flags[k].alias);
        sb_putc(b, ';');
        if (simple_ace(h->AceType)) {
            const ACCESS_ALLOWED_ACE *a = (const ACCESS_ALLOWED_ACE *)h;
            sddl_rights(b, a->Mask);
            sb_puts(b, ";;;");
            sddl_sid(b, (const SID *)&a->SidStart);
        } else {
            sb_puts(b, "?;;;?");
        }
        sb_putc(b, ')');
        off += h->AceSize;
    }
}

void sb_sddl(Sb *b, const BYTE *p, UINT32 n)
{
    (void)n; /* validated by the caller */
    const SECURITY_DESCRIPTOR_RELATIVE *sd = (const SECURITY_DESCRIPTOR_RELATIVE *)p;
    if (sd->Owner) {
        sb_puts(b, "O:");
        sddl_sid(b, (const SID *)(p + sd->Owner));
    }
    if (sd->Group) {
        sb_puts(b, "G:");
        sddl_sid(b, (const SID *)(p + sd->Group));
    }
    if (sd->Control & SE_DACL_PRESENT) {
        sb_puts(b, "D:");
        if (sd->Control & SE_DACL_PROTECTED)
            sb_puts(b, "P");
        if (sd->Control & SE_DACL_AUTO_INHERIT_REQ)
            sb_puts(b, "AR");
        if (sd->Control & SE_DACL_AUTO_INHERITED)
            sb_puts(b, "AI");
        if (sd->Dacl == 0)
            sb_puts(b, "NO_ACCESS_CONTROL");
        else
            sddl_acl(b, p + sd->Dacl);
    }
    if ((sd->Control & SE_SACL_PRESENT) && sd->Sacl != 0) {
        sb_puts(b, "S:");
        sddl_acl(b, p + sd->Sacl);
    }
}

void sb_sddl_advapi(Sb *b, const BYTE *sd)
{
    LPWSTR s = NULL;
    if (!ConvertSecurityDescriptorToStringSecurityDescriptorW(
            (PSECURITY_DESCRIPTOR)sd, SDDL_REVISION_1,
            OWNER_SECURITY_INFORMATION | GROUP_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION, &s, NULL)) {
        sb_puts(b, "null");
        return;
    }
    sb_json_wstr(b, s);
    LocalFree(s);
}
