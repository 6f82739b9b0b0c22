/*
 * spec.h - the stack model: load Compose files (libyaml), interpolate, merge,
 * normalise short syntax to long syntax, validate with file:line:col, and
 * produce the canonical JSON and spec hash of each service (DESIGN.md §2, §3).
 * Knows nothing of runtimes.
 *
 * Sources: the Compose Specification (compose-spec 05-services.md,
 * 06-networks.md, 07-volumes.md, 12-interpolation.md, 13-merge.md) and the
 * reference implementation's rules (compose-go loader/, format/, template/),
 * as summarised in reference/compose-and-orchestrators.md §2.
 *
 * Ownership: a struct spec_project returned by spec_project_load() owns every
 * string and array reachable from it; free it with spec_project_free().
 */
#ifndef SPEC_H
#define SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/stk-diag.h"
#include "common/stk-err.h"

struct json_t;

/* A position in a source file; FILE is borrowed from the project (spec_project.files). */
struct spec_pos {
    const char *file;
    int line; /* 1-based; 0 when unknown */
    int col;  /* 1-based */
};

/* A published port, long syntax (05-services.md "ports"); ranges are expanded one per entry. */
struct spec_port {
    uint16_t target;    /* container port */
    uint16_t published; /* host port; 0: not published (ephemeral) */
    char *host_ip;      /* NULL: every address */
    char *protocol;     /* "tcp" (default) or "udp" */
    char *mode;         /* "ingress" (default) or "host" */
    char *name;         /* NULL or the port's name */
    struct spec_pos pos;
    uint16_t published_end; /* last port of a host port pool ("8000-9000:80": the
                               runtime picks one free port in [published, published_end]);
                               0 when PUBLISHED is a single port */
    char *app_protocol;     /* NULL or the long syntax app_protocol */
};

/* A volume entry, long syntax (05-services.md "volumes"). */
struct spec_volume {
    char *type;   /* "bind", "volume", "tmpfs", "npipe" */
    char *source; /* bind: absolute host path (resolved against the project dir);
                     volume: the volume name, NULL for anonymous; npipe: the pipe */
    char *target; /* path in the container */
    int read_only;
    int create_host_path; /* bind.create_host_path; the short syntax implies 1 */
    int64_t tmpfs_size;   /* tmpfs.size in bytes, 0 when unset */
    struct spec_pos pos;
};

/* A dependency, long syntax (05-services.md "depends_on"). */
struct spec_depends {
    char *service;
    char *condition; /* "service_started" (default), "service_healthy",
                        "service_completed_successfully" */
    int required;    /* default 1 */
    int restart;     /* default 0 */
    int implicit;    /* added by the loader (network_mode: service:X, volumes_from) */
    struct spec_pos pos;
};

/* An environment entry; VALUE NULL means "unset, take it from the host" (list form "KEY"). */
struct spec_env {
    char *key;
    char *value;
};

/* A healthcheck (05-services.md "healthcheck"); durations in nanoseconds. */
struct spec_healthcheck {
    int present;
    int disable;
    char **test;         /* NULL-terminated: "CMD", args... or "CMD-SHELL", cmd; or "NONE" */
    int64_t interval_ns; /* default 30 s */
    int64_t timeout_ns;  /* default 30 s */
    int64_t start_period_ns;
    int retries;               /* default 3 */
    int64_t start_interval_ns; /* 0 when unset */
};

/* A device mapping (05-services.md "devices"): "HOST[:CONTAINER[:PERMISSIONS]]". */
struct spec_device {
    char *source;      /* host path, or a CDI name ("vendor/class=name") with no target */
    char *target;      /* container path; NULL when the same as SOURCE or CDI */
    char *permissions; /* "rwm" default; NULL for CDI */
};

/* A secret or config granted to a service (05-services.md "secrets", "configs"). */
struct spec_file_ref {
    char *source; /* the top-level key */
    char *target; /* path in the container; secrets default to /run/secrets/SOURCE,
                     configs to /SOURCE */
    char *uid;    /* NULL when unset */
    char *gid;
    int mode; /* -1 when unset, else the octal mode */
    struct spec_pos pos;
};

/* A service's attachment to one network (05-services.md "networks", long form). */
struct spec_service_network {
    char *key;          /* the top-level network key */
    char **aliases;     /* NULL-terminated or NULL */
    char *ipv4_address; /* NULL when unset */
    char *ipv6_address;
    int priority;
    struct spec_pos pos;
};

/* deploy.resources limits or reservations (deploy.md); 0 means unset. */
struct spec_resources {
    double cpus;    /* number of CPUs, e.g. 0.5 */
    int64_t memory; /* bytes */
    int64_t pids;   /* limits only */
};

/* deploy.restart_policy (deploy.md). */
struct spec_restart_policy {
    int present;
    char *condition; /* "none", "on-failure", "any" (default) */
    int64_t delay_ns;
    int max_attempts; /* 0: unlimited */
    int64_t window_ns;
};

/* deploy.update_config (deploy.md). */
struct spec_update_config {
    int present;
    int parallelism; /* default 1 */
    int64_t delay_ns;
    char *failure_action; /* "pause" (default), "continue", "rollback" */
    int64_t monitor_ns;
    double max_failure_ratio;
    char *order; /* "stop-first" (default) or "start-first" */
};

/* A service, normalised. */
struct spec_service {
    char *name;
    char *image;
    char **command; /* NULL-terminated; NULL when not set (image default) */
    int has_command;
    char **entrypoint; /* NULL-terminated; NULL when not set */
    int has_entrypoint;
    struct spec_env *environment; /* sorted by key */
    size_t n_environment;
    struct spec_port *ports;
    size_t n_ports;
    struct spec_volume *volumes;
    size_t n_volumes;
    struct spec_depends *depends_on;
    size_t n_depends_on;
    char *isolation;    /* as written, lower-cased: "default", "process", "hyperv"; NULL when
                           omitted (the planner treats NULL like "default") */
    char *restart;      /* "no" (NULL), "always", "on-failure[:N]", "unless-stopped" */
    char *network_mode; /* NULL, "none", "host", "service:X", "container:X" */
    char **networks;    /* NULL-terminated network keys the service joins; NULL: default */
    char *hostname;
    char *working_dir;
    char *user;
    char *stop_signal;
    int64_t stop_grace_period_ns; /* default 10 s */
    int replicas;                 /* deploy.replicas, default 1 */
    struct spec_healthcheck healthcheck;
    struct spec_pos pos; /* position of the service's key */
    struct spec_pos isolation_pos;
    struct spec_pos image_pos;

    /* Phase 2 fields (issue 3). Every pointer is owned by the project. */
    char *container_name;    /* NULL: "<project>-<service>-<n>" */
    struct spec_env *labels; /* sorted by key; values never NULL */
    size_t n_labels;
    char **profiles; /* NULL-terminated or NULL (always enabled) */
    char **cap_add;  /* NULL-terminated or NULL */
    char **cap_drop;
    int privileged;
    int read_only;
    int init;   /* -1 unset, 0 false, 1 true */
    char **dns; /* NULL-terminated or NULL */
    char **dns_search;
    char **extra_hosts;       /* "HOST:IP" entries (the map form is converted), in order */
    struct spec_env *sysctls; /* sorted by key */
    size_t n_sysctls;
    char *ipc;        /* NULL, "private", "shareable", "host", "service:X", "container:X" */
    char *pid;        /* NULL, "host", "service:X", "container:X" */
    int64_t shm_size; /* bytes, 0 when unset */
    char **tmpfs;     /* service-level tmpfs mounts ("/run", "/tmp:size=64m") */
    struct spec_device *devices;
    size_t n_devices;
    char **volumes_from; /* "service:X[:ro|rw]" or "container:X[:ro|rw]", normalised */
    struct spec_file_ref *secrets;
    size_t n_secrets;
    struct spec_file_ref *configs;
    size_t n_configs;
    struct spec_service_network *network_attachments; /* one per entry of NETWORKS, same order */
    size_t n_network_attachments;
    struct spec_resources limits;       /* deploy.resources.limits (or mem_limit, cpus, ...) */
    struct spec_resources reservations; /* deploy.resources.reservations */
    struct spec_restart_policy restart_policy;
    struct spec_update_config update_config;
    char *pull_policy; /* NULL, "always", "never", "missing", "build", ... */
    char *platform;    /* NULL or "os/arch[/variant]" */
    char *domainname;
    char *mac_address;
    struct spec_pos network_mode_pos;
    struct spec_pos ipc_pos;
    struct spec_pos pid_pos;
    struct spec_pos shm_size_pos;
    struct spec_pos tmpfs_pos;
    char *provider; /* provider.type: the service is run by an external provider (Compose
                       2.36), which stack does not do yet (a warning); NULL otherwise */
    char **expose;  /* `expose`: "PORT", "PORT/PROTO" or "START-END[/PROTO]" entries, in order;
                       NULL-terminated or NULL. Informational, as in Docker: every port of a
                       container is reachable from its networks; export turns them into
                       container ports */
};

/* A top-level network (06-networks.md). The implicit "default" network is listed when a
 * service uses it. */
struct spec_network {
    char *key;    /* the key under `networks:` ("default", "front") */
    char *name;   /* the real name: `name:`, else "<project>_<key>" (external: the key) */
    char *driver; /* NULL: the platform default */
    int external;
    int internal;
    struct spec_pos pos;
    int attachable;
    int enable_ipv6;
    char *ipam_driver; /* NULL: default */
    char **subnets;    /* ipam.config[].subnet, NULL-terminated or NULL */
    char **gateways;   /* ipam.config[].gateway, same length as SUBNETS ("" when unset) */
    struct spec_env *driver_opts; /* sorted by key */
    size_t n_driver_opts;
    struct spec_env *labels; /* sorted by key */
    size_t n_labels;
};

/* A top-level named volume (07-volumes.md). */
struct spec_named_volume {
    char *key;    /* the key under `volumes:` */
    char *name;   /* the real name: `name:`, else "<project>_<key>" (external: the key) */
    char *driver; /* NULL: "local" */
    int external;
    struct spec_pos pos;
    struct spec_env *driver_opts; /* sorted by key */
    size_t n_driver_opts;
    struct spec_env *labels; /* sorted by key */
    size_t n_labels;
};

/* A top-level secret or config (09-secrets.md, 08-configs.md); file-backed or from the
 * environment, or external. */
struct spec_file_object {
    char *key;         /* the key under `secrets:`/`configs:` */
    char *name;        /* `name:`, else "<project>_<key>" */
    char *file;        /* absolute path, or NULL */
    char *environment; /* name of the variable holding the content, or NULL */
    char *content;     /* configs only: inline content, or NULL */
    int external;
    struct spec_pos pos;
};

/* A project: the merged, interpolated, normalised model of one or more files. */
struct spec_project {
    char *name;        /* project name (name: key, -p, or the directory name, normalised) */
    char *working_dir; /* absolute project directory */
    char **files;      /* NULL-terminated absolute paths of the files loaded: the -f files
                          first, in order, then every other file read (.env, included and
                          extended files); spec_pos.file points into these strings */
    struct spec_service *services; /* in file order */
    size_t n_services;
    struct spec_network *networks; /* in file order, "default" last when implicit */
    size_t n_networks;
    struct spec_named_volume *volumes; /* in file order */
    size_t n_volumes;
    struct spec_file_object *secrets; /* in file order */
    size_t n_secrets;
    struct spec_file_object *configs;
    size_t n_configs;
    char **active_profiles; /* NULL-terminated: the profiles enabled for this load */
    struct spec_service *disabled_services; /* services whose profiles are not active */
    size_t n_disabled_services;
};

/* Which platform's rules validation applies (--platform). */
enum spec_platform {
    SPEC_PLATFORM_LINUX,
    SPEC_PLATFORM_WINDOWS,
};

/* Options for spec_project_load(). Zero-initialise, then set what you need. */
struct spec_load_opts {
    const char *const *files; /* NULL-terminated paths (-f); NULL or empty: found as docker
                                 compose finds them (spec_project_load()) */
    const char *project_name; /* -p, or NULL */
    const char *working_dir;  /* the project directory (compose --project-directory), also
                                 where discovery starts and relative COMPOSE_FILE and
                                 COMPOSE_ENV_FILES entries point; NULL: the first file's
                                 directory, discovery from the process's directory */
    enum spec_platform platform;
    int strict;                   /* non-zero: warnings about unsupported keys are errors */
    const char *const *env;       /* NULL-terminated "KEY=VALUE" for interpolation; NULL:
                                     the process environment */
    const char *const *profiles;  /* NULL-terminated active profiles (--profile); NULL:
                                     COMPOSE_PROFILES from the environment */
    const char *const *env_files; /* NULL-terminated --env-file paths (each must exist; a later
                                     one wins); NULL: COMPOSE_ENV_FILES (comma-separated) of
                                     the environment, else the project directory's .env when
                                     present (not with COMPOSE_DISABLE_ENV_FILE=1); an empty
                                     vector: no env file */
    const char *const *services;  /* NULL-terminated services named on the command line: their
                                     profiles become active (15-profiles.md), and a name that
                                     is not a service is an error; may be NULL */
};

/*
 * Loads, interpolates, merges, normalises and validates the files in OPTS.
 * Without files they are found as docker compose finds them (cmd/compose
 * toProjectOptions, compose-go cli/options.go): the .env of the starting folder
 * (opts->working_dir or the process's) is read, then COMPOSE_FILE (split on
 * COMPOSE_PATH_SEPARATOR, default ':', ';' for a Windows folder) names the
 * files, each of which must exist; else the first of compose.yaml, compose.yml,
 * docker-compose.yml, docker-compose.yaml in the folder or the nearest parent
 * with one is taken, with the first override file of that folder
 * (compose.override.yml, .yaml, docker-compose.override.yml, .yaml); several
 * candidates are warned about. The project directory's .env then adds the
 * variables not set yet. No file found is STK_EIO, naming the folder.
 * Errors and warnings are appended to DIAG (caller-owned, may be NULL) with
 * file:line:col; every error found is reported, not only the first.
 * On success stores a new project in *RET_PROJECT (free with
 * spec_project_free()) and returns 0. On failure returns STK_ESPEC (spec
 * errors, exit status 2) or STK_EIO (a file cannot be read) and fills ERR with
 * the first error, positioned.
 */
int spec_project_load(const struct spec_load_opts *opts, struct spec_project **ret_project,
                      struct stk_diag *diag, struct stk_err *err);

/* Frees PROJECT and everything it owns; NULL-safe. */
void spec_project_free(struct spec_project *project);

/* Returns the service named NAME, borrowed; NULL when absent. */
const struct spec_service *spec_project_service(const struct spec_project *project,
                                                const char *name);

/*
 * Returns the canonical JSON of SERVICE (a new reference; caller
 * json_decref()s): the normalised service with sorted keys, which
 * spec_service_hash() hashes. With FOR_HASH, the fields docker compose leaves
 * out of its config hash are dropped (replicas, depends_on, profiles, build,
 * pull_policy; compose pkg/compose/hash.go).
 */
struct json_t *spec_service_to_json(const struct spec_service *service, int for_hash);

/*
 * Computes the spec hash of SERVICE: SHA-256 (lower-case hex, 64 chars + NUL
 * into OUT) of the compact, key-sorted canonical JSON with FOR_HASH set.
 */
void spec_service_hash(const struct spec_service *service, char out[65]);

/*
 * As spec_service_hash(), and when RET_JSON is non-NULL also stores the
 * canonical JSON text that was hashed (a new string, caller frees), so that a
 * caller needing both does the work once.
 */
void spec_service_hash_json(const struct spec_service *service, char out[65], char **ret_json);

/*
 * Returns the whole project as JSON (a new reference), as `stack config
 * --format json` prints it.
 */
struct json_t *spec_project_to_json(const struct spec_project *project);

/*
 * Returns the whole project as YAML (a new string, caller frees), the same
 * content as spec_project_to_json() with keys sorted, as `stack config`
 * prints it by default. The output is itself a Compose file that loads back
 * to the same model: strings that YAML would read as another type are
 * quoted and '$' is written "$$".
 */
char *spec_project_to_yaml(const struct spec_project *project);

/*
 * Returns a new NULL-terminated, sorted vector of every profile named by a
 * service of PROJECT, enabled or not (`stack config --profiles`); caller frees
 * with stk_strv_free().
 */
char **spec_project_profiles(const struct spec_project *project);

/*
 * Returns a new NULL-terminated vector of the service names of PROJECT in
 * dependency order (every service after those it depends on; ties in file
 * order); caller frees with stk_strv_free(). The project must be valid (no
 * cycles), which spec_project_load() guarantees.
 */
char **spec_project_service_order(const struct spec_project *project);

#endif
