/*
 * bcryptprimitives.dll for Wine 8.0, which lacks it (Wine 9 has it), used
 * only by the Wine smoke test (wine_test.go), never shipped. Windows 10 and
 * later have this DLL, and Go's runtime (1.22 on) takes its random numbers
 * from its ProcessPrng at start-up; without it a Go .exe dies under Wine 8
 * with "fatal error: bcryptprimitives.dll not found". This stand-in serves
 * ProcessPrng from RtlGenRandom (advapi32's SystemFunction036), which Wine
 * has.
 */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!RtlGenRandom(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
