/* Prints the SID of the process's user: under Wine, the prefix's only ordinary account
 * (Wine maps the Unix user to S-1-5-21-0-0-0-1000), the one account LookupAccountSid knows
 * besides the built-in ones - so the only SID wfpsandbox setup accepts as a sandbox account. */
#include <windows.h>
#include <sddl.h>
#include <stdio.h>

int main(void)
{
    HANDLE tok;
    BYTE buf[256];
    DWORD n;
    LPWSTR s;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok) ||
        !GetTokenInformation(tok, TokenUser, buf, sizeof buf, &n) ||
        !ConvertSidToStringSidW(((TOKEN_USER *)buf)->User.Sid, &s)) {
        fprintf(stderr, "tokenuser: error %lu\n", GetLastError());
        return 1;
    }
    printf("%ls\n", s);
    return 0;
}
