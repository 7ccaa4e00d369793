/* Deletes one filter by key through the WFP management API, as another tool (or an
 * administrator's script) tampering with wfpsandbox's policy would: FwpmEngineOpen0,
 * FwpmFilterDeleteByKey0, FwpmEngineClose0, in a process of its own. Under the Wine tests
 * the API is the emulator's fwpuclnt.dll, so the deletion goes through its store like any
 * other client's. Usage: delfilter.exe KEY (with or without braces). Exit 0 when deleted;
 * 1 with the failing call and its status on stderr.
 * https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmfilterdeletebykey0 */
#include <winsock2.h>
#include <windows.h>
#include <fwpmu.h>
#include <rpc.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    char buf[64];
    GUID key;
    HANDLE engine;
    DWORD st;
    size_t n;
    if (argc != 2) {
        fprintf(stderr, "usage: delfilter KEY\n");
        return 2;
    }
    n = strlen(argv[1]);
    if (n >= sizeof buf) {
        fprintf(stderr, "delfilter: key too long\n");
        return 2;
    }
    strcpy(buf, argv[1][0] == '{' ? argv[1] + 1 : argv[1]);
    n = strlen(buf);
    if (n > 0 && buf[n - 1] == '}')
        buf[n - 1] = 0;
    if (UuidFromStringA((RPC_CSTR)buf, &key) != RPC_S_OK) {
        fprintf(stderr, "delfilter: %s is not a GUID\n", argv[1]);
        return 2;
    }
    if ((st = FwpmEngineOpen0(NULL, RPC_C_AUTHN_WINNT, NULL, NULL, &engine)) != ERROR_SUCCESS) {
        fprintf(stderr, "delfilter: FwpmEngineOpen0: 0x%08lX\n", (unsigned long)st);
        return 1;
    }
    st = FwpmFilterDeleteByKey0(engine, &key);
    FwpmEngineClose0(engine);
    if (st != ERROR_SUCCESS) {
        fprintf(stderr, "delfilter: FwpmFilterDeleteByKey0 %s: 0x%08lX\n", argv[1], (unsigned long)st);
        return 1;
    }
    return 0;
}
