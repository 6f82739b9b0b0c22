/*
 * win32-smoke.c - a Windows-only smoke program for the Win32 glue of the hcs
 * driver and hns plug-in (runtime/hcs/hcs-win32.c, netplugins/hns/hcn-win32.c).
 * It loads computecore.dll and computenetwork.dll the way the product does
 * and prints what it found; on a host without HCS (or under wine) it must
 * print "HCS is not available on this host (...)" and exit 1, never fail to
 * start. Not built by CMake; cross-built by hand (see tests/hcsemu/README.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netplugins/hns/hns.h"
#include "runtime/hcs/hcs.h"

#ifdef _WIN32
/* MinGW-w64's CRT has no strndup, which common/stk-alloc.c uses. */
char *strndup(const char *s, size_t n);
char *strndup(const char *s, size_t n)
{
    size_t l = strnlen(s, n);
    char *p = malloc(l + 1);

    if (p) {
        memcpy(p, s, l);
        p[l] = '\0';
    }
    return p;
}
#endif

int main(void)
{
    struct stk_err err = STK_ERR_INIT;
    const struct hcs_api *hcs = rt_hcs_api_win32(&err);
    const struct hcn_api *hcn;
    enum rt_hcs_edition edition;
    char build[64];

    printf("hcs: %s\n", hcs ? hcs->name : err.msg);
    stk_err_clear(&err);
    hcn = net_hns_api_win32(&err);
    printf("hcn: %s\n", hcn ? hcn->name : err.msg);
    stk_err_clear(&err);
    rt_hcs_win32_host_version(build, sizeof(build), &edition);
    printf("host: %s %s\n", build, edition == RT_HCS_EDITION_CLIENT ? "client" : "server");
    return hcs && hcn ? 0 : 1;
}
