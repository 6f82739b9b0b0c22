/*
 * test-store.c - the SQLite store: migrations, intents, container rows,
 * objects, events; on disk so that reopening is exercised.
 */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/stk-strv.h"
#include "orchestrator/store/store.h"

static char dbpath[64];

static void setup(void)
{
    snprintf(dbpath, sizeof(dbpath), "/tmp/stk-store-%d.db", getpid());
    unlink(dbpath);
}

static void teardown(void)
{
    char p[80];

    unlink(dbpath);
    snprintf(p, sizeof(p), "%s-wal", dbpath);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", dbpath);
    unlink(p);
}

static int user_version(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int v = -1;

    sqlite3_open(path, &db);
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

Test(store, migrates_and_reopens, .init = setup, .fini = teardown)
{
    struct store *s = NULL;
    struct stk_err err = STK_ERR_INIT;

    cr_assert_eq(store_open(dbpath, &s, &err), 0, "%s", err.msg);
    store_close(s);
    cr_assert_eq(user_version(dbpath), STORE_SCHEMA_VERSION);
    cr_assert_eq(store_open(dbpath, &s, &err), 0, "reopen: %s", err.msg);
    store_close(s);
}

Test(store, refuses_newer_schema, .init = setup, .fini = teardown)
{
    struct store *s = NULL;
    struct stk_err err = STK_ERR_INIT;
    sqlite3 *db;

    sqlite3_open(dbpath, &db);
    sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
    sqlite3_close(db);
    cr_assert_eq(store_open(dbpath, &s, &err), STK_ESTORE);
    cr_assert(strstr(err.msg, "newer"), "%s", err.msg);
}

Test(store, intents_containers_objects_events, .init = setup, .fini = teardown)
{
    struct store *s = NULL;
    struct stk_err err = STK_ERR_INIT;
    struct store_container c = {0}, *rows = NULL;
    size_t n = 0;
    int64_t seq1 = 0, seq2 = 0;
    char **ids = NULL;

    cr_assert_eq(store_open(dbpath, &s, &err), 0);
    cr_assert_eq(store_intent_begin(s, "p", "container.create", "p-web-1-aaaaaa", &seq1, &err), 0);
    cr_assert_eq(store_intent_begin(s, "p", "container.start", "p-web-1-aaaaaa", &seq2, &err), 0);
    cr_assert_gt(seq2, seq1);
    cr_assert_eq(store_intent_end(s, seq1, NULL, &err), 0);
    cr_assert_eq(store_intent_end(s, seq2, "runc start: failed", &err), 0);

    c.id = (char *)"p-web-1-aaaaaa";
    c.project = (char *)"p";
    c.service = (char *)"web";
    c.number = 1;
    c.name = (char *)"p-web-1";
    c.isolation = (char *)"process";
    c.hash = (char *)"abc";
    c.state = (char *)"creating";
    cr_assert_eq(store_container_put(s, &c, &err), 0);
    cr_assert_eq(store_container_set_state(s, c.id, "running", &err), 0);
    cr_assert_eq(store_container_list(s, "p", &rows, &n, &err), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(rows[0].state, "running");
    cr_assert_eq(rows[0].number, 1);
    store_container_release(&rows[0]);
    free(rows);
    cr_assert_eq(store_container_list(s, "other", &rows, &n, &err), 0);
    cr_assert_eq(n, 0);
    free(rows);

    cr_assert_eq(store_object_put(s, "network", "p_default", "p", "10.89.0.0/24", &err), 0);
    cr_assert_eq(store_object_put(s, "sandbox", "p-web-1-aaaaaa", "p", NULL, &err), 0);
    cr_assert_eq(store_object_list(s, "network", "p", &ids, &err), 0);
    cr_assert_eq(stk_strv_len(ids), 1);
    cr_assert_str_eq(ids[0], "p_default");
    stk_strv_free(ids);
    cr_assert_eq(store_object_delete(s, "network", "p_default", &err), 0);
    cr_assert_eq(store_object_list(s, "network", NULL, &ids, &err), 0);
    cr_assert_eq(stk_strv_len(ids), 0);
    stk_strv_free(ids);

    cr_assert_gt(store_event_add(s, "p", "container.start", c.id, "web", &err), 0);
    cr_assert_eq(store_container_delete(s, c.id, &err), 0);
    store_close(s);

    {
        sqlite3 *db;
        sqlite3_stmt *st;
        sqlite3_open(dbpath, &db);
        sqlite3_prepare_v2(db, "SELECT state, error FROM intents ORDER BY seq", -1, &st, NULL);
        cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
        cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "done");
        cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
        cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "failed");
        cr_assert_str_eq((const char *)sqlite3_column_text(st, 1), "runc start: failed");
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
}
