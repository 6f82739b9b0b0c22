/*
 * test-rt-hcs-compat.c - isolation resolution and version matching
 * (runtime/hcs/hcs-compat.c) against reference/hcs-hns.md §5.3 (with its
 * errata) and §5.4, and the public reports of
 * reference/compose-and-orchestrators.md §3 about OS mismatches.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "runtime/hcs/hcs.h"

static int compatible(const char *host, const char *image)
{
    struct rt_hcs_os_version h, i;
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(rt_hcs_os_version_parse(host, &h, &err), 0, "%s", err.msg);
    cr_assert_eq(rt_hcs_os_version_parse(image, &i, &err), 0, "%s", err.msg);
    return rt_hcs_process_compatible(&h, &i);
}

Test(rt_hcs_compat, parses_versions)
{
    struct rt_hcs_os_version v;
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(rt_hcs_os_version_parse("10.0.20348.1234", &v, &err), 0);
    cr_assert_eq(v.major, 10);
    cr_assert_eq(v.minor, 0);
    cr_assert_eq(v.build, 20348);
    cr_assert_eq(v.revision, 1234);
    cr_assert_eq(rt_hcs_os_version_parse("10.0.17763", &v, &err), 0);
    cr_assert_eq(v.revision, 0);
    cr_assert_eq(rt_hcs_os_version_parse("10.0", &v, &err), STK_EINVAL);
    cr_assert_eq(rt_hcs_os_version_parse("10.0.x", &v, &err), STK_EINVAL);
    cr_assert_eq(rt_hcs_os_version_parse("10.0.1.2.3", &v, &err), STK_EINVAL);
    cr_assert_eq(rt_hcs_os_version_parse("", &v, &err), STK_EINVAL);
}

/* The consequences listed in §5.3 (hcsshim platform_compat_windows_test.go). */
Test(rt_hcs_compat, process_rule_of_reference_5_3)
{
    /* Below 20348 the builds must be equal. */
    cr_assert(compatible("10.0.17763", "10.0.17763.437"), "revision is ignored");
    cr_assert_not(compatible("10.0.17763", "10.0.14393"));
    cr_assert_not(compatible("10.0.17763", "10.0.20348"));
    cr_assert_not(compatible("10.0.19045", "10.0.17763"));
    /* Server 2022 runs only 2022. */
    cr_assert(compatible("10.0.20348", "10.0.20348"));
    cr_assert_not(compatible("10.0.20348", "10.0.17763"));
    cr_assert_not(compatible("10.0.20348", "10.0.26100"));
    cr_assert_not(compatible("10.0.20348", "10.0.22621"));
    /* Windows 11 22H2 runs 20348 images, not 17763. */
    cr_assert(compatible("10.0.22621", "10.0.20348"));
    cr_assert(compatible("10.0.22621", "10.0.22000"));
    cr_assert_not(compatible("10.0.22621", "10.0.17763"));
    cr_assert_not(compatible("10.0.22621", "10.0.26100"));
    /* Server 2025 runs 20348 and 22621 images. */
    cr_assert(compatible("10.0.26100", "10.0.20348"));
    cr_assert(compatible("10.0.26100", "10.0.22621"));
    cr_assert(compatible("10.0.26100", "10.0.26100"));
    cr_assert_not(compatible("10.0.26100", "10.0.17763"));
    /* Errata: a host newer than 26100 rejects 20348 images. */
    cr_assert_not(compatible("10.0.26200", "10.0.20348"));
    cr_assert(compatible("10.0.26200", "10.0.26100"));
    cr_assert(compatible("10.0.26200", "10.0.26200"));
    cr_assert_not(compatible("10.0.26200", "10.0.26300"));
    /* Major and minor must be equal. */
    cr_assert_not(compatible("10.0.20348", "6.3.20348"));
}

Test(rt_hcs_compat, default_isolation_follows_the_edition)
{
    enum rt_isolation iso;
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(rt_hcs_resolve_isolation(NULL, RT_HCS_EDITION_SERVER, &iso, &err), 0);
    cr_assert_eq(iso, RT_ISOLATION_PROCESS);
    cr_assert_eq(rt_hcs_resolve_isolation("default", RT_HCS_EDITION_CLIENT, &iso, &err), 0);
    cr_assert_eq(iso, RT_ISOLATION_HYPERV);
    cr_assert_eq(rt_hcs_resolve_isolation("", RT_HCS_EDITION_CLIENT, &iso, &err), 0);
    cr_assert_eq(iso, RT_ISOLATION_HYPERV);
    cr_assert_eq(rt_hcs_resolve_isolation("Process", RT_HCS_EDITION_CLIENT, &iso, &err), 0);
    cr_assert_eq(iso, RT_ISOLATION_PROCESS);
    cr_assert_eq(rt_hcs_resolve_isolation("HYPERV", RT_HCS_EDITION_SERVER, &iso, &err), 0);
    cr_assert_eq(iso, RT_ISOLATION_HYPERV);
    cr_assert_eq(rt_hcs_resolve_isolation("vm", RT_HCS_EDITION_SERVER, &iso, &err), STK_ESPEC);
    cr_assert(strstr(err.msg, "'default', 'process', or 'hyperv'"), "%s", err.msg);
    cr_assert_eq(rt_hcs_edition_from_string("Server"), RT_HCS_EDITION_SERVER);
    cr_assert_eq(rt_hcs_edition_from_string("client"), RT_HCS_EDITION_CLIENT);
    cr_assert_eq(rt_hcs_edition_from_string("home"), -1);
}

Test(rt_hcs_compat, hyperv_runs_same_or_older_images_by_policy)
{
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(rt_hcs_check_compat("10.0.20348", RT_HCS_EDITION_SERVER, "10.0.14393.0",
                                     RT_ISOLATION_HYPERV, "servercore:ltsc2016", 0, &err),
                 0);
    cr_assert_eq(rt_hcs_check_compat("10.0.20348", RT_HCS_EDITION_SERVER, "10.0.20348.2",
                                     RT_ISOLATION_HYPERV, NULL, 0, &err),
                 0);
    cr_assert_eq(rt_hcs_check_compat("10.0.17763", RT_HCS_EDITION_SERVER, "10.0.20348.1",
                                     RT_ISOLATION_HYPERV, "servercore:ltsc2022", 0, &err),
                 STK_EIMAGE);
    cr_assert(strstr(err.msg, "20348") && strstr(err.msg, "17763"), "%s", err.msg);
    cr_assert(strstr(err.msg, "same or an older build"), "%s", err.msg);
    /* The policy can be lifted by the flag. */
    stk_err_clear(&err);
    cr_assert_eq(rt_hcs_check_compat("10.0.17763", RT_HCS_EDITION_SERVER, "10.0.20348.1",
                                     RT_ISOLATION_HYPERV, NULL, RT_HCS_COMPAT_ALLOW_NEWER_HYPERV,
                                     &err),
                 0);
}

Test(rt_hcs_compat, errata_host_newer_than_26100_rejects_ltsc2022_under_process)
{
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(rt_hcs_check_compat("10.0.26200", RT_HCS_EDITION_SERVER, "10.0.20348.2700",
                                     RT_ISOLATION_PROCESS, "servercore:ltsc2022", 0, &err),
                 STK_EIMAGE);
    cr_assert(strstr(err.msg, "20348") && strstr(err.msg, "26200"), "%s", err.msg);
    cr_assert(strstr(err.msg, "isolation: hyperv"), "%s", err.msg);
    stk_err_clear(&err);
    cr_assert_eq(rt_hcs_check_compat("10.0.26200", RT_HCS_EDITION_SERVER, "10.0.20348.2700",
                                     RT_ISOLATION_HYPERV, "servercore:ltsc2022", 0, &err),
                 0);
}

/*
 * moby/moby#35462: a process-isolated nanoserver:1709 (16299) container on an
 * insider server host of build 16278 failed inside HCS with 0xc0370101. The
 * check refuses it before create, names both builds, and does not suggest
 * hyperv: the image is newer than the host, so Hyper-V could not run it either.
 */
Test(rt_hcs_compat, moby_35462_image_newer_than_server_host)
{
    struct stk_err err = STK_ERR_INIT;
    enum rt_isolation iso;

    cr_assert_eq(rt_hcs_resolve_isolation(NULL, RT_HCS_EDITION_SERVER, &iso, &err), 0);
    cr_assert_eq(iso, RT_ISOLATION_PROCESS);
    cr_assert_eq(rt_hcs_check_compat("10.0.16278", RT_HCS_EDITION_SERVER, "10.0.16299.15", iso,
                                     "microsoft/nanoserver:1709", 0, &err),
                 STK_EIMAGE);
    cr_assert(strstr(err.msg, "16299") && strstr(err.msg, "16278"), "%s", err.msg);
    cr_assert(strstr(err.msg, "microsoft/nanoserver:1709"), "%s", err.msg);
    cr_assert_null(strstr(err.msg, "isolation: hyperv"), "%s", err.msg);
    /* The same host with an older image: process refused, hyperv suggested. */
    stk_err_clear(&err);
    cr_assert_eq(rt_hcs_check_compat("10.0.16278", RT_HCS_EDITION_SERVER, "10.0.14393.1", iso,
                                     "microsoft/nanoserver:sac2016", 0, &err),
                 STK_EIMAGE);
    cr_assert(strstr(err.msg, "isolation: hyperv"), "%s", err.msg);
}

/*
 * microsoft/Windows-Containers#399: Windows 10 22H2 (19045) client host,
 * isolation process (Docker Desktop's daemon default), nanoserver:1809
 * (17763): refused with both builds named and hyperv suggested; with
 * `isolation: hyperv` — also the client default — it is accepted.
 */
Test(rt_hcs_compat, windows_containers_399_client_host_ltsc2019_image)
{
    struct stk_err err = STK_ERR_INIT;
    enum rt_isolation iso;

    cr_assert_eq(rt_hcs_check_compat("10.0.19045", RT_HCS_EDITION_CLIENT, "10.0.17763.5122",
                                     RT_ISOLATION_PROCESS,
                                     "mcr.microsoft.com/windows/"
                                     "nanoserver:1809",
                                     0, &err),
                 STK_EIMAGE);
    cr_assert(strstr(err.msg, "17763") && strstr(err.msg, "19045"), "%s", err.msg);
    cr_assert(strstr(err.msg, "client host"), "%s", err.msg);
    cr_assert(strstr(err.msg, "set 'isolation: hyperv'"), "%s", err.msg);
    stk_err_clear(&err);
    cr_assert_eq(rt_hcs_resolve_isolation(NULL, RT_HCS_EDITION_CLIENT, &iso, &err), 0);
    cr_assert_eq(iso, RT_ISOLATION_HYPERV);
    cr_assert_eq(rt_hcs_check_compat("10.0.19045", RT_HCS_EDITION_CLIENT, "10.0.17763.5122", iso,
                                     NULL, 0, &err),
                 0, "%s", err.msg);
}

Test(rt_hcs_compat, rejects_unparsable_versions)
{
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(rt_hcs_check_compat("10.0.20348", RT_HCS_EDITION_SERVER, "ltsc2022",
                                     RT_ISOLATION_PROCESS, "img", 0, &err),
                 STK_EINVAL);
    cr_assert(strstr(err.msg, "os.version of 'img'"), "%s", err.msg);
}

/* Sharing a namespace is refused when either side resolves to hyperv (reference §6, errata). */
Test(rt_hcs_compat, network_sharing_needs_process_isolation_on_both_sides)
{
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(rt_hcs_check_network_share("sidecar", RT_ISOLATION_PROCESS, "web",
                                            RT_ISOLATION_PROCESS, &err),
                 0);
    cr_assert_eq(rt_hcs_check_network_share("sidecar", RT_ISOLATION_HYPERV, "web",
                                            RT_ISOLATION_PROCESS, &err),
                 STK_ENOTSUP);
    cr_assert(strstr(err.msg, "'sidecar' (hyperv isolation)"), "%s", err.msg);
    cr_assert_eq(rt_hcs_check_network_share("sidecar", RT_ISOLATION_PROCESS, "legacy",
                                            RT_ISOLATION_HYPERV, &err),
                 STK_ENOTSUP);
}
