/*
 * hcs-compat.c - isolation resolution and Windows version matching
 * (reference §5.3 with its errata, §5.4; DESIGN.md §1 "version matching").
 */
#include "runtime/hcs/hcs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * The isolation names, kept here rather than taken from rt-driver.c so that
 * this file (linked into the HCS emulator of every test) pulls in no driver
 * registry.
 */
static const char *iso_name(enum rt_isolation iso)
{
    return iso == RT_ISOLATION_HYPERV ? "hyperv" : iso == RT_ISOLATION_PROCESS ? "process" : "?";
}

/* The stable-ABI LTSC builds of the §5.3 rule: Server 2022 and Server 2025. */
static const uint32_t ltsc_builds[] = {20348, 26100};

static int parse_u32(const char **p, uint32_t *ret)
{
    char *end;
    unsigned long v;

    if (**p < '0' || **p > '9')
        return -1;
    errno = 0;
    v = strtoul(*p, &end, 10);
    if (errno || v > UINT32_MAX)
        return -1;
    *ret = (uint32_t)v;
    *p = end;
    return 0;
}

int rt_hcs_os_version_parse(const char *s, struct rt_hcs_os_version *ret, struct stk_err *err)
{
    struct rt_hcs_os_version v = {0, 0, 0, 0};
    const char *p = s;

    if (!s || !ret)
        return stk_err_set(err, STK_EINVAL, 0, "no Windows version given");
    if (parse_u32(&p, &v.major) < 0 || *p++ != '.' || parse_u32(&p, &v.minor) < 0 || *p++ != '.' ||
        parse_u32(&p, &v.build) < 0)
        return stk_err_set(err, STK_EINVAL, 0,
                           "'%s' is not a Windows version (major.minor.build[.revision])", s);
    if (*p == '.') {
        p++;
        if (parse_u32(&p, &v.revision) < 0)
            return stk_err_set(err, STK_EINVAL, 0, "'%s' is not a Windows version", s);
    }
    if (*p)
        return stk_err_set(err, STK_EINVAL, 0, "'%s' is not a Windows version", s);
    *ret = v;
    return 0;
}

int rt_hcs_edition_from_string(const char *s)
{
    if (s && strcasecmp(s, "server") == 0)
        return RT_HCS_EDITION_SERVER;
    if (s && strcasecmp(s, "client") == 0)
        return RT_HCS_EDITION_CLIENT;
    return -1;
}

int rt_hcs_resolve_isolation(const char *requested, enum rt_hcs_edition edition,
                             enum rt_isolation *ret, struct stk_err *err)
{
    enum rt_isolation iso;

    if (!ret)
        return stk_err_set(err, STK_EINVAL, 0, "no result given");
    if (!requested || !*requested || strcasecmp(requested, "default") == 0) {
        *ret = edition == RT_HCS_EDITION_CLIENT ? RT_ISOLATION_HYPERV : RT_ISOLATION_PROCESS;
        return 0;
    }
    if (strcasecmp(requested, "process") == 0)
        iso = RT_ISOLATION_PROCESS;
    else if (strcasecmp(requested, "hyperv") == 0)
        iso = RT_ISOLATION_HYPERV;
    else
        iso = _RT_ISOLATION_INVALID;
    if (iso == _RT_ISOLATION_INVALID)
        return stk_err_set(err, STK_ESPEC, 0,
                           "invalid isolation '%s': Windows supports 'default', 'process', or "
                           "'hyperv'",
                           requested);
    *ret = iso;
    return 0;
}

int rt_hcs_process_compatible(const struct rt_hcs_os_version *host,
                              const struct rt_hcs_os_version *image)
{
    uint32_t base = ltsc_builds[0];

    if (host->major != image->major || host->minor != image->minor)
        return 0;
    if (host->build < ltsc_builds[0])
        return host->build == image->build;
    /* base: the newest LTSC build strictly below the host (20348 when none). */
    for (size_t i = 0; i < STK_ARRAY_SIZE(ltsc_builds); i++)
        if (ltsc_builds[i] < host->build)
            base = ltsc_builds[i];
    return image->build >= base && image->build <= host->build;
}

static int hyperv_compatible(const struct rt_hcs_os_version *host,
                             const struct rt_hcs_os_version *image, unsigned flags)
{
    if (host->major != image->major || host->minor != image->minor)
        return 0;
    if (flags & RT_HCS_COMPAT_ALLOW_NEWER_HYPERV)
        return 1;
    return image->build <= host->build;
}

int rt_hcs_check_compat(const char *host_build, enum rt_hcs_edition host_edition,
                        const char *image_os_version, enum rt_isolation isolation,
                        const char *image, unsigned flags, struct stk_err *err)
{
    struct rt_hcs_os_version host, img;
    const char *ed = host_edition == RT_HCS_EDITION_CLIENT ? "client" : "server";
    const char *name = image && *image ? image : "the image";
    int r;

    r = rt_hcs_os_version_parse(host_build, &host, err);
    if (r < 0)
        return stk_err_wrap(err, "host version");
    r = rt_hcs_os_version_parse(image_os_version, &img, err);
    if (r < 0)
        return stk_err_wrap(err, "os.version of '%s'", name);

    if (isolation == RT_ISOLATION_PROCESS) {
        if (rt_hcs_process_compatible(&host, &img))
            return 0;
        if (hyperv_compatible(&host, &img, flags))
            return stk_err_set(err, STK_EIMAGE, 0,
                               "image '%s' (Windows build %u) cannot run with process isolation "
                               "on this %s host (Windows build %u); set 'isolation: hyperv' on "
                               "the service to run it in a utility VM",
                               name, img.build, ed, host.build);
        return stk_err_set(err, STK_EIMAGE, 0,
                           "image '%s' (Windows build %u) cannot run on this %s host (Windows "
                           "build %u): process isolation needs a compatible build and Hyper-V "
                           "isolation runs only images of the same or an older build; use an "
                           "image built for Windows build %u",
                           name, img.build, ed, host.build, host.build);
    }
    if (isolation == RT_ISOLATION_HYPERV) {
        if (hyperv_compatible(&host, &img, flags))
            return 0;
        return stk_err_set(err, STK_EIMAGE, 0,
                           "image '%s' (Windows build %u) is newer than this %s host (Windows "
                           "build %u): Hyper-V isolation runs only images of the same or an "
                           "older build",
                           name, img.build, ed, host.build);
    }
    return stk_err_set(err, STK_EINVAL, 0, "unknown isolation %d", (int)isolation);
}

int rt_hcs_check_network_share(const char *a, enum rt_isolation a_iso, const char *b,
                               enum rt_isolation b_iso, struct stk_err *err)
{
    if (a_iso == RT_ISOLATION_HYPERV || b_iso == RT_ISOLATION_HYPERV)
        return stk_err_set(err, STK_ENOTSUP, 0,
                           "'%s' (%s isolation) cannot share the network namespace of '%s' (%s "
                           "isolation): sharing a network namespace is not supported with "
                           "Hyper-V isolation",
                           a ? a : "", iso_name(a_iso), b ? b : "", iso_name(b_iso));
    return 0;
}
