/*
 * rt-image-pull.c - registry pull into the image store (rt-image.h
 * rt_image_pull()), following the OCI distribution spec
 * (distribution-spec spec.md "Pull": GET /v2/<name>/manifests/<reference>,
 * GET /v2/<name>/blobs/<digest>) and Docker's token authentication
 * (distribution/docs/spec/auth/token.md: a 401 with
 * `WWW-Authenticate: Bearer realm=...,service=...,scope=...`).
 *
 * Every blob goes through the store's verified-blob writer
 * (rt__image_blob_import(), the one layout loads use): it is streamed into the
 * store's tmp/ and renamed into blobs/ only after its SHA-256 and size match
 * the descriptor.
 *
 * This file is the portable part of a pull — reference parsing, the
 * manifest and index walk, platform selection, token and Docker config
 * authentication, blob import — and builds on every platform. The wire is
 * behind rt-image-http.h: libcurl on Linux (rt-image-http-curl.c), WinHTTP in
 * the Windows build (rt-image-http-winhttp.c).
 */
#include "runtime/image/rt-image.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-err.h"
#include "common/stk-fs.h"
#include "common/stk-sha256.h"
#include "runtime/image/rt-image-http.h"
#include "runtime/image/rt-image-internal.h"

/* Manifests and indexes larger than this are refused (Docker's limit is 4 MiB). */
#define PULL_MANIFEST_MAX (4 * 1024 * 1024)
/* A token answer larger than this is not a token. */
#define PULL_TOKEN_MAX (1024 * 1024)

#define PULL_ACCEPT                                                                                \
    "Accept: " RT_IMAGE_MT_OCI_INDEX ", " RT_IMAGE_MT_OCI_MANIFEST ", " RT_IMAGE_MT_DOCKER_LIST    \
    ", " RT_IMAGE_MT_DOCKER_MANIFEST

/* ---- references ---------------------------------------------------------------------------- */

/* A reference split as the distribution API needs it (all strings owned). */
struct pull_ref {
    char *host;   /* the registry as named: "docker.io", "127.0.0.1:5000" */
    char *base;   /* "https://registry-1.docker.io", "http://127.0.0.1:5000" */
    char *repo;   /* the repository: "library/busybox" */
    char *tag;    /* NULL for a digest reference */
    char *digest; /* NULL for a tag reference */
    char *name;   /* normalised "NAME:TAG" to record, NULL for a digest reference */
};

static void pull_ref_release(struct pull_ref *r)
{
    free(r->host);
    free(r->base);
    free(r->repo);
    free(r->tag);
    free(r->digest);
    free(r->name);
    memset(r, 0, sizeof(*r));
}

/* Repository path components (distribution-spec: [a-z0-9]+([._-][a-z0-9]+)* joined by '/'). */
static int repo_valid(const char *repo)
{
    if (!*repo || *repo == '/' || repo[strlen(repo) - 1] == '/' || strstr(repo, "//"))
        return 0;
    for (const char *p = repo; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
              *p == '-' || *p == '/'))
            return 0;
    return 1;
}

/* Tags: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}. */
static int tag_valid(const char *tag)
{
    size_t n = strlen(tag);

    if (n == 0 || n > 128 || tag[0] == '.' || tag[0] == '-')
        return 0;
    for (const char *p = tag; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '-'))
            return 0;
    return 1;
}

/* Strips ":port" (and the brackets of "[::1]:port") from HOST into a new string. */
static char *host_without_port(const char *host)
{
    const char *colon;

    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        return close ? stk_xasprintf("%.*s", (int)(close - host - 1), host + 1) : stk_xstrdup(host);
    }
    colon = strrchr(host, ':');
    return colon ? stk_xasprintf("%.*s", (int)(colon - host), host) : stk_xstrdup(host);
}

/*
 * Plain http is used for loopback registries and for those listed in
 * STACK_INSECURE_REGISTRIES (comma- or space-separated "host" or "host:port"),
 * as Docker's insecure-registries; every other registry is https.
 */
static int host_insecure(const char *host)
{
    char *bare = host_without_port(host), *list = NULL, *save = NULL;
    const char *env = getenv("STACK_INSECURE_REGISTRIES");
    int r = 0;

    if (strcmp(bare, "localhost") == 0 || strcmp(bare, "127.0.0.1") == 0 ||
        strcmp(bare, "::1") == 0) {
        r = 1;
        goto out;
    }
    if (!env || !*env)
        goto out;
    list = stk_xstrdup(env);
    for (char *t = strtok_r(list, ", \t", &save); t && !r; t = strtok_r(NULL, ", \t", &save))
        r = strcasecmp(t, host) == 0 || strcasecmp(t, bare) == 0;
out:
    free(list);
    free(bare);
    return r;
}

/*
 * Splits REF with Docker's normalisation (distribution/reference
 * normalize.go): a first component holding '.' or ':', or "localhost", is a
 * registry host; otherwise the registry is docker.io and a single-component
 * name gets "library/". The API host of docker.io is registry-1.docker.io.
 */
static int pull_ref_parse(const char *ref, struct pull_ref *r, struct stk_err *err)
{
    char *norm = NULL, *name = NULL, *slash, *sep;
    int ret = 0;

    memset(r, 0, sizeof(*r));
    norm = rt_image_ref_normalize(ref, err);
    if (!norm)
        return STK_EINVAL;
    if ((sep = strchr(norm, '@'))) {
        name = stk_xasprintf("%.*s", (int)(sep - norm), norm);
        r->digest = stk_xstrdup(sep + 1);
    } else {
        sep = strrchr(norm, ':');
        name = stk_xasprintf("%.*s", (int)(sep - norm), norm);
        r->tag = stk_xstrdup(sep + 1);
        r->name = stk_xstrdup(norm);
        if (!tag_valid(r->tag)) {
            ret = stk_err_set(err, STK_EINVAL, 0, "invalid tag '%s'", r->tag);
            goto out;
        }
    }
    slash = strchr(name, '/');
    if (slash &&
        (memchr(name, '.', (size_t)(slash - name)) || memchr(name, ':', (size_t)(slash - name)) ||
         strncmp(name, "localhost", (size_t)(slash - name)) == 0)) {
        r->host = stk_xasprintf("%.*s", (int)(slash - name), name);
        r->repo = stk_xstrdup(slash + 1);
    } else {
        r->host = stk_xstrdup("docker.io");
        r->repo = stk_xstrdup(name);
    }
    if (strcmp(r->host, "index.docker.io") == 0) {
        free(r->host);
        r->host = stk_xstrdup("docker.io");
    }
    if (strcmp(r->host, "docker.io") == 0 && !strchr(r->repo, '/')) {
        char *full = stk_xasprintf("library/%s", r->repo);
        free(r->repo);
        r->repo = full;
    }
    if (!repo_valid(r->repo)) {
        ret = stk_err_set(err, STK_EINVAL, 0,
                          "invalid repository name '%s' (lower-case letters, digits, '.', '_', "
                          "'-' and '/')",
                          r->repo);
        goto out;
    }
    r->base = stk_xasprintf("%s://%s", host_insecure(r->host) ? "http" : "https",
                            strcmp(r->host, "docker.io") == 0 ? "registry-1.docker.io" : r->host);
out:
    free(norm);
    free(name);
    if (ret < 0)
        pull_ref_release(r);
    return ret;
}

int rt__image_pull_endpoint(const char *ref, char **ret_base, char **ret_repo, char **ret_reference,
                            struct stk_err *err)
{
    struct pull_ref r;
    int ret = pull_ref_parse(ref, &r, err);

    if (ret < 0)
        return ret;
    *ret_base = r.base;
    *ret_repo = r.repo;
    *ret_reference = r.digest ? r.digest : r.tag;
    r.base = r.repo = NULL;
    if (r.digest)
        r.digest = NULL;
    else
        r.tag = NULL;
    pull_ref_release(&r);
    return 0;
}

/* ---- HTTP ----------------------------------------------------------------------------------- */

/* One answer: its status and chosen headers, and the body in memory or streamed to FD. */
struct resp {
    struct rt_image_http_resp h; /* status and headers, filled by rt__image_http_get() */
    struct stk_buf body;         /* when fd < 0 */
    int fd;                      /* stream destination, or -1 */
    int64_t limit;               /* the body may not exceed this many bytes */
    int64_t got;
    int overflow;  /* the body exceeded LIMIT */
    int write_err; /* errno of a failed write to FD */
};

static void resp_init(struct resp *rs, int fd, int64_t limit)
{
    memset(rs, 0, sizeof(*rs));
    stk_buf_init(&rs->body, 0);
    rs->fd = fd;
    rs->limit = limit;
}

static void resp_release(struct resp *rs)
{
    stk_buf_release(&rs->body);
    rt__image_http_resp_release(&rs->h);
    memset(rs, 0, sizeof(*rs));
    rs->fd = -1;
}

/* Takes the body of the final answer (rt_image_http_body_fn). */
static int on_body(long status, const void *data, size_t n, void *userdata)
{
    struct resp *rs = userdata;

    /* The body of an error answer to a blob GET is not the blob. */
    if (rs->fd >= 0 && status != 200)
        return 0;
    if (rs->got + (int64_t)n > rs->limit) {
        rs->overflow = 1;
        return -1;
    }
    rs->got += (int64_t)n;
    if (rs->fd < 0) {
        stk_buf_add(&rs->body, data, n);
        return 0;
    }
    for (size_t off = 0; off < n;) {
        ssize_t w = write(rs->fd, (const char *)data + off, n - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rs->write_err = errno;
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

/* A pull in progress: the reference, the connection, the authorization found. */
struct puller {
    struct rt_image_store *store;
    const char *ref; /* as the caller wrote it, for messages */
    struct pull_ref r;
    struct rt_image_http *http;
    char *authorization; /* "Authorization: ..." header, NULL until a 401 asked for one */
    int auth_tried;
};

/* GET URL into RS with the header lines ACCEPT and AUTH (each may be NULL). */
static int http_get(struct puller *pl, const char *url, const char *accept, const char *auth,
                    struct resp *rs, struct stk_err *err)
{
    const char *hdrs[3] = {NULL, NULL, NULL};
    size_t n = 0;
    int ret;

    if (accept)
        hdrs[n++] = accept;
    if (auth)
        hdrs[n++] = auth;
    rt__image_http_resp_release(&rs->h);
    ret = rt__image_http_get(pl->http, url, hdrs, pl->r.host, on_body, rs, &rs->h, err);
    if (ret == 0)
        return 0;
    if (rs->overflow)
        ret = stk_err_set(err, STK_EIMAGE, 0, "GET '%s': answer larger than %lld bytes", url,
                          (long long)rs->limit);
    else if (rs->write_err)
        ret = stk_err_set(err, STK_EIO, rs->write_err, "GET '%s': write to the image store", url);
    return ret;
}

/*
 * Reads the auth-param named KEY ("realm", "service", "scope") of the
 * challenge CH (RFC 7235: key="quoted value" or key=token, comma-separated).
 * Returns a new string or NULL.
 */
static char *challenge_param(const char *ch, const char *key)
{
    size_t klen = strlen(key);
    const char *p = ch;

    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (strncasecmp(p, key, klen) == 0 && p[klen] == '=') {
            struct stk_buf b = STK_BUF_INIT;
            p += klen + 1;
            stk_buf_init(&b, 0);
            if (*p == '"') {
                for (p++; *p && *p != '"'; p++) {
                    if (*p == '\\' && p[1])
                        p++;
                    stk_buf_putc(&b, *p);
                }
            } else {
                for (; *p && *p != ',' && *p != ' '; p++)
                    stk_buf_putc(&b, *p);
            }
            return stk_buf_detach(&b, NULL);
        }
        /* Skip this parameter, quoted commas included. */
        while (*p && *p != ',') {
            if (*p == '"') {
                for (p++; *p && *p != '"'; p++)
                    if (*p == '\\' && p[1])
                        p++;
                if (*p)
                    p++;
            } else {
                p++;
            }
        }
    }
    return NULL;
}

/*
 * The "auth" value (base64 of "user:password") for the registry in the
 * Docker client's config ($DOCKER_CONFIG/config.json or
 * ~/.docker/config.json, "auths"; without HOME, as on Windows,
 * %USERPROFILE%\.docker where Docker for Windows keeps it). Credential
 * helpers are not consulted. Returns a new string or NULL.
 */
static char *docker_config_auth(const char *host)
{
    const char *dir = getenv("DOCKER_CONFIG"), *home = getenv("HOME");
    char *path = NULL, *res = NULL;
    json_t *root = NULL, *auths;

    if (!home || !*home)
        home = getenv("USERPROFILE");
    if (dir && *dir)
        path = stk_xasprintf("%s/config.json", dir);
    else if (home && *home)
        path = stk_xasprintf("%s/.docker/config.json", home);
    else
        return NULL;
    root = json_load_file(path, 0, NULL);
    auths = json_object_get(root, "auths");
    if (json_is_object(auths)) {
        const int hub = strcmp(host, "docker.io") == 0;
        char *keys[] = {
            stk_xstrdup(hub ? "https://index.docker.io/v1/" : host),
            stk_xasprintf("https://%s", hub ? "index.docker.io/v1/" : host),
            stk_xasprintf("http://%s", host),
            stk_xstrdup(hub ? "index.docker.io" : host),
        };
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            const char *a =
                json_string_value(json_object_get(json_object_get(auths, keys[i]), "auth"));
            if (!res && a && *a)
                res = stk_xstrdup(a);
            free(keys[i]);
        }
    }
    json_decref(root);
    free(path);
    return res;
}

/*
 * Answers the challenge of a 401: for Bearer, fetches a token from the realm
 * (anonymously, or with the Docker config's credentials), for Basic, uses
 * the credentials. Sets PL->authorization.
 */
static int authenticate(struct puller *pl, const char *challenge, struct stk_err *err)
{
    char *basic = docker_config_auth(pl->r.host), *creds = NULL;
    char *realm = NULL, *service = NULL, *scope = NULL, *url = NULL;
    struct stk_buf u = STK_BUF_INIT;
    json_t *j = NULL;
    struct resp rs;
    int ret = 0;

    resp_init(&rs, -1, PULL_TOKEN_MAX);
    if (basic)
        creds = stk_xasprintf("Authorization: Basic %s", basic);
    if (strncasecmp(challenge, "basic", 5) == 0) {
        if (!creds) {
            ret = stk_err_set(err, STK_EPERM, 0,
                              "registry '%s' asks for a login and no credentials were found in "
                              "the Docker config's \"auths\"",
                              pl->r.host);
            goto out;
        }
        pl->authorization = creds;
        creds = NULL;
        goto out;
    }
    if (strncasecmp(challenge, "bearer ", 7) != 0) {
        ret = stk_err_set(err, STK_EPERM, 0, "registry '%s': unsupported authentication '%s'",
                          pl->r.host, challenge);
        goto out;
    }
    realm = challenge_param(challenge + 7, "realm");
    service = challenge_param(challenge + 7, "service");
    scope = challenge_param(challenge + 7, "scope");
    if (!realm || (strncmp(realm, "https://", 8) != 0 && strncmp(realm, "http://", 7) != 0)) {
        ret = stk_err_set(err, STK_EIMAGE, 0, "registry '%s': Bearer challenge without a realm",
                          pl->r.host);
        goto out;
    }
    if (!scope)
        scope = stk_xasprintf("repository:%s:pull", pl->r.repo);
    stk_buf_init(&u, 0);
    stk_buf_puts(&u, realm);
    stk_buf_putc(&u, strchr(realm, '?') ? '&' : '?');
    if (service) {
        char *e = rt__image_http_query_escape(service);
        stk_buf_printf(&u, "service=%s&", e);
        free(e);
    }
    {
        char *e = rt__image_http_query_escape(scope);
        stk_buf_printf(&u, "scope=%s", e);
        free(e);
    }
    url = stk_buf_detach(&u, NULL);
    ret = http_get(pl, url, NULL, creds, &rs, err);
    if (ret < 0)
        goto out;
    if (rs.h.status != 200) {
        ret = stk_err_set(err, rs.h.status == 401 || rs.h.status == 403 ? STK_EPERM : STK_EIO, 0,
                          "token server '%s' answered %ld", realm, rs.h.status);
        goto out;
    }
    j = json_loadb(rs.body.buf, rs.body.len, 0, NULL);
    {
        const char *tok = json_string_value(json_object_get(j, "token"));
        if (!tok || !*tok)
            tok = json_string_value(json_object_get(j, "access_token"));
        if (!tok || !*tok) {
            ret =
                stk_err_set(err, STK_EIMAGE, 0, "token server '%s': no token in its answer", realm);
            goto out;
        }
        pl->authorization = stk_xasprintf("Authorization: Bearer %s", tok);
    }
out:
    json_decref(j);
    resp_release(&rs);
    stk_buf_release(&u);
    free(url);
    free(realm);
    free(service);
    free(scope);
    free(creds);
    free(basic);
    return ret;
}

/* GET PATH of the registry, answering one 401 challenge. */
static int registry_get(struct puller *pl, const char *path, const char *accept, struct resp *rs,
                        struct stk_err *err)
{
    char *url = stk_xasprintf("%s%s", pl->r.base, path);
    int ret;

    for (;;) {
        ret = http_get(pl, url, accept, pl->authorization, rs, err);
        if (ret < 0 || rs->h.status != 401 || pl->auth_tried)
            break;
        pl->auth_tried = 1;
        if (!rs->h.www_authenticate) {
            ret = stk_err_set(err, STK_EPERM, 0, "%s answered 401 without a challenge", pl->r.host);
            break;
        }
        {
            char *ch = stk_xstrdup(rs->h.www_authenticate);
            ret = authenticate(pl, ch, err);
            free(ch);
        }
        if (ret < 0)
            break;
        if (rs->fd >= 0 && (ftruncate(rs->fd, 0) < 0 || lseek(rs->fd, 0, SEEK_SET) < 0)) {
            ret = stk_err_set(err, STK_EIO, errno, "truncate a staged blob");
            break;
        }
        {
            int fd = rs->fd;
            int64_t limit = rs->limit;
            resp_release(rs);
            resp_init(rs, fd, limit);
        }
    }
    free(url);
    return ret;
}

/* The error for an answer other than 200 to a GET of WHAT ('manifest'/'blob') ID. */
static int status_error(struct puller *pl, const struct resp *rs, const char *what, const char *id,
                        struct stk_err *err)
{
    int code = rs->h.status == 404   ? STK_ENOENT
               : rs->h.status == 401 ? STK_EPERM
               : rs->h.status == 403 ? STK_EPERM
                                     : STK_EIO;

    return stk_err_set(err, code, 0, "%s answered %ld for %s '%s'", pl->r.host, rs->h.status, what,
                       id);
}

/* ---- blobs ---------------------------------------------------------------------------------- */

/* A new staging file in the store's tmp/: stores its path, returns the fd. */
static int stage_open(struct puller *pl, char **ret_path, struct stk_err *err)
{
    char *tmp = stk_xasprintf("%s/pull-XXXXXX", rt__image_tmp_dir(pl->store));
    int fd = mkostemp(tmp, O_CLOEXEC);

    if (fd < 0) {
        int e = errno;
        stk_err_set(err, STK_EIO, e, "create '%s'", tmp);
        free(tmp);
        return STK_EIO;
    }
    *ret_path = tmp;
    return fd;
}

/* Puts the manifest bytes DATA (already hashed to DIGEST) into the store. */
static int store_bytes(struct puller *pl, const void *data, size_t len, const char *digest,
                       struct stk_err *err)
{
    char *path = NULL;
    int fd, ret = 0;

    {
        char *dst = rt_image_blob_path(pl->store, digest, err);
        int present = dst && stk_path_exists(dst);
        free(dst);
        if (present)
            return 0;
    }
    fd = stage_open(pl, &path, err);
    if (fd < 0)
        return fd;
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, (const char *)data + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            ret = stk_err_set(err, STK_EIO, errno, "write '%s'", path);
            break;
        }
        off += (size_t)w;
    }
    if (close(fd) < 0 && ret == 0)
        ret = stk_err_set(err, STK_EIO, errno, "close '%s'", path);
    if (ret == 0)
        ret = rt__image_blob_import(pl->store, path, digest, (int64_t)len, 1, err);
    if (ret < 0)
        unlink(path);
    free(path);
    return ret;
}

/*
 * Fetches the manifest or index REFERENCE (a tag or a digest) into the store.
 * A digest reference must hash to itself. Stores the parsed JSON, the digest
 * of its bytes and whether it is an index.
 */
static int fetch_manifest(struct puller *pl, const char *reference, json_t **ret_json,
                          char **ret_digest, int *ret_is_index, struct stk_err *err)
{
    char digest[STK_DIGEST_STR_LEN];
    char *path = stk_xasprintf("/v2/%s/manifests/%s", pl->r.repo, reference);
    json_error_t jerr;
    json_t *j = NULL;
    struct resp rs;
    int ret, kind;

    resp_init(&rs, -1, PULL_MANIFEST_MAX);
    ret = registry_get(pl, path, PULL_ACCEPT, &rs, err);
    if (ret < 0)
        goto out;
    if (rs.h.status != 200) {
        ret = status_error(pl, &rs, "manifest", reference, err);
        goto out;
    }
    stk_sha256_digest(rs.body.buf, rs.body.len, digest);
    if (rt_image_digest_valid(reference) && strcmp(reference, digest) != 0) {
        ret = stk_err_set(err, STK_EDIGEST, 0, "manifest '%s': content has digest '%s'", reference,
                          digest);
        goto out;
    }
    /*
     * The registry's own word on the digest (Docker-Content-Digest, the digest
     * it stores the manifest under) must agree with the bytes received, also
     * for a tag, as containerd checks.
     */
    if (rs.h.docker_content_digest && rt_image_digest_valid(rs.h.docker_content_digest) &&
        strcmp(rs.h.docker_content_digest, digest) != 0) {
        ret = stk_err_set(err, STK_EDIGEST, 0,
                          "manifest '%s': the registry says digest '%s', content has digest '%s'",
                          reference, rs.h.docker_content_digest, digest);
        goto out;
    }
    j = json_loadb(rs.body.buf, rs.body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j || !json_is_object(j)) {
        ret = stk_err_set(err, STK_EIMAGE, 0, "manifest '%s': %s", reference,
                          j ? "not a JSON object" : jerr.text);
        goto out;
    }
    kind = rt__image_blob_classify(j, rs.h.content_type, digest, err);
    if (kind < 0) {
        ret = kind;
        goto out;
    }
    ret = store_bytes(pl, rs.body.buf, rs.body.len, digest, err);
    if (ret < 0)
        goto out;
    *ret_json = j;
    j = NULL;
    *ret_digest = stk_xstrdup(digest);
    *ret_is_index = kind;
out:
    json_decref(j);
    resp_release(&rs);
    free(path);
    return ret;
}

/* Fetches the blob DIGEST of SIZE bytes unless the store has it; verified before it enters. */
static int fetch_blob(struct puller *pl, const char *digest, int64_t size, int *ret_fetched,
                      struct stk_err *err)
{
    char *dst = NULL, *tmp = NULL, *path = NULL;
    struct resp rs;
    int fd = -1, ret = 0;

    *ret_fetched = 0;
    resp_init(&rs, -1, size);
    dst = rt_image_blob_path(pl->store, digest, err);
    if (!dst) {
        ret = STK_EINVAL;
        goto out;
    }
    if (stk_path_exists(dst))
        goto out;
    fd = stage_open(pl, &tmp, err);
    if (fd < 0) {
        ret = fd;
        fd = -1;
        goto out;
    }
    /* A body longer than the descriptor's size is cut off: it cannot be the blob. */
    resp_release(&rs);
    resp_init(&rs, fd, size);
    path = stk_xasprintf("/v2/%s/blobs/%s", pl->r.repo, digest);
    ret = registry_get(pl, path, NULL, &rs, err);
    if (ret < 0) {
        if (rs.overflow)
            ret = stk_err_set(err, STK_EDIGEST, 0,
                              "blob '%s': longer than the %lld bytes its "
                              "descriptor says",
                              digest, (long long)size);
        goto out;
    }
    if (rs.h.status != 200) {
        ret = status_error(pl, &rs, "blob", digest, err);
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        ret = stk_err_set(err, STK_EIO, errno, "close '%s'", tmp);
        goto out;
    }
    fd = -1;
    ret = rt__image_blob_import(pl->store, tmp, digest, size, 1, err);
    if (ret == 0)
        *ret_fetched = 1;
out:
    if (fd >= 0)
        close(fd);
    if (tmp && ret < 0)
        unlink(tmp);
    resp_release(&rs);
    free(path);
    free(tmp);
    free(dst);
    return ret;
}

/* Fetches the config and layer blobs of the manifest M (stored as DIGEST). */
static int fetch_manifest_blobs(struct puller *pl, json_t *m, const char *digest,
                                struct rt_image_pull_stats *st, struct stk_err *err)
{
    json_t *layers = json_object_get(m, "layers");
    size_t n = json_array_size(layers), i;
    int ret = 0, fetched;

    if (!json_is_object(json_object_get(m, "config")) || (layers && !json_is_array(layers)))
        return stk_err_set(err, STK_EIMAGE, 0, "manifest '%s': no config or malformed layers",
                           digest);
    for (i = 0; i <= n && ret == 0; i++) {
        json_t *d = i == 0 ? json_object_get(m, "config") : json_array_get(layers, i - 1);
        const char *bd = json_string_value(json_object_get(d, "digest"));
        json_t *size = json_object_get(d, "size");
        if (!rt_image_digest_valid(bd) || !json_is_integer(size) || json_integer_value(size) < 0)
            return stk_err_set(err, STK_EIMAGE, 0,
                               "manifest '%s': a descriptor without a sha256 digest or a size",
                               digest);
        ret = fetch_blob(pl, bd, json_integer_value(size), &fetched, err);
        if (ret == 0) {
            if (fetched)
                st->blobs_fetched++;
            else
                st->blobs_present++;
        }
    }
    return ret;
}

int rt_image_pull(struct rt_image_store *store, const char *ref,
                  const struct rt_image_platform *platform, char **ret_manifest_digest,
                  struct rt_image_pull_stats *ret_stats, struct stk_err *err)
{
    struct rt_image_pull_stats st = {0, 0};
    struct rt_image_platform host;
    struct puller pl;
    struct rt_image *img = NULL;
    json_t *j = NULL;
    char *digest = NULL;
    int ret, is_index = 0;

    memset(&pl, 0, sizeof(pl));
    if (!store || !ref || !*ref)
        return stk_err_set(err, STK_EINVAL, 0, "pull: no image reference");
    rt_image_platform_host(&host);
    if (!platform)
        platform = &host;
    pl.store = store;
    pl.ref = ref;
    ret = pull_ref_parse(ref, &pl.r, err);
    if (ret < 0)
        goto out;
    ret = rt__image_http_new(&pl.http, err);
    if (ret < 0)
        goto out;
    ret = fetch_manifest(&pl, pl.r.digest ? pl.r.digest : pl.r.tag, &j, &digest, &is_index, err);
    /* An index (possibly nested, bounded) is resolved to the manifest for PLATFORM. */
    for (int depth = 0; ret == 0 && is_index; depth++) {
        char *chosen = NULL;
        if (depth == 4) {
            ret = stk_err_set(err, STK_EIMAGE, 0, "index '%s': nested too deeply", digest);
            break;
        }
        ret = rt__image_index_select(j, digest, platform, &chosen, err);
        json_decref(j);
        j = NULL;
        free(digest);
        digest = NULL;
        if (ret == 0)
            ret = fetch_manifest(&pl, chosen, &j, &digest, &is_index, err);
        free(chosen);
    }
    if (ret < 0)
        goto out;
    ret = fetch_manifest_blobs(&pl, j, digest, &st, err);
    if (ret < 0)
        goto out;
    /* Parse it as rt_image_resolve() will: a bad image fails at pull, not at first use. */
    ret = rt_image_get(store, digest, pl.r.name, &img, err);
    if (ret < 0)
        goto out;
    if (pl.r.name) {
        ret = rt__image_tag(store, pl.r.name, digest, err);
        if (ret < 0)
            goto out;
    }
    if (ret_manifest_digest) {
        *ret_manifest_digest = digest;
        digest = NULL;
    }
    if (ret_stats)
        *ret_stats = st;
out:
    if (ret < 0)
        stk_err_wrap(err, "pull '%s'", ref);
    rt_image_free(img);
    json_decref(j);
    free(digest);
    free(pl.authorization);
    rt__image_http_free(pl.http);
    pull_ref_release(&pl.r);
    return ret;
}
