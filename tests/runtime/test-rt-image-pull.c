/*
 * test-rt-image-pull.c - registry pull (rt_image_pull(), runtime/image/
 * rt-image-pull.c) against a REAL registry on loopback: Debian's
 * docker-registry (the CNCF distribution registry) serving a temporary
 * directory on 127.0.0.1:<free port>, filled with Debian's skopeo from OCI
 * layouts built here (the busybox example image, and a multi-platform index
 * with linux/amd64 and two windows/amd64 builds). A python3 http.server in
 * front of the registry plays a registry with token authentication (401 +
 * `WWW-Authenticate: Bearer`, a /token endpoint, blobs redirected to the real
 * registry). Nothing talks to any address but 127.0.0.1. The wire here is
 * libcurl (rt-image-http-curl.c); the WinHTTP one is exercised under wine by
 * scripts/cross-windows --smoke against the same kind of registry.
 *
 * The registry and the proxy are child processes of each test, stopped by
 * PID in the suite's fini; their temporary directory is removed there.
 * Without docker-registry, skopeo or python3 the tests skip, and under
 * CI=true they fail (scripts/setup installs them).
 */
#include "runtime/image/rt-image.h"
#include "runtime/image/rt-image-internal.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-err.h"
#include "common/stk-fs.h"
#include "common/stk-sha256.h"
#include "tests/support/test-registry.h"

static char tmpdir[] = "/tmp/test-rt-image-pull.XXXXXX";
static char *state_dir, *busybox_dir, *multi_dir;
static struct stk_test_registry reg = {.pid = -1};
static pid_t proxy_pid = -1;
static int proxy_port, tmpdir_made;
static struct rt_image_store *store;

static void run(const char *cmd)
{
    int st = system(cmd);
    cr_assert_eq(st, 0, "command failed (%d): %s", st, cmd);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void write_file(const char *path, const char *text)
{
    struct stk_err err = STK_ERR_INIT;
    cr_assert_eq(stk_file_write_atomic(path, text, strlen(text), 0644, 0, &err), 0, "%s", err.msg);
}

/* Writes DATA as a blob of the layout DIR; stores its digest. */
static void put_blob(const char *dir, const char *data, char digest[STK_DIGEST_STR_LEN])
{
    char *p;

    stk_sha256_digest(data, strlen(data), digest);
    p = stk_xasprintf("%s/blobs/sha256/%s", dir, digest + 7);
    write_file(p, data);
    free(p);
}

/* A manifest without layers for OS/ARCH(/OS_VERSION); returns its digest and size. */
static void make_manifest(const char *dir, const char *os, const char *arch, const char *osv,
                          char digest[STK_DIGEST_STR_LEN], size_t *ret_size)
{
    char cd[STK_DIGEST_STR_LEN];
    char *osvf = osv ? stk_xasprintf(",\"os.version\":\"%s\"", osv) : stk_xstrdup("");
    char *cfg =
        stk_xasprintf("{\"architecture\":\"%s\",\"os\":\"%s\"%s,\"config\":{\"Cmd\":[\"%s-%s\"]},"
                      "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
                      arch, os, osvf, os, osv ? osv : arch);
    put_blob(dir, cfg, cd);
    char *man = stk_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
                              "\"%s\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[]}",
                              RT_IMAGE_MT_OCI_MANIFEST, RT_IMAGE_MT_OCI_CONFIG, cd, strlen(cfg));
    put_blob(dir, man, digest);
    *ret_size = strlen(man);
    free(osvf);
    free(cfg);
    free(man);
}

/* The multi-platform layout: index.json -> index "v1" -> three manifests. */
static char d_win17763[STK_DIGEST_STR_LEN], d_win20348[STK_DIGEST_STR_LEN],
    d_linux[STK_DIGEST_STR_LEN], d_index[STK_DIGEST_STR_LEN];

static void make_multi_layout(const char *dir)
{
    struct stk_err err = STK_ERR_INIT;
    char *blobs = stk_xasprintf("%s/blobs/sha256", dir), *p;
    size_t s1, s2, s3;

    cr_assert_eq(stk_mkdir_p(blobs, 0755, &err), 0);
    make_manifest(dir, "windows", "amd64", "10.0.17763.1", d_win17763, &s1);
    make_manifest(dir, "windows", "amd64", "10.0.20348.1", d_win20348, &s2);
    make_manifest(dir, "linux", "amd64", NULL, d_linux, &s3);
    char *inner = stk_xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["
        "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"windows\","
        "\"architecture\":\"amd64\",\"os.version\":\"10.0.17763.1\"}},"
        "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"windows\","
        "\"architecture\":\"amd64\",\"os.version\":\"10.0.20348.1\"}},"
        "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\","
        "\"architecture\":\"amd64\"}}]}",
        RT_IMAGE_MT_OCI_INDEX, RT_IMAGE_MT_OCI_MANIFEST, d_win17763, s1, RT_IMAGE_MT_OCI_MANIFEST,
        d_win20348, s2, RT_IMAGE_MT_OCI_MANIFEST, d_linux, s3);
    put_blob(dir, inner, d_index);
    char *index =
        stk_xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\","
                      "\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"%s\":"
                      "\"v1\"}}]}",
                      RT_IMAGE_MT_OCI_INDEX, d_index, strlen(inner), RT_IMAGE_ANNOT_REF_NAME);
    p = stk_xasprintf("%s/index.json", dir);
    write_file(p, index);
    free(p);
    p = stk_xasprintf("%s/oci-layout", dir);
    write_file(p, "{\"imageLayoutVersion\":\"1.0.0\"}");
    free(p);
    free(inner);
    free(index);
    free(blobs);
}

/* The token registry: 401 + Bearer challenge, /token, manifests proxied, blobs redirected. */
static const char proxy_py[] =
    "import http.server, json, sys, urllib.error, urllib.parse, urllib.request\n"
    "up = int(sys.argv[1]); portfile = sys.argv[2]; basic = sys.argv[3]\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def reply(self, code, body=b'', headers=()):\n"
    "        self.send_response(code)\n"
    "        for k, v in headers: self.send_header(k, v)\n"
    "        self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "    def do_GET(self):\n"
    "        u = urllib.parse.urlsplit(self.path)\n"
    "        if u.path == '/token':\n"
    "            q = urllib.parse.parse_qs(u.query)\n"
    "            if basic != '-' and self.headers.get('Authorization') != 'Basic ' + basic:\n"
    "                return self.reply(401)\n"
    "            if q.get('service') != ['test-registry'] or "
    "q.get('scope') != ['repository:test/busybox:pull']:\n"
    "                return self.reply(400)\n"
    "            return self.reply(200, json.dumps({'token': 'sekret'}).encode(),\n"
    "                              [('Content-Type', 'application/json')])\n"
    "        if self.headers.get('Authorization') != 'Bearer sekret':\n"
    "            ch = 'Bearer realm=\"http://127.0.0.1:%d/token\",service=\"test-registry\",'\n"
    "            ch += 'scope=\"repository:test/busybox:pull\"'\n"
    "            return self.reply(401, b'{}', [('WWW-Authenticate', ch % srv.server_port)])\n"
    "        if '/blobs/' in u.path:\n"
    "            return self.reply(307, b'', [('Location', 'http://127.0.0.1:%d%s' % (up, "
    "self.path))])\n"
    "        req = urllib.request.Request('http://127.0.0.1:%d%s' % (up, self.path),\n"
    "                                     headers={'Accept': self.headers.get('Accept', '')})\n"
    "        try:\n"
    "            r = urllib.request.urlopen(req)\n"
    "        except urllib.error.HTTPError as e:\n"
    "            r = e\n"
    "        data = r.read()\n"
    "        self.reply(r.status, data, [('Content-Type', r.headers.get('Content-Type', ''))])\n"
    "srv = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
    "open(portfile + '.tmp', 'w').write(str(srv.server_port))\n"
    "import os; os.rename(portfile + '.tmp', portfile)\n"
    "srv.serve_forever()\n";

static void setup(void)
{
    struct stk_err err = STK_ERR_INIT;
    char *cmd;

    stk_test_require_registry_tools();
    cr_assert_not_null(mkdtemp(tmpdir));
    tmpdir_made = 1;
    state_dir = stk_xasprintf("%s/state", tmpdir);
    busybox_dir = stk_xasprintf("%s/busybox", tmpdir);
    multi_dir = stk_xasprintf("%s/multi", tmpdir);
    stk_test_registry_start(&reg, tmpdir);

    cmd = stk_xasprintf("%s/examples/images/build-busybox.sh '%s' >/dev/null", STK_SOURCE_DIR,
                        busybox_dir);
    run(cmd);
    free(cmd);
    stk_test_registry_push(&reg, busybox_dir, "test/busybox:v1", 0);
    make_multi_layout(multi_dir);
    cmd = stk_xasprintf("%s:v1", multi_dir);
    stk_test_registry_push(&reg, cmd, "test/multi:v1", 1);
    free(cmd);
    cr_assert_eq(rt_image_store_open(state_dir, &store, &err), 0, "open: %s", err.msg);
}

static void teardown(void)
{
    struct stk_err err = STK_ERR_INIT;

    stk_test_stop_pid(&proxy_pid);
    stk_test_registry_stop(&reg);
    rt_image_store_close(store);
    store = NULL;
    if (tmpdir_made)
        stk_rm_rf(tmpdir, &err);
    stk_err_clear(&err);
    free(state_dir);
    free(busybox_dir);
    free(multi_dir);
}

TestSuite(rt_image_pull, .init = setup, .fini = teardown, .timeout = 120);

/* The manifest digest a layout's index.json names, read independently of the store. */
static char *layout_manifest_digest(const char *dir)
{
    char *path = stk_xasprintf("%s/index.json", dir);
    json_t *j = json_load_file(path, 0, NULL);
    cr_assert_not_null(j, "parse %s", path);
    char *r = stk_xstrdup(json_string_value(
        json_object_get(json_array_get(json_object_get(j, "manifests"), 0), "digest")));
    json_decref(j);
    free(path);
    return r;
}

/* How many lines of the registry's access log contain NEEDLE. */
static int log_count(const char *needle)
{
    char *data = NULL;
    size_t len = 0;
    struct stk_err err = STK_ERR_INIT;
    int n = 0;

    cr_assert_eq(stk_file_read(reg.log, &data, &len, &err), 0, "%s", err.msg);
    for (char *p = data; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(data);
    return n;
}

static int blob_in_store(const char *digest)
{
    struct stk_err err = STK_ERR_INIT;
    char *p = rt_image_blob_path(store, digest, &err);
    int r;

    cr_assert_not_null(p);
    r = stk_path_exists(p);
    free(p);
    return r;
}

static char *busybox_ref(const char *suffix)
{
    return stk_xasprintf("127.0.0.1:%d/test/busybox%s", reg.port, suffix);
}

Test(rt_image_pull, by_tag_fetches_verifies_and_tags)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_image_pull_stats st = {99, 99};
    struct rt_image *img = NULL;
    char *want = layout_manifest_digest(busybox_dir), *got = NULL;
    char *ref = busybox_ref(":v1");

    cr_assert_eq(rt_image_pull(store, ref, NULL, &got, &st, &err), 0, "pull: %s", err.msg);
    cr_assert_str_eq(got, want);
    cr_assert_eq(st.blobs_fetched, 2, "config and one layer fetched, got %u", st.blobs_fetched);
    cr_assert_eq(st.blobs_present, 0);
    cr_assert_eq(rt_image_resolve(store, ref, NULL, &img, &err), 0, "resolve: %s", err.msg);
    cr_assert_str_eq(img->ref, ref);
    cr_assert_str_eq(img->manifest_digest, want);
    cr_assert_eq(img->n_layers, 1);
    cr_assert(blob_in_store(img->layers[0].digest));
    cr_assert(blob_in_store(img->config_digest));
    cr_assert_str_eq(img->os, "linux");
    cr_assert_not_null(img->cmd);
    cr_assert_str_eq(img->cmd[0], "sh");
    /* The layer came from the registry: one GET of its blob in the access log. */
    {
        char *needle = stk_xasprintf("\"GET /v2/test/busybox/blobs/%s ", img->layers[0].digest);
        cr_assert_eq(log_count(needle), 1);
        free(needle);
    }
    rt_image_free(img);
    free(ref);
    free(got);
    free(want);
}

Test(rt_image_pull, by_digest_records_no_tag)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_image_list l;
    struct rt_image *img = NULL;
    char *want = layout_manifest_digest(busybox_dir), *got = NULL;
    char *suffix = stk_xasprintf("@%s", want);
    char *ref = busybox_ref(suffix);

    cr_assert_eq(rt_image_pull(store, ref, NULL, &got, NULL, &err), 0, "pull: %s", err.msg);
    cr_assert_str_eq(got, want);
    cr_assert_eq(rt_image_list(store, &l, &err), 0);
    cr_assert_eq(l.n, 0, "a digest pull tags nothing");
    rt_image_list_release(&l);
    cr_assert_eq(rt_image_resolve(store, ref, NULL, &img, &err), 0, "resolve: %s", err.msg);
    cr_assert_str_eq(img->manifest_digest, want);
    rt_image_free(img);
    free(ref);
    free(suffix);
    free(got);
    free(want);
}

Test(rt_image_pull, blobs_already_in_the_store_are_not_requested)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_image_pull_stats st = {99, 99};
    char *ref = busybox_ref(":v1");

    /* The same image loaded from its layout first: every blob is present. */
    cr_assert_eq(rt_image_load_layout(store, busybox_dir, NULL, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(rt_image_pull(store, ref, NULL, NULL, &st, &err), 0, "pull: %s", err.msg);
    cr_assert_eq(st.blobs_fetched, 0);
    cr_assert_eq(st.blobs_present, 2);
    cr_assert_eq(log_count("\"GET /v2/test/busybox/blobs/"), 0, "no blob GET in the log");
    cr_assert_eq(log_count("\"GET /v2/test/busybox/manifests/v1 "), 1);
    /* A second pull of the pulled image: the same. */
    cr_assert_eq(rt_image_pull(store, ref, NULL, NULL, &st, &err), 0, "pull: %s", err.msg);
    cr_assert_eq(st.blobs_fetched, 0);
    cr_assert_eq(log_count("\"GET /v2/test/busybox/blobs/"), 0);
    free(ref);
}

Test(rt_image_pull, unknown_tag_and_repository_are_404_enoent)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_image_list l;
    char *ref = busybox_ref(":nope"), *want;

    cr_assert_eq(rt_image_pull(store, ref, NULL, NULL, NULL, &err), STK_ENOENT);
    want = stk_xasprintf("pull '%s': 127.0.0.1:%d answered 404 for manifest 'nope'", ref, reg.port);
    cr_assert_str_eq(err.msg, want);
    free(want);
    free(ref);
    stk_err_clear(&err);
    ref = stk_xasprintf("127.0.0.1:%d/no/such:v1", reg.port);
    cr_assert_eq(rt_image_pull(store, ref, NULL, NULL, NULL, &err), STK_ENOENT);
    cr_assert(strstr(err.msg, "answered 404 for manifest 'v1'"), "%s", err.msg);
    cr_assert_eq(rt_image_list(store, &l, &err), 0);
    cr_assert_eq(l.n, 0);
    rt_image_list_release(&l);
    free(ref);
}

Test(rt_image_pull, tampered_blob_is_a_digest_error_and_nothing_is_tagged)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_image_list l;
    char *man_digest = layout_manifest_digest(busybox_dir), *path, *data = NULL, *ref;
    json_t *m;
    size_t len;
    const char *layer;

    /* The layer digest, from the layout's manifest. */
    path = stk_xasprintf("%s/blobs/sha256/%s", busybox_dir, man_digest + 7);
    m = json_load_file(path, 0, NULL);
    cr_assert_not_null(m);
    free(path);
    layer = json_string_value(
        json_object_get(json_array_get(json_object_get(m, "layers"), 0), "digest"));
    cr_assert_not_null(layer);
    /* One byte flipped in the registry's copy, same size. */
    path = stk_xasprintf("%s/docker/registry/v2/blobs/sha256/%.2s/%s/data", reg.root, layer + 7,
                         layer + 7);
    cr_assert_eq(stk_file_read(path, &data, &len, &err), 0, "%s: %s", path, err.msg);
    data[len / 2] ^= 0x55;
    cr_assert_eq(stk_file_write_atomic(path, data, len, 0644, 0, &err), 0);
    free(data);
    free(path);

    ref = busybox_ref(":v1");
    cr_assert_eq(rt_image_pull(store, ref, NULL, NULL, NULL, &err), STK_EDIGEST);
    cr_assert(strstr(err.msg, layer), "the message names the blob: %s", err.msg);
    cr_assert(strncmp(err.msg, "pull '", 6) == 0, "%s", err.msg);
    cr_assert_not(blob_in_store(layer));
    cr_assert_eq(rt_image_list(store, &l, &err), 0);
    cr_assert_eq(l.n, 0, "nothing tagged");
    rt_image_list_release(&l);
    /* And the staging directory holds nothing left over. */
    {
        char *tmp = stk_xasprintf("%s/tmp", rt_image_store_dir(store));
        char *cmd = stk_xasprintf("test -z \"$(ls -A '%s')\"", tmp);
        run(cmd);
        free(cmd);
        free(tmp);
    }
    json_decref(m);
    free(ref);
    free(man_digest);
}

Test(rt_image_pull, manifest_unlike_the_registrys_digest_is_a_digest_error)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_image_list l;
    char *man_digest = layout_manifest_digest(busybox_dir), *path, *data = NULL, *ref, *tampered;
    size_t len;

    /*
     * The registry's copy of the manifest gets a space after its '{': still
     * JSON, so the registry serves it for the tag, with Docker-Content-Digest
     * naming the digest it is stored under.
     */
    path = stk_xasprintf("%s/docker/registry/v2/blobs/sha256/%.2s/%s/data", reg.root,
                         man_digest + 7, man_digest + 7);
    cr_assert_eq(stk_file_read(path, &data, &len, &err), 0, "%s: %s", path, err.msg);
    cr_assert_eq(data[0], '{');
    tampered = stk_xasprintf("{ %s", data + 1);
    write_file(path, tampered);

    ref = busybox_ref(":v1");
    cr_assert_eq(rt_image_pull(store, ref, NULL, NULL, NULL, &err), STK_EDIGEST, "%s", err.msg);
    cr_assert(strstr(err.msg, "the registry says digest"), "%s", err.msg);
    cr_assert(strstr(err.msg, man_digest), "the message names the registry's digest: %s", err.msg);
    cr_assert_eq(rt_image_list(store, &l, &err), 0);
    cr_assert_eq(l.n, 0, "nothing tagged");
    rt_image_list_release(&l);
    free(tampered);
    free(data);
    free(path);
    free(ref);
    free(man_digest);
}

Test(rt_image_pull, index_goes_through_platform_selection)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_image_platform linux_amd64 = {"linux", "amd64", NULL, NULL};
    struct rt_image_platform win = {"windows", "amd64", NULL, "10.0.20348.2340"};
    struct rt_image_platform arm = {"linux", "arm64", NULL, NULL};
    struct rt_image *img = NULL;
    char *ref = stk_xasprintf("127.0.0.1:%d/test/multi:v1", reg.port), *got = NULL, *dref;

    cr_assert_eq(rt_image_pull(store, ref, &linux_amd64, &got, NULL, &err), 0, "%s", err.msg);
    cr_assert_str_eq(got, d_linux);
    free(got);
    got = NULL;
    /* The Windows build chooses its os.version's entry, not the first windows one. */
    cr_assert_eq(rt_image_pull(store, ref, &win, &got, NULL, &err), 0, "%s", err.msg);
    cr_assert_str_eq(got, d_win20348);
    cr_assert_eq(rt_image_resolve(store, ref, &win, &img, &err), 0, "%s", err.msg);
    cr_assert_str_eq(img->manifest_digest, d_win20348);
    cr_assert_str_eq(img->os_version, "10.0.20348.1");
    rt_image_free(img);
    img = NULL;
    /* The index itself was stored: a digest reference to it resolves per platform. */
    cr_assert(blob_in_store(d_index));
    dref = stk_xasprintf("127.0.0.1:%d/test/multi@%s", reg.port, d_index);
    cr_assert_eq(rt_image_resolve(store, dref, &linux_amd64, &img, &err), 0, "%s", err.msg);
    cr_assert_str_eq(img->manifest_digest, d_linux);
    rt_image_free(img);
    /* No entry for linux/arm64. */
    cr_assert_eq(rt_image_pull(store, ref, &arm, NULL, NULL, &err), STK_EIMAGE);
    cr_assert(strstr(err.msg, "no manifest for platform linux/arm64"), "%s", err.msg);
    free(dref);
    free(got);
    free(ref);
}

Test(rt_image_pull, connection_refused_names_the_registry)
{
    struct stk_err err = STK_ERR_INIT;
    int port = stk_test_free_port();
    char *ref = stk_xasprintf("127.0.0.1:%d/test/busybox:v1", port), *host;

    cr_assert_eq(rt_image_pull(store, ref, NULL, NULL, NULL, &err), STK_EUNAVAIL);
    host = stk_xasprintf("cannot reach registry '127.0.0.1:%d'", port);
    cr_assert(strstr(err.msg, host), "%s", err.msg);
    free(host);
    free(ref);
}

Test(rt_image_pull, malformed_references_are_einval)
{
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(rt_image_pull(store, "127.0.0.1:1/Upper/Case:v1", NULL, NULL, NULL, &err),
                 STK_EINVAL);
    stk_err_clear(&err);
    cr_assert_eq(rt_image_pull(store, "", NULL, NULL, NULL, &err), STK_EINVAL);
    stk_err_clear(&err);
    cr_assert_eq(rt_image_pull(store, "127.0.0.1:1/a/b:t?x", NULL, NULL, NULL, &err), STK_EINVAL);
}

/*
 * Starts the token registry in front of the real one; BASIC is the base64
 * "user:password" its /token endpoint demands ("-": anonymous tokens).
 * Returns its log path (new string).
 */
static char *proxy_start(const char *basic)
{
    struct stk_err err = STK_ERR_INIT;
    char *script = stk_xasprintf("%s/proxy.py", tmpdir);
    char *portfile = stk_xasprintf("%s/proxy.port", tmpdir);
    char *plog = stk_xasprintf("%s/proxy.log", tmpdir);
    char *up = stk_xasprintf("%d", reg.port);
    char *data = NULL;
    size_t len;

    write_file(script, proxy_py);
    {
        char *argv[] = {(char *)STK_TEST_PYTHON_BIN, script, up, portfile, (char *)basic, NULL};
        proxy_pid = stk_test_spawn(argv, plog);
    }
    for (int i = 0; i < 200 && !stk_path_exists(portfile); i++)
        sleep_ms(50);
    cr_assert_eq(stk_file_read(portfile, &data, &len, &err), 0, "proxy did not start: %s", plog);
    proxy_port = atoi(data);
    free(data);
    stk_test_wait_port(proxy_port, proxy_pid, plog);
    free(up);
    free(portfile);
    free(script);
    return plog;
}

Test(rt_image_pull, bearer_token_challenge_and_blob_redirect)
{
    struct stk_err err = STK_ERR_INIT;
    struct rt_image_pull_stats st;
    char *plog, *ref, *got = NULL, *want;
    char *data = NULL;
    size_t len;

    plog = proxy_start("-");
    ref = stk_xasprintf("127.0.0.1:%d/test/busybox:v1", proxy_port);
    want = layout_manifest_digest(busybox_dir);
    cr_assert_eq(rt_image_pull(store, ref, NULL, &got, &st, &err), 0, "pull: %s", err.msg);
    cr_assert_str_eq(got, want);
    cr_assert_eq(st.blobs_fetched, 2);
    /* The token was fetched, and the blobs came from the registry behind the redirect. */
    cr_assert_eq(stk_file_read(plog, &data, &len, &err), 0);
    cr_assert(strstr(data, "\"GET /token?"), "%s", data);
    cr_assert(strstr(data, "\" 401 "), "%s", data);
    cr_assert(strstr(data, "\" 307 "), "%s", data);
    cr_assert_eq(log_count("\"GET /v2/test/busybox/blobs/"), 2);
    free(data);
    free(want);
    free(got);
    free(ref);
    free(plog);
}

Test(rt_image_pull, token_with_docker_config_credentials)
{
    struct stk_err err = STK_ERR_INIT;
    char *plog, *ref, *cfgdir = stk_xasprintf("%s/docker", tmpdir), *cfg, *text;

    /* "user:pass" in base64, as `docker login` stores it. */
    plog = proxy_start("dXNlcjpwYXNz");
    ref = stk_xasprintf("127.0.0.1:%d/test/busybox:v1", proxy_port);
    cr_assert_eq(stk_mkdir_p(cfgdir, 0700, &err), 0);
    cfg = stk_xasprintf("%s/config.json", cfgdir);
    setenv("DOCKER_CONFIG", cfgdir, 1);
    /* No credentials: the token server refuses. */
    cr_assert_eq(rt_image_pull(store, ref, NULL, NULL, NULL, &err), STK_EPERM, "%s", err.msg);
    cr_assert(strstr(err.msg, "answered 401"), "%s", err.msg);
    stk_err_clear(&err);
    text = stk_xasprintf("{\"auths\":{\"127.0.0.1:%d\":{\"auth\":\"dXNlcjpwYXNz\"}}}", proxy_port);
    write_file(cfg, text);
    cr_assert_eq(rt_image_pull(store, ref, NULL, NULL, NULL, &err), 0, "pull: %s", err.msg);
    unsetenv("DOCKER_CONFIG");
    free(text);
    free(cfg);
    free(cfgdir);
    free(ref);
    free(plog);
}

/* Docker's reference normalisation and the http/https rule: strings only, no network. */
static void endpoint_is(const char *ref, const char *base, const char *repo, const char *reference)
{
    struct stk_err err = STK_ERR_INIT;
    char *b = NULL, *r = NULL, *t = NULL;

    cr_assert_eq(rt__image_pull_endpoint(ref, &b, &r, &t, &err), 0, "%s: %s", ref, err.msg);
    cr_assert_str_eq(b, base, "%s", ref);
    cr_assert_str_eq(r, repo, "%s", ref);
    cr_assert_str_eq(t, reference, "%s", ref);
    free(b);
    free(r);
    free(t);
}

Test(rt_image_pull_ref, docker_normalisation_and_insecure_registries)
{
    const char *dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char *ref = stk_xasprintf("docker.io/library/busybox@%s", dg);

    unsetenv("STACK_INSECURE_REGISTRIES");
    endpoint_is("busybox", "https://registry-1.docker.io", "library/busybox", "latest");
    endpoint_is("team/app:1.2", "https://registry-1.docker.io", "team/app", "1.2");
    endpoint_is(ref, "https://registry-1.docker.io", "library/busybox", dg);
    endpoint_is("index.docker.io/busybox:1", "https://registry-1.docker.io", "library/busybox",
                "1");
    endpoint_is("quay.io/org/app:v1", "https://quay.io", "org/app", "v1");
    endpoint_is("localhost/app", "http://localhost", "app", "latest");
    endpoint_is("localhost:5000/a/b:c", "http://localhost:5000", "a/b", "c");
    endpoint_is("127.0.0.1:5000/a", "http://127.0.0.1:5000", "a", "latest");
    endpoint_is("[::1]:5000/a", "http://[::1]:5000", "a", "latest");
    endpoint_is("myhost:5000/x", "https://myhost:5000", "x", "latest");
    endpoint_is("reg.example:5000/x", "https://reg.example:5000", "x", "latest");
    setenv("STACK_INSECURE_REGISTRIES", "other.example, myhost:5000", 1);
    endpoint_is("myhost:5000/x", "http://myhost:5000", "x", "latest");
    endpoint_is("myhost:6000/x", "https://myhost:6000", "x", "latest");
    setenv("STACK_INSECURE_REGISTRIES", "reg.example", 1);
    endpoint_is("reg.example:5000/x", "http://reg.example:5000", "x", "latest");
    unsetenv("STACK_INSECURE_REGISTRIES");
    free(ref);
}
