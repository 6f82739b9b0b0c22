/*
 * store.c - the SQLite state store; see store.h.
 */
#include "orchestrator/store/store.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/stk-alloc.h"
#include "common/stk-strv.h"

struct store {
    sqlite3 *db;
};

/* Migrations: entry i brings the schema from version i to i + 1. */
static const char *const migrations[] = {
    "CREATE TABLE stacks (name TEXT PRIMARY KEY, files TEXT NOT NULL, working_dir TEXT,"
    "  generation INTEGER NOT NULL DEFAULT 1, observed_generation INTEGER NOT NULL DEFAULT 0,"
    "  status TEXT NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE TABLE containers (id TEXT PRIMARY KEY, project TEXT NOT NULL, service TEXT NOT NULL,"
    "  number INTEGER NOT NULL, name TEXT NOT NULL, isolation TEXT NOT NULL, hash TEXT NOT NULL,"
    "  state TEXT NOT NULL, ports TEXT, sandbox TEXT, pid INTEGER, exit_code INTEGER,"
    "  health TEXT, created_at INTEGER NOT NULL);"
    "CREATE INDEX containers_project ON containers(project, service, number);"
    "CREATE TABLE objects (kind TEXT NOT NULL, id TEXT NOT NULL, project TEXT NOT NULL,"
    "  data TEXT, created_at INTEGER NOT NULL, PRIMARY KEY (kind, id));"
    "CREATE TABLE intents (seq INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL,"
    "  action TEXT NOT NULL, object TEXT NOT NULL, state TEXT NOT NULL,"
    "  error TEXT, created_at INTEGER NOT NULL, finished_at INTEGER);"
    "CREATE TABLE events (rev INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,"
    "  project TEXT, kind TEXT NOT NULL, object TEXT, message TEXT);",
    "ALTER TABLE containers ADD COLUMN spec_json TEXT;"
    "CREATE INDEX intents_pending ON intents(project, state);",
    "ALTER TABLE containers ADD COLUMN restart TEXT;"
    "ALTER TABLE containers ADD COLUMN restarts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE containers ADD COLUMN started_ms INTEGER NOT NULL DEFAULT 0;",
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int db_err(struct store *s, struct stk_err *err, const char *what)
{
    return stk_err_set(err, STK_ESTORE, 0, "state store: %s: %s", what, sqlite3_errmsg(s->db));
}

static int exec_sql(struct store *s, const char *sql, struct stk_err *err)
{
    char *msg = NULL;

    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        stk_err_set(err, STK_ESTORE, 0, "state store: %s", msg ? msg : "exec failed");
        sqlite3_free(msg);
        return STK_ESTORE;
    }
    return 0;
}

static int migrate(struct store *s, struct stk_err *err)
{
    sqlite3_stmt *st = NULL;
    int version = 0;

    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return db_err(s, err, "read user_version");
    if (sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > (int)STK_ARRAY_SIZE(migrations))
        return stk_err_set(err, STK_ESTORE, 0,
                           "state store schema version %d is newer than this build (%d)", version,
                           (int)STK_ARRAY_SIZE(migrations));
    for (int v = version; v < (int)STK_ARRAY_SIZE(migrations); v++) {
        char *bump = stk_xasprintf("PRAGMA user_version = %d", v + 1);
        int r = exec_sql(s, "BEGIN IMMEDIATE", err);
        if (r == 0)
            r = exec_sql(s, migrations[v], err);
        if (r == 0)
            r = exec_sql(s, bump, err);
        if (r == 0)
            r = exec_sql(s, "COMMIT", err);
        else
            exec_sql(s, "ROLLBACK", NULL);
        free(bump);
        if (r < 0)
            return stk_err_wrap(err, "migrate to schema version %d", v + 1);
    }
    return 0;
}

int store_open(const char *path, struct store **ret_store, struct stk_err *err)
{
    struct store *s = stk_new0(struct store);
    int r;

    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        r = stk_err_set(err, STK_ESTORE, 0, "open state store '%s': %s", path,
                        s->db ? sqlite3_errmsg(s->db) : "out of memory");
        store_close(s);
        return r;
    }
    sqlite3_busy_timeout(s->db, 30000);
    r = exec_sql(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
                 err);
    if (r == 0)
        r = migrate(s, err);
    if (r < 0) {
        store_close(s);
        return r;
    }
    *ret_store = s;
    return 0;
}

void store_close(struct store *store)
{
    if (!store)
        return;
    sqlite3_close(store->db);
    free(store);
}

/* Binds the NULL-terminated TEXT args (NULL → SQL NULL) and steps once. */
static int run(struct store *s, const char *sql, struct stk_err *err, int n, ...)
{
    sqlite3_stmt *st = NULL;
    va_list ap;
    int rc;

    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_err(s, err, "prepare");
    va_start(ap, n);
    for (int i = 1; i <= n; i++) {
        const char *v = va_arg(ap, const char *);
        if (v)
            sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(st, i);
    }
    va_end(ap);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_err(s, err, "write");
    return 0;
}

int store_intent_begin(struct store *store, const char *project, const char *action,
                       const char *object, int64_t *ret_seq, struct stk_err *err)
{
    char ts[32];
    int r;

    snprintf(ts, sizeof(ts), "%lld", (long long)now_ms());
    r = run(store,
            "INSERT INTO intents (project, action, object, state, created_at) "
            "VALUES (?, ?, ?, 'pending', ?)",
            err, 4, project, action, object, ts);
    if (r < 0)
        return r;
    *ret_seq = sqlite3_last_insert_rowid(store->db);
    return 0;
}

int store_intent_end(struct store *store, int64_t seq, const char *error, struct stk_err *err)
{
    char ts[32], sq[32];

    snprintf(ts, sizeof(ts), "%lld", (long long)now_ms());
    snprintf(sq, sizeof(sq), "%lld", (long long)seq);
    return run(store, "UPDATE intents SET state = ?, error = ?, finished_at = ? WHERE seq = ?", err,
               4, error ? "failed" : "done", error, ts, sq);
}

int64_t store_event_add(struct store *store, const char *project, const char *kind,
                        const char *object, const char *message, struct stk_err *err)
{
    char ts[32];
    int r;

    snprintf(ts, sizeof(ts), "%lld", (long long)now_ms());
    r = run(store, "INSERT INTO events (time, project, kind, object, message) VALUES (?,?,?,?,?)",
            err, 5, ts, project, kind, object, message);
    if (r < 0)
        return r;
    return sqlite3_last_insert_rowid(store->db);
}

void store_container_release(struct store_container *c)
{
    if (!c)
        return;
    free(c->id);
    free(c->project);
    free(c->service);
    free(c->name);
    free(c->isolation);
    free(c->hash);
    free(c->state);
    free(c->ports);
    free(c->sandbox);
    free(c->spec_json);
    free(c->restart);
    free(c->health);
    memset(c, 0, sizeof(*c));
}

int store_container_put(struct store *store, const struct store_container *c, struct stk_err *err)
{
    char num[16], ts[32];

    snprintf(num, sizeof(num), "%d", c->number);
    snprintf(ts, sizeof(ts), "%lld", (long long)now_ms());
    return run(store,
               "INSERT OR REPLACE INTO containers (id, project, service, number, name, isolation,"
               " hash, state, ports, sandbox, created_at, spec_json, restart)"
               " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
               err, 13, c->id, c->project, c->service, num, c->name, c->isolation, c->hash,
               c->state, c->ports, c->sandbox, ts, c->spec_json, c->restart);
}

int store_container_set_state(struct store *store, const char *id, const char *state,
                              struct stk_err *err)
{
    /* A container that stops running is no longer known to be healthy. */
    return run(store,
               "UPDATE containers SET state = ?1,"
               " health = CASE WHEN ?1 = 'running' THEN health ELSE NULL END WHERE id = ?2",
               err, 2, state, id);
}

int store_container_set_ports(struct store *store, const char *id, const char *ports,
                              struct stk_err *err)
{
    return run(store, "UPDATE containers SET ports = ? WHERE id = ?", err, 2, ports, id);
}

int store_container_delete(struct store *store, const char *id, struct stk_err *err)
{
    return run(store, "DELETE FROM containers WHERE id = ?", err, 1, id);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return t ? stk_xstrdup((const char *)t) : NULL;
}

int store_container_list(struct store *store, const char *project, struct store_container **ret,
                         size_t *ret_n, struct stk_err *err)
{
    sqlite3_stmt *st = NULL;
    struct store_container *v = NULL;
    size_t n = 0, alloc = 0;
    int rc;

    if (sqlite3_prepare_v2(store->db,
                           "SELECT id, project, service, number, name, isolation, hash, state,"
                           " ports, sandbox, spec_json, restart, restarts, started_ms,"
                           " coalesce(exit_code, -1), health FROM containers WHERE project = ?"
                           " ORDER BY service, number",
                           -1, &st, NULL) != SQLITE_OK)
        return db_err(store, err, "prepare");
    sqlite3_bind_text(st, 1, project, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == alloc) {
            alloc = alloc ? alloc * 2 : 8;
            v = stk_xrealloc(v, alloc * sizeof(*v));
        }
        v[n].id = col_dup(st, 0);
        v[n].project = col_dup(st, 1);
        v[n].service = col_dup(st, 2);
        v[n].number = sqlite3_column_int(st, 3);
        v[n].name = col_dup(st, 4);
        v[n].isolation = col_dup(st, 5);
        v[n].hash = col_dup(st, 6);
        v[n].state = col_dup(st, 7);
        v[n].ports = col_dup(st, 8);
        v[n].sandbox = col_dup(st, 9);
        v[n].spec_json = col_dup(st, 10);
        v[n].restart = col_dup(st, 11);
        v[n].restarts = sqlite3_column_int(st, 12);
        v[n].started_ms = sqlite3_column_int64(st, 13);
        v[n].exit_code = sqlite3_column_int(st, 14);
        v[n].health = col_dup(st, 15);
        n++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        for (size_t i = 0; i < n; i++)
            store_container_release(&v[i]);
        free(v);
        return db_err(store, err, "list containers");
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int store_object_put(struct store *store, const char *kind, const char *id, const char *project,
                     const char *data, struct stk_err *err)
{
    char ts[32];

    snprintf(ts, sizeof(ts), "%lld", (long long)now_ms());
    return run(store,
               "INSERT OR REPLACE INTO objects (kind, id, project, data, created_at)"
               " VALUES (?,?,?,?,?)",
               err, 5, kind, id, project, data, ts);
}

int store_object_delete(struct store *store, const char *kind, const char *id, struct stk_err *err)
{
    return run(store, "DELETE FROM objects WHERE kind = ? AND id = ?", err, 2, kind, id);
}

int store_object_list(struct store *store, const char *kind, const char *project, char ***ret,
                      struct stk_err *err)
{
    sqlite3_stmt *st = NULL;
    struct stk_strv v = STK_STRV_INIT;
    int rc;

    if (sqlite3_prepare_v2(store->db,
                           "SELECT id FROM objects WHERE kind = ?1 AND (?2 IS NULL OR project = ?2)"
                           " ORDER BY created_at, id",
                           -1, &st, NULL) != SQLITE_OK)
        return db_err(store, err, "prepare");
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_TRANSIENT);
    if (project)
        sqlite3_bind_text(st, 2, project, -1, SQLITE_TRANSIENT);
    stk_strv_init(&v);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        stk_strv_push(&v, (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        stk_strv_release(&v);
        return db_err(store, err, "list objects");
    }
    *ret = v.v;
    return 0;
}

int store_object_get(struct store *store, const char *kind, const char *id, char **ret,
                     struct stk_err *err)
{
    sqlite3_stmt *st = NULL;
    const char *data;
    int rc;

    if (sqlite3_prepare_v2(store->db, "SELECT data FROM objects WHERE kind = ?1 AND id = ?2", -1,
                           &st, NULL) != SQLITE_OK)
        return db_err(store, err, "prepare");
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(st);
        return stk_err_set(err, STK_ENOENT, 0, "no %s '%s'", kind, id);
    }
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return db_err(store, err, "get object");
    }
    data = (const char *)sqlite3_column_text(st, 0);
    *ret = data ? stk_xstrdup(data) : NULL;
    sqlite3_finalize(st);
    return 0;
}

int store_stack_put(struct store *store, const char *project, const char *files,
                    const char *working_dir, const char *status, struct stk_err *err)
{
    char ts[32];

    snprintf(ts, sizeof(ts), "%lld", (long long)now_ms());
    return run(store,
               "INSERT INTO stacks (name, files, working_dir, status, updated_at)"
               " VALUES (?1,?2,?3,?4,?5) ON CONFLICT(name) DO UPDATE SET files = ?2,"
               " working_dir = ?3, status = ?4, updated_at = ?5,"
               " generation = generation + 1",
               err, 5, project, files, working_dir, status, ts);
}

int store_stack_delete(struct store *store, const char *project, struct stk_err *err)
{
    return run(store, "DELETE FROM stacks WHERE name = ?", err, 1, project);
}

int store_intents_settle(struct store *store, const char *project, struct stk_err *err)
{
    int r = run(store,
                "UPDATE intents SET state = 'interrupted' WHERE project = ? AND state = 'pending'",
                err, 1, project);

    return r < 0 ? r : sqlite3_changes(store->db);
}

void store_event_release(struct store_event *e)
{
    if (!e)
        return;
    free(e->project);
    free(e->kind);
    free(e->object);
    free(e->message);
    memset(e, 0, sizeof(*e));
}

int store_event_list(struct store *store, const char *project, int64_t since,
                     struct store_event **ret, size_t *ret_n, struct stk_err *err)
{
    sqlite3_stmt *st = NULL;
    struct store_event *v = NULL;
    size_t n = 0, alloc = 0;
    int rc;

    if (sqlite3_prepare_v2(store->db,
                           "SELECT rev, time, project, kind, object, message FROM events"
                           " WHERE rev > ?1 AND (?2 IS NULL OR project = ?2) ORDER BY rev",
                           -1, &st, NULL) != SQLITE_OK)
        return db_err(store, err, "prepare");
    sqlite3_bind_int64(st, 1, since);
    if (project)
        sqlite3_bind_text(st, 2, project, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == alloc) {
            alloc = alloc ? alloc * 2 : 16;
            v = stk_xrealloc(v, alloc * sizeof(*v));
        }
        v[n].rev = sqlite3_column_int64(st, 0);
        v[n].time_ms = sqlite3_column_int64(st, 1);
        v[n].project = col_dup(st, 2);
        v[n].kind = col_dup(st, 3);
        v[n].object = col_dup(st, 4);
        v[n].message = col_dup(st, 5);
        n++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        for (size_t i = 0; i < n; i++)
            store_event_release(&v[i]);
        free(v);
        return db_err(store, err, "list events");
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int store_container_get(struct store *store, const char *id, struct store_container *ret,
                        struct stk_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(store->db,
                           "SELECT id, project, service, number, name, isolation, hash, state,"
                           " ports, sandbox, spec_json, restart, restarts, started_ms,"
                           " coalesce(exit_code, -1), health FROM containers WHERE id = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return db_err(store, err, "prepare");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        if (rc == SQLITE_DONE)
            return stk_err_set(err, STK_ENOENT, 0, "container '%s' is not recorded", id);
        return db_err(store, err, "read container");
    }
    memset(ret, 0, sizeof(*ret));
    ret->id = col_dup(st, 0);
    ret->project = col_dup(st, 1);
    ret->service = col_dup(st, 2);
    ret->number = sqlite3_column_int(st, 3);
    ret->name = col_dup(st, 4);
    ret->isolation = col_dup(st, 5);
    ret->hash = col_dup(st, 6);
    ret->state = col_dup(st, 7);
    ret->ports = col_dup(st, 8);
    ret->sandbox = col_dup(st, 9);
    ret->spec_json = col_dup(st, 10);
    ret->restart = col_dup(st, 11);
    ret->restarts = sqlite3_column_int(st, 12);
    ret->started_ms = sqlite3_column_int64(st, 13);
    ret->exit_code = sqlite3_column_int(st, 14);
    ret->health = col_dup(st, 15);
    sqlite3_finalize(st);
    return 0;
}

int store_container_started(struct store *store, const char *id, struct stk_err *err)
{
    char ts[32];

    snprintf(ts, sizeof(ts), "%lld", (long long)now_ms());
    return run(
        store,
        "UPDATE containers SET state = 'running', started_ms = ?, health = NULL WHERE id = ?", err,
        2, ts, id);
}

int store_container_exited(struct store *store, const char *id, int exit_code, struct stk_err *err)
{
    char code[16];

    snprintf(code, sizeof(code), "%d", exit_code);
    return run(store,
               "UPDATE containers SET state = 'exited', exit_code = ?, health = NULL WHERE id = ?",
               err, 2, code, id);
}

int store_container_set_restarts(struct store *store, const char *id, int restarts,
                                 struct stk_err *err)
{
    char n[16];

    snprintf(n, sizeof(n), "%d", restarts);
    return run(store, "UPDATE containers SET restarts = ? WHERE id = ?", err, 2, n, id);
}

int store_container_set_health(struct store *store, const char *id, const char *health,
                               struct stk_err *err)
{
    return run(store, "UPDATE containers SET health = ? WHERE id = ?", err, 2, health, id);
}
