/*
 * test-stk-common.c - the common layer: error chaining and truncation, the
 * growable buffer, string vectors, SHA-256 digests and diagnostics.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "common/stk-buf.h"
#include "common/stk-diag.h"
#include "common/stk-err.h"
#include "common/stk-fs.h"
#include "common/stk-sha256.h"
#include "common/stk-strv.h"
#include "common/stk-alloc.h"
#include <errno.h>
#include <unistd.h>

Test(stk_err, set_wrap_chain_keeps_code)
{
    struct stk_err err = STK_ERR_INIT;
    char buf[600];

    cr_assert_eq(stk_err_set(&err, STK_ERUNTIME, 0, "runc create: exit status %d", 1),
                 STK_ERUNTIME);
    cr_assert_eq(stk_err_wrap(&err, "start container '%s'", "web"), STK_ERUNTIME);
    stk_err_wrap(&err, "reconcile stack '%s'", "shop");
    cr_assert_str_eq(err.msg,
                     "reconcile stack 'shop': start container 'web': runc create: exit status 1");
    cr_assert_str_eq(stk_err_format(&err, buf, sizeof(buf)), err.msg);
    stk_err_clear(&err);
    cr_assert_eq(err.code, 0);
}

Test(stk_err, os_code_text_and_position)
{
    struct stk_err err = STK_ERR_INIT;
    char buf[600];

    stk_err_set(&err, STK_EIO, ENOENT, "open '%s'", "x.yaml");
    cr_assert_str_eq(err.msg, "open 'x.yaml': No such file or directory");
    cr_assert_eq(err.os_code, ENOENT);
    stk_err_set_at(&err, STK_ESPEC, "app.yaml", 12, 7, "unknown key '%s'", "imagee");
    cr_assert_str_eq(stk_err_format(&err, buf, sizeof(buf)), "app.yaml:12:7: unknown key 'imagee'");
}

Test(stk_err, wrap_truncates_innermost_text)
{
    struct stk_err err = STK_ERR_INIT;
    char inner[700];

    memset(inner, 'x', sizeof(inner) - 1);
    inner[sizeof(inner) - 1] = '\0';
    stk_err_set(&err, STK_EIO, 0, "%s", inner);
    stk_err_wrap(&err, "outer context");
    cr_assert_eq(strncmp(err.msg, "outer context: xxx", 18), 0, "%s", err.msg);
    cr_assert_lt(strlen(err.msg), sizeof(err.msg));
    cr_assert_str_eq(err.msg + strlen(err.msg) - 3, "\xe2\x80\xa6", "no ellipsis at the end");
}

Test(stk_err, detail_is_owned_and_freed)
{
    struct stk_err err = STK_ERR_INIT, moved = STK_ERR_INIT;

    stk_err_set(&err, STK_ENET, 0, "cni bridge ADD: failed");
    stk_err_set_detail(&err, "{\"code\": 11}");
    cr_assert_str_eq(err.detail, "{\"code\": 11}");
    stk_err_move(&moved, &err);
    cr_assert_null(err.detail);
    cr_assert_str_eq(moved.detail, "{\"code\": 11}");
    stk_err_clear(&moved);
    cr_assert_null(moved.detail);
}

Test(stk_buf, grows_and_detaches)
{
    struct stk_buf b = STK_BUF_INIT;
    char *s;
    size_t len;

    cr_assert_str_eq(b.buf, "");
    for (int i = 0; i < 1000; i++)
        stk_buf_printf(&b, "%d,", i % 10);
    cr_assert_eq(b.len, 2000);
    stk_buf_putc(&b, '!');
    s = stk_buf_detach(&b, &len);
    cr_assert_eq(len, 2001);
    cr_assert_eq(s[2000], '!');
    cr_assert_eq(b.len, 0);
    cr_assert_str_eq(b.buf, "");
    free(s);
}

Test(stk_strv, push_sort_contains_dup)
{
    struct stk_strv v = STK_STRV_INIT;
    char **d;

    stk_strv_push(&v, "b");
    stk_strv_pushf(&v, "%s", "c");
    stk_strv_push(&v, "a");
    stk_strv_sort(&v);
    cr_assert_str_eq(v.v[0], "a");
    cr_assert_str_eq(v.v[2], "c");
    cr_assert_null(v.v[3]);
    cr_assert(stk_strv_contains(&v, "b"));
    cr_assert_not(stk_strv_contains(&v, "d"));
    d = stk_strv_dup(v.v);
    cr_assert_eq(stk_strv_len(d), 3);
    stk_strv_free(d);
    stk_strv_release(&v);
}

Test(stk_sha256, known_vectors)
{
    char out[STK_DIGEST_STR_LEN];

    /* FIPS 180-2 test vector "abc". */
    stk_sha256_digest("abc", 3, out);
    cr_assert_str_eq(out,
                     "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    stk_sha256_digest("", 0, out);
    cr_assert_str_eq(out,
                     "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

Test(stk_sha256, file_matches_memory)
{
    char path[] = "/tmp/stk-sha-XXXXXX";
    char a[STK_DIGEST_STR_LEN], b[STK_DIGEST_STR_LEN];
    struct stk_err err = STK_ERR_INIT;
    int fd = mkstemp(path);

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "hello world\n", 12), 12);
    close(fd);
    cr_assert_eq(stk_sha256_file(path, a, &err), 0);
    stk_sha256_digest("hello world\n", 12, b);
    cr_assert_str_eq(a, b);
    unlink(path);
    cr_assert_eq(stk_sha256_file(path, a, &err), STK_EIO);
}

Test(stk_diag, sorted_and_formatted)
{
    struct stk_diag d = STK_DIAG_INIT;
    char *s;

    stk_diag_add(&d, STK_DIAG_WARNING, "a.yaml", 9, 3, "key 'build' is not acted on yet");
    stk_diag_add(&d, STK_DIAG_ERROR, "a.yaml", 2, 5, "unknown key 'imagee'");
    stk_diag_add(&d, STK_DIAG_ERROR, "a.yaml", 2, 5, "second at same place");
    stk_diag_sort(&d);
    cr_assert_eq(d.n_errors, 2);
    s = stk_diag_format(&d, 0);
    cr_assert_str_eq(s, "a.yaml:2:5: error: unknown key 'imagee'");
    free(s);
    cr_assert_str_eq(d.items[1].msg, "second at same place");
    s = stk_diag_format(&d, 2);
    cr_assert_str_eq(s, "a.yaml:9:3: warning: key 'build' is not acted on yet");
    free(s);
    stk_diag_release(&d);
}

Test(stk_fs, atomic_write_read_and_rm_rf)
{
    char dir[] = "/tmp/stk-fs-XXXXXX";
    struct stk_err err = STK_ERR_INIT;
    char *path, *data = NULL, *deep;
    size_t len;

    cr_assert_not_null(mkdtemp(dir));
    deep = stk_xasprintf("%s/a/b/c", dir);
    cr_assert_eq(stk_mkdir_p(deep, 0755, &err), 0);
    path = stk_xasprintf("%s/f.txt", deep);
    cr_assert_eq(stk_file_write_atomic(path, "data", 4, 0600, 1, &err), 0);
    cr_assert_eq(stk_file_read(path, &data, &len, &err), 0);
    cr_assert_eq(len, 4);
    cr_assert_str_eq(data, "data");
    free(data);
    cr_assert_eq(stk_rm_rf(dir, &err), 0);
    cr_assert_not(stk_path_exists(dir));
    cr_assert_eq(stk_file_read(path, &data, &len, &err), STK_ENOENT);
    free(path);
    free(deep);
}
