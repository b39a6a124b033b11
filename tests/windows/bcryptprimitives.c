/* A stand-in for Windows' bcryptprimitives.dll, for the Wine tests only (tests/windows.rs).
 *
 * Rust's standard library takes its random numbers from ProcessPrng in bcryptprimitives.dll,
 * which every Windows since 10 has and Debian's Wine 8 does not: without it confer.exe cannot
 * start under Wine. This gives ProcessPrng from Wine's RtlGenRandom (advapi32's
 * SystemFunction036), which Wine has. It is copied into the test's own Wine prefix, never
 * shipped with the app. */

#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG part = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, part))
            return FALSE;
        data += part;
        length -= part;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
