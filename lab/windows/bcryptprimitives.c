/*
 * bcryptprimitives.c: a TEST-ONLY stand-in for Windows' bcryptprimitives.dll, for running
 * trustdesk-client and its tests under Debian 12's Wine. Never shipped, never copied next
 * to the exe, never used on Windows.
 *
 * Why: Rust's std (1.78 and later) gets its random bytes (HashMap keys and the like) from
 * ProcessPrng in bcryptprimitives.dll, which Windows 10 and later have. Wine 8.0, the
 * version in Debian 12, has no bcryptprimitives.dll at all (Wine added it in 8.13; Debian 13's
 * Wine 10 has it), so every Rust program dies at load time there (exit 53, status c0000135)
 * before main runs.
 *
 * What it does: exports the one function the exe imports, ProcessPrng, and fills the buffer
 * from RtlGenRandom (advapi32's SystemFunction036), which Wine implements on the host's
 * random source. Built by lab/build-windows-client.sh:
 *
 *   x86_64-w64-mingw32-gcc -O2 -shared -s -o bcryptprimitives.dll bcryptprimitives.c -ladvapi32
 *
 * and put into the test Wine prefix's system32, loaded with
 * WINEDLLOVERRIDES=bcryptprimitives=n.
 */
#include <windows.h>

/* RtlGenRandom. <ntsecapi.h> declares it under this exported name; declared here to keep
 * the include list short. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* BOOL ProcessPrng(PBYTE pbData, SIZE_T cbData): documented to always return TRUE. A
 * SIZE_T can exceed RtlGenRandom's ULONG length, so fill the buffer in chunks. If the
 * source ever failed, stop the process rather than hand back predictable bytes: this is a
 * test harness, and silent zeroes would hide the failure. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000u ? 0x40000000u : (ULONG)len;
        if (!SystemFunction036(data, chunk)) {
            TerminateProcess(GetCurrentProcess(), 0xC0000001u); /* STATUS_UNSUCCESSFUL */
        }
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
