/*
 * test-spec-path.c - host paths by the rules of their folder (specs/spec-path.c), on
 * Linux: Go's filepath.Clean vectors for Windows (path/filepath path_test.go
 * wincleantests), resolution against Windows working directories (drive letters, UNC,
 * both separators), and spec_project_load() with a Windows working directory.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-strv.h"
#include "specs/spec-internal.h"
#include "specs/spec.h"

Test(spec_path, windows_clean_matches_go)
{
    static const char *const cases[][2] = {
        {"c:", "c:."},
        {"c:\\", "c:\\"},
        {"c:\\abc", "c:\\abc"},
        {"c:abc\\..\\..\\.\\.\\..\\def", "c:..\\..\\def"},
        {"c:\\abc\\def\\..\\..", "c:\\"},
        {"c:\\..\\abc", "c:\\abc"},
        {"c:..\\abc", "c:..\\abc"},
        {"c:\\b:\\..\\..\\..\\d", "c:\\d"},
        {"\\", "\\"},
        {"/", "\\"},
        {"\\\\i\\..\\c$", "\\\\i\\..\\c$"},
        {"\\\\i\\..\\i\\c$", "\\\\i\\..\\i\\c$"},
        {"\\\\host\\share\\foo\\..\\bar", "\\\\host\\share\\bar"},
        {"//host/share/foo/../baz", "\\\\host\\share\\baz"},
        {"\\\\host\\share\\foo\\..\\..\\..\\..\\bar", "\\\\host\\share\\bar"},
        {"\\\\.\\C:\\a\\..\\..\\..\\..\\bar", "\\\\.\\C:\\bar"},
        {"\\\\.\\C:\\\\\\\\a", "\\\\.\\C:\\a"},
        {"\\\\a\\b\\..\\c", "\\\\a\\b\\c"},
        {"\\\\a\\b", "\\\\a\\b"},
        {".\\c:", ".\\c:"},
        {".\\c:\\foo", ".\\c:\\foo"},
        {".\\c:foo", ".\\c:foo"},
        {"//abc", "\\\\abc"},
        {"///abc", "\\\\\\abc"},
        {"//abc//", "\\\\abc\\\\"},
        {"\\\\?\\C:\\", "\\\\?\\C:\\"},
        {"\\\\?\\C:\\a", "\\\\?\\C:\\a"},
        {"a/../c:", ".\\c:"},
        {"a\\..\\c:", ".\\c:"},
        {"a/../c:/a", ".\\c:\\a"},
        {"a/../../c:", "..\\c:"},
        {"foo:bar", "foo:bar"},
        /* The generic vectors, with both separators. */
        {"abc/def/../ghi", "abc\\ghi"},
        {"abc\\.\\def", "abc\\def"},
        {"../../abc", "..\\..\\abc"},
        {"", "."},
        {"C:\\Users\\me\\proj/../x", "C:\\Users\\me\\x"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *c = spec__win_path_clean(cases[i][0]);
        cr_expect_str_eq(c, cases[i][1], "clean('%s') = '%s', want '%s'", cases[i][0], c,
                         cases[i][1]);
        free(c);
    }
}

Test(spec_path, windows_absolute_paths)
{
    cr_expect(spec__is_windows_abs("C:\\x"));
    cr_expect(spec__is_windows_abs("c:/x"));
    cr_expect(spec__is_windows_abs("\\\\server\\share"));
    cr_expect(spec__is_windows_abs("//server/share/x"));
    cr_expect(spec__is_windows_abs("\\\\.\\pipe\\docker_engine"));
    cr_expect(!spec__is_windows_abs("C:"));
    cr_expect(!spec__is_windows_abs("C:x"));
    cr_expect(!spec__is_windows_abs("\\x"));
    cr_expect(!spec__is_windows_abs("/x"));
    cr_expect(!spec__is_windows_abs(".\\x"));
    cr_expect_eq(spec__win_volume_len("\\\\srv\\share\\dir"), 11);
    cr_expect_eq(spec__win_volume_len("\\\\.\\UNC\\srv\\share\\x"), 17);
    cr_expect_eq(spec__win_volume_len("/etc"), 0);
}

Test(spec_path, resolve_against_a_windows_folder)
{
    static const char *const cases[][3] = {
        {"C:\\Users\\me\\proj", ".\\data", "C:\\Users\\me\\proj\\data"},
        {"C:\\Users\\me\\proj", "..\\logs\\", "C:\\Users\\me\\logs"},
        {"C:\\Users\\me\\proj", "./conf/../site", "C:\\Users\\me\\proj\\site"},
        {"C:\\Users\\me\\proj", "../x", "C:\\Users\\me\\x"},
        {"C:\\Users\\me\\proj", "sub\\compose.yaml", "C:\\Users\\me\\proj\\sub\\compose.yaml"},
        {"C:\\Users\\me\\proj", "\\data", "C:\\data"},
        {"C:\\Users\\me\\proj", "D:\\other\\.\\x", "D:\\other\\x"},
        {"C:\\Users\\me\\proj", "..\\..\\..\\..\\x", "C:\\x"},
        {"C:\\", ".\\data", "C:\\data"},
        {"Z:\\work\\smoke", "sub\\..\\sub\\c.yaml", "Z:\\work\\smoke\\sub\\c.yaml"},
        {"\\\\srv\\share\\proj", "..\\..\\x", "\\\\srv\\share\\x"},
        {"\\\\srv\\share\\proj", "\\x", "\\\\srv\\share\\x"},
        {"//srv/share/proj", "./data", "\\\\srv\\share\\proj\\data"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *r = spec__path_resolve(cases[i][0], cases[i][1], 0);
        cr_expect_str_eq(r, cases[i][2], "resolve('%s', '%s') = '%s', want '%s'", cases[i][0],
                         cases[i][1], r, cases[i][2]);
        free(r);
    }
}

Test(spec_path, resolve_against_a_posix_folder)
{
    char *r;

    r = spec__path_resolve("/home/me/proj", ".\\data", 1);
    cr_expect_str_eq(r, "/home/me/proj/data");
    free(r);
    r = spec__path_resolve("/home/me/proj", "..\\logs\\", 1);
    cr_expect_str_eq(r, "/home/me/logs");
    free(r);
    /* On Linux a '\\' is a character of the name, as compose-go (filepath on Linux) keeps it. */
    r = spec__path_resolve("/home/me/proj", ".\\data", 0);
    cr_expect_str_eq(r, "/home/me/proj/.\\data");
    free(r);
    r = spec__path_resolve("/home/me/proj", "C:\\x", 1);
    cr_expect_str_eq(r, "C:\\x");
    free(r);
    r = spec__path_resolve("/home/me/proj", "/etc/../srv", 0);
    cr_expect_str_eq(r, "/srv");
    free(r);
}

Test(spec_path, dir_and_base_by_the_path_rules)
{
    static const char *const dirs[][2] = {
        {"Z:\\work\\x\\compose.yaml", "Z:\\work\\x"},
        {"C:\\compose.yaml", "C:\\"},
        {"C:/a/b/compose.yaml", "C:\\a\\b"},
        {"\\\\srv\\share\\compose.yaml", "\\\\srv\\share\\"},
        {"/work/x/compose.yaml", "/work/x"},
        {"/compose.yaml", "/"},
    };

    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char *d = spec__path_dir(dirs[i][0]);
        cr_expect_str_eq(d, dirs[i][1], "dir('%s') = '%s'", dirs[i][0], d);
        free(d);
    }
    cr_expect_str_eq(spec__path_base("C:\\Users\\me\\proj"), "proj");
    cr_expect_str_eq(spec__path_base("C:/Users/me/My Proj"), "My Proj");
    cr_expect_str_eq(spec__path_base("/work/proj"), "proj");
    /* On Linux '\\' is no separator of a POSIX path. */
    cr_expect_str_eq(spec__path_base("/work/a\\b"), "a\\b");
}
