/*
 * store.h - the SQLite state store (DESIGN.md §4; reference
 * reconcilers-gitops-sqlite.md §3): WAL mode, synchronous=NORMAL, a busy
 * timeout, one writer connection, and PRAGMA user_version migrations.
 *
 * The store records what the product created (containers, networks,
 * sandboxes, endpoints, volumes), the intents written around every runtime
 * mutation, and an append-only, revision-numbered events table. It is never
 * trusted alone: every pass joins it with the runtime's own listing.
 */
#ifndef STORE_H
#define STORE_H

#include <stdint.h>

#include "common/stk-err.h"

struct store;

/* The newest schema version this build writes (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 3

/*
 * Opens (creating and migrating) the database at PATH (":memory:" for tests).
 * Returns a new store in *RET_STORE, closed with store_close(); STK_ESTORE on
 * failure, with SQLite's message.
 */
int store_open(const char *path, struct store **ret_store, struct stk_err *err);
/* Closes STORE; NULL-safe. */
void store_close(struct store *store);

/*
 * Records the intent to perform ACTION ("container.create", "network.remove"…)
 * on OBJECT for PROJECT before the runtime is called. Stores its sequence
 * number in *RET_SEQ. STK_ESTORE on failure.
 */
int store_intent_begin(struct store *store, const char *project, const char *action,
                       const char *object, int64_t *ret_seq, struct stk_err *err);
/* Marks intent SEQ done (ERROR NULL) or failed with ERROR. STK_ESTORE on failure. */
int store_intent_end(struct store *store, int64_t seq, const char *error, struct stk_err *err);

/*
 * Marks PROJECT's intents still 'pending' (left by an interrupted pass) as
 * 'interrupted', once the pass that repairs them has observed the world.
 * Returns the number settled (>= 0) or STK_ESTORE.
 */
int store_intents_settle(struct store *store, const char *project, struct stk_err *err);

/* One event (`stack events`). */
struct store_event {
    int64_t rev;
    int64_t time_ms;
    char *project;
    char *kind;
    char *object;
    char *message;
};

/*
 * Lists events of PROJECT (NULL: all) with a revision above SINCE into a new
 * array *RET (free each with store_event_release(), then the array).
 */
int store_event_list(struct store *store, const char *project, int64_t since,
                     struct store_event **ret, size_t *ret_n, struct stk_err *err);
void store_event_release(struct store_event *e);

/* Appends an event; returns its revision (> 0) or STK_ESTORE. */
int64_t store_event_add(struct store *store, const char *project, const char *kind,
                        const char *object, const char *message, struct stk_err *err);

/* A container as recorded. Strings owned by the row. */
struct store_container {
    char *id;
    char *project;
    char *service;
    int number;
    char *name;
    char *isolation;
    char *hash;
    char *state;
    char *ports;     /* "0.0.0.0:8080->80/tcp, …" for ps */
    char *sandbox;   /* sandbox id it joined */
    char *spec_json; /* canonical JSON of the service it was made from (plan reasons) */
    char *restart;   /* restart policy: NULL/"no", "always", "on-failure[:N]", "unless-stopped" */
    int restarts;    /* restarts so far (the backoff exponent) */
    int64_t started_ms; /* last start, ms since the epoch; 0: never */
    int exit_code;      /* last exit status, -1: none */
    char *health;       /* "healthy" once a health gate passed since the last start, else NULL */
};

/* Reads container row ID into *RET (release with store_container_release()); STK_ENOENT. */
int store_container_get(struct store *store, const char *id, struct store_container *ret,
                        struct stk_err *err);
/* Records a start of ID now (started_ms) and sets its state to "running". */
int store_container_started(struct store *store, const char *id, struct stk_err *err);
/* Records the exit of ID: state "exited" and EXIT_CODE. */
int store_container_exited(struct store *store, const char *id, int exit_code, struct stk_err *err);
/*
 * Records the health of ID ("healthy", or NULL for not known): what the
 * planner judges an unchanged container's health gate from. A start or an
 * exit (store_container_started(), store_container_exited()) forgets it.
 */
int store_container_set_health(struct store *store, const char *id, const char *health,
                               struct stk_err *err);
/* Sets the restart count of ID. */
int store_container_set_restarts(struct store *store, const char *id, int restarts,
                                 struct stk_err *err);

void store_container_release(struct store_container *c);

/* Inserts or replaces a container row. */
int store_container_put(struct store *store, const struct store_container *c, struct stk_err *err);
/* Updates the state column of container ID. */
int store_container_set_state(struct store *store, const char *id, const char *state,
                              struct stk_err *err);
/* Updates the ports column (ps text) of container ID; no row is success. */
int store_container_set_ports(struct store *store, const char *id, const char *ports,
                              struct stk_err *err);
/* Deletes container row ID (missing is success). */
int store_container_delete(struct store *store, const char *id, struct stk_err *err);
/*
 * Lists the container rows of PROJECT into a new array *RET (caller frees each
 * with store_container_release() and the array with free()), count in *RET_N.
 */
int store_container_list(struct store *store, const char *project, struct store_container **ret,
                         size_t *ret_n, struct stk_err *err);

/* Kinds of other recorded objects: "network", "sandbox", "volume". */
int store_object_put(struct store *store, const char *kind, const char *id, const char *project,
                     const char *data, struct stk_err *err);
int store_object_delete(struct store *store, const char *kind, const char *id, struct stk_err *err);
/*
 * Lists the ids of objects of KIND for PROJECT (NULL: every project) as a new
 * NULL-terminated vector (caller frees with stk_strv_free()).
 */
int store_object_list(struct store *store, const char *kind, const char *project, char ***ret,
                      struct stk_err *err);

/*
 * Reads the data of object KIND/ID into a new string *RET (caller frees; NULL
 * when the object has no data). Errors: STK_ENOENT when there is no such
 * object, STK_ESTORE.
 */
int store_object_get(struct store *store, const char *kind, const char *id, char **ret,
                     struct stk_err *err);

/* Records the stack PROJECT (files and working dir) as applied. */
int store_stack_put(struct store *store, const char *project, const char *files,
                    const char *working_dir, const char *status, struct stk_err *err);
/* Forgets stack PROJECT. */
int store_stack_delete(struct store *store, const char *project, struct stk_err *err);

#endif
