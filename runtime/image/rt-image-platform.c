/*
 * rt-image-platform.c - platform matching for image indexes (image-spec
 * image-index.md "platform"), after containerd's platforms package: normalised
 * os/architecture/variant, and for Windows a preference for the image whose
 * os.version has the host's build. Portable C: the Windows runtime uses it.
 */
#include "runtime/image/rt-image.h"

#include <string.h>
#include <strings.h>

void rt_image_platform_host(struct rt_image_platform *ret)
{
    memset(ret, 0, sizeof(*ret));
#ifdef _WIN32
    ret->os = "windows";
#else
    ret->os = "linux";
#endif
#if defined(__x86_64__) || defined(_M_X64)
    ret->architecture = "amd64";
#elif defined(__aarch64__)
    ret->architecture = "arm64";
#elif defined(__i386__)
    ret->architecture = "386";
#elif defined(__arm__)
    ret->architecture = "arm";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    ret->architecture = "ppc64le";
#elif defined(__s390x__)
    ret->architecture = "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
    ret->architecture = "riscv64";
#else
    ret->architecture = "unknown";
#endif
}

static int empty(const char *s)
{
    return !s || !*s;
}

/*
 * Normalises an architecture and variant the way containerd's
 * platforms.Normalize does for the common names. *ARCH and *VARIANT are
 * replaced by static strings when an alias applies.
 */
static void normalize_arch(const char **arch, const char **variant)
{
    const char *a = *arch ? *arch : "";
    const char *v = *variant ? *variant : "";

    if (strcasecmp(a, "x86_64") == 0 || strcasecmp(a, "x86-64") == 0 ||
        strcasecmp(a, "amd64") == 0) {
        a = "amd64";
        if (strcmp(v, "v1") == 0)
            v = "";
    } else if (strcasecmp(a, "i386") == 0 || strcasecmp(a, "386") == 0) {
        a = "386";
        v = "";
    } else if (strcasecmp(a, "aarch64") == 0 || strcasecmp(a, "arm64") == 0) {
        a = "arm64";
        if (strcmp(v, "8") == 0 || v[0] == '\0')
            v = "v8";
    } else if (strcasecmp(a, "armhf") == 0) {
        a = "arm";
        v = "v7";
    } else if (strcasecmp(a, "armel") == 0) {
        a = "arm";
        v = "v6";
    } else if (strcasecmp(a, "arm") == 0) {
        a = "arm";
        if (v[0] == '\0' || strcmp(v, "7") == 0)
            v = "v7";
        else if (strcmp(v, "5") == 0 || strcmp(v, "6") == 0 || strcmp(v, "8") == 0)
            v = v[0] == '5' ? "v5" : v[0] == '6' ? "v6" : "v8";
    }
    *arch = a;
    *variant = v;
}

/* Returns the length of the "major.minor.build" prefix of a Windows os.version. */
static size_t build_prefix_len(const char *v)
{
    size_t i = 0;
    int dots = 0;

    for (; v[i]; i++) {
        if (v[i] == '.' && ++dots == 3)
            break;
    }
    return i;
}

int rt_image_platform_select(const struct rt_image_platform *candidates, size_t n,
                             const struct rt_image_platform *want)
{
    const char *want_arch = want->architecture, *want_variant = want->variant;
    int best = -1, best_score = -1;

    normalize_arch(&want_arch, &want_variant);
    for (size_t i = 0; i < n; i++) {
        const struct rt_image_platform *c = &candidates[i];
        const char *arch = c->architecture, *variant = c->variant;
        int score = 1;

        if (empty(c->os) || empty(want->os) || strcasecmp(c->os, want->os) != 0)
            continue;
        normalize_arch(&arch, &variant);
        if (strcmp(arch, want_arch) != 0)
            continue;
        /* Only an explicitly wanted variant constrains (containerd "only" matcher). */
        if (!empty(want->variant) && strcmp(variant, want_variant) != 0)
            continue;
        if (strcasecmp(want->os, "windows") == 0 && !empty(want->os_version) &&
            !empty(c->os_version)) {
            size_t lw = build_prefix_len(want->os_version);
            size_t lc = build_prefix_len(c->os_version);
            if (lw == lc && strncmp(want->os_version, c->os_version, lw) == 0)
                score = 2;
        }
        if (score > best_score) {
            best = (int)i;
            best_score = score;
        }
    }
    return best;
}
