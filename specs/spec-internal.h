/*
 * spec-internal.h - private interfaces of the specs module (STYLE.md rule 1).
 * Nothing outside specs/ (and its tests) includes this header.
 *
 * The loader works in four passes over an in-memory YAML tree that keeps
 * every node's position (libyaml marks, 1-based):
 *   1. spec-yaml.c parses a file into a struct spec__node tree (anchors and
 *      aliases expanded, merge keys "<<" applied, scalars typed with the YAML
 *      1.2 core schema as go-yaml v3 does for compose-go);
 *   2. spec-interp.c interpolates every scalar value (compose-go template/);
 *   3. spec-merge.c merges the trees of several -f files (compose-go override/);
 *   4. spec-load.c checks the tree against the schema tables of
 *      spec-schema.c and builds the normalised struct spec_project.
 */
#ifndef SPEC_INTERNAL_H
#define SPEC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/stk-diag.h"
#include "common/stk-macro.h"

/* Kinds of node, also used as a bit mask in schema shapes. */
enum spec__kind {
    SPEC__K_STR = 1,
    SPEC__K_INT = 2,
    SPEC__K_FLOAT = 4,
    SPEC__K_BOOL = 8,
    SPEC__K_NULL = 16,
    SPEC__K_SEQ = 32,
    SPEC__K_MAP = 64,
};

/* A YAML node with its position. Maps keep their keys in document order. */
struct spec__node {
    enum spec__kind kind;
    int str_inline;            /* STR lives in the node's own allocation (parsed scalars) */
    char *str;                 /* scalars: the text (after interpolation); NULL otherwise;
                                  replace it with spec__node_set_str_take() */
    char *tag;                 /* "!reset", "!override" or NULL (other tags are resolved) */
    struct spec__node **keys;  /* maps: the key nodes (scalars), n of them */
    struct spec__node **items; /* maps: the values; sequences: the items */
    size_t n;
    size_t alloc;
    const char *file;           /* borrowed from the loader's file list */
    int line;                   /* 1-based */
    int col;                    /* 1-based */
    struct spec__strmap *index; /* maps with many keys: key -> position, built on demand and
                                   dropped on every change; NULL otherwise */
    int rebased;                /* scalars: a relative host path made absolute against the
                                   folder of the included or extended file declaring it */
};

/* A string -> index hash table (open addressing, FNV-1a); keys are borrowed. */
struct spec__strmap {
    const char **keys;
    size_t *vals;
    size_t cap; /* a power of two */
    size_t n;
};

/* Returns a new map with room for N keys; free with spec__strmap_free(). */
struct spec__strmap *spec__strmap_new(size_t n);

/* Sets KEY (borrowed, must outlive the map) to VAL; an existing key keeps its first value. */
void spec__strmap_put(struct spec__strmap *m, const char *key, size_t val);

/* Returns the value of KEY, or -1. */
long spec__strmap_get(const struct spec__strmap *m, const char *key);

/* Frees M; NULL-safe. */
void spec__strmap_free(struct spec__strmap *m);

/* Drops NODE's key index after its keys changed. */
void spec__node_touch(struct spec__node *node);

/*
 * Parses the YAML text DATA (LEN bytes) of FILE into a tree. FILE is borrowed
 * and must outlive the tree. Syntax errors (with libyaml's problem_mark) and
 * duplicate keys are added to DIAG as errors. Returns the root (a new tree,
 * free with spec__node_free()); an empty document gives an empty map; NULL
 * when an error was reported.
 */
struct spec__node *spec__yaml_parse(const char *file, const char *data, size_t len,
                                    struct stk_diag *diag);

/* Returns the kind a plain (unquoted) YAML scalar with text S resolves to. */
enum spec__kind spec__yaml_plain_kind(const char *s);

/* Replaces the text of scalar NODE with STR (taken, may be NULL). */
void spec__node_set_str_take(struct spec__node *node, char *str);

/* Frees NODE and its children; NULL-safe. */
void spec__node_free(struct spec__node *node);

/* Returns a deep copy of NODE (positions kept). */
struct spec__node *spec__node_dup(const struct spec__node *node);

/* Returns the value of KEY in the map NODE (borrowed), or NULL. */
struct spec__node *spec__node_get(const struct spec__node *node, const char *key);

/* Returns the key node of KEY in the map NODE (borrowed), or NULL. */
struct spec__node *spec__node_get_key(const struct spec__node *node, const char *key);

/* Returns the index of KEY in the map NODE, or -1. */
long spec__node_index(const struct spec__node *node, const char *key);

/* Appends KEY (taken) and VALUE (taken) to the map NODE, or VALUE to a sequence (KEY NULL). */
void spec__node_append_take(struct spec__node *node, struct spec__node *key,
                            struct spec__node *value);

/* Removes entry I of the map or sequence NODE and frees it. */
void spec__node_remove(struct spec__node *node, size_t i);

/* Returns a new scalar node of KIND with a copy of STR, at the position of POS (may be NULL). */
struct spec__node *spec__node_new_scalar(enum spec__kind kind, const char *str,
                                         const struct spec__node *pos);

/* Returns a new empty map or sequence node at the position of POS (may be NULL). */
struct spec__node *spec__node_new(enum spec__kind kind, const struct spec__node *pos);

/* Returns NODE as JSON (a new reference): the document a JSON-schema validator sees. */
struct json_t;
struct json_t *spec__node_to_json(const struct spec__node *node);

/* Returns the YAML name of a kind ("string", "mapping", ...). */
const char *spec__kind_name(enum spec__kind kind);

/*
 * Interpolation environment: an ordered list of KEY=VALUE strings; a later
 * entry does not override an earlier one (lookups return the first match).
 */
struct spec__env {
    char **kv; /* NULL-terminated "KEY=VALUE" strings, owned */
    size_t n;
    size_t alloc;
};

/* Returns the value of NAME in ENV (borrowed), or NULL when unset. */
const char *spec__env_get(const struct spec__env *env, const char *name);

/* Adds NAME=VALUE to ENV unless NAME is already set. */
void spec__env_set_default(struct spec__env *env, const char *name, const char *value);
/* Sets NAME=VALUE in ENV, replacing an earlier value. */
void spec__env_set(struct spec__env *env, const char *name, const char *value);

/* Frees ENV's strings; NULL-safe. */
void spec__env_release(struct spec__env *env);

/*
 * Parses a .env file (compose-go dotenv: KEY=VALUE lines, `export` prefix,
 * comments, single/double quotes, ${VAR} substitution from LOOKUP then from
 * the variables already read). Appends variables not already in OUT.
 * Errors go to DIAG positioned in FILE. Returns 0, or -1 when an error was
 * reported.
 */
int spec__dotenv_parse(const char *file, const char *data, const struct spec__env *lookup,
                       struct spec__env *out, struct stk_diag *diag);

/*
 * Substitutes variables in TEMPLATE as compose-go template.Substitute does
 * ($$, $NAME, ${NAME}, ${NAME:-d}, ${NAME-d}, ${NAME:?e}, ${NAME?e},
 * ${NAME:+r}, ${NAME+r}, nested). On success stores a new string in
 * *RET_OUT and returns 0; unset variables without a default are reported
 * through WARN_UNSET (called once per occurrence with the name, may be NULL).
 * On failure returns -1 and stores a new message in *RET_MSG.
 */
int spec__interpolate(const char *template, const struct spec__env *env,
                      void (*warn_unset)(const char *name, void *userdata), void *userdata,
                      char **ret_out, char **ret_msg);

/*
 * Interpolates every scalar value (not keys) of the tree ROOT in place;
 * errors and "variable is not set" warnings go to DIAG at the scalar's
 * position. Returns the number of errors reported.
 */
int spec__interpolate_tree(struct spec__node *root, const struct spec__env *env,
                           struct stk_diag *diag);

/*
 * Merges OVERRIDE into BASE (both trees of whole Compose files) following
 * the Compose merge rules (13-merge.md, compose-go override/merge.go),
 * honouring !reset and !override. Takes ownership of OVERRIDE.
 */
void spec__merge_take(struct spec__node *base, struct spec__node *override);

/*
 * As spec__merge_take() for trees found at SEGMENTS (N_SEGMENTS path segments,
 * e.g. {"services", "web"}), so that the path-specific rules apply (extends).
 */
void spec__merge_at_take(struct spec__node *base, struct spec__node *override,
                         const char *const *segments, size_t n_segments);

/* Removes every node tagged !reset (and its key) from ROOT, recursively. */
void spec__strip_reset(struct spec__node *root);

/* A schema shape: which kinds a value may have and, for maps, which keys. */
struct spec__field;
struct spec__shape {
    unsigned kinds;                   /* SPEC__K_* mask; STR also allows interpolated text */
    const struct spec__field *fields; /* known keys, sorted by strcmp */
    size_t n_fields;
    int closed;                       /* only FIELDS (and x-*) are allowed */
    const char *key_pattern;          /* pattern of free keys when not closed, or NULL */
    const struct spec__shape *values; /* shape of values under free keys, or NULL (any) */
    const struct spec__shape *items;  /* shape of sequence items, or NULL (any) */
    const char *const *enums;         /* NULL-terminated allowed strings, or NULL */
    int unique;                       /* a sequence's items must differ (uniqueItems) */
    const char *const *required;      /* NULL-terminated keys a mapping must have, or NULL */
};

struct spec__field {
    const char *name;
    const struct spec__shape *shape;
};

/* The root of the Compose Specification schema (spec-schema.c, generated). */
extern const struct spec__shape *const spec__schema_root;

/* Returns the shape of KEY in the map shape SHAPE, or NULL when the key is not allowed. */
const struct spec__shape *spec__shape_field(const struct spec__shape *shape, const char *key);

/*
 * Splits S into words like a POSIX shell without expansion (google/shlex, as
 * compose-go uses for string command/entrypoint). Returns a new
 * NULL-terminated vector, or NULL with a new message in *RET_MSG when a
 * quote is unterminated.
 */
char **spec__shlex_split(const char *s, char **ret_msg);

/*
 * Parses a Go duration ("1m30s", "1.5h", "250ms", "10us"); stores
 * nanoseconds. Returns 0, or -1 when S is not a duration.
 */
int spec__parse_duration(const char *s, int64_t *ret_ns);

/* Formats NS like Go's time.Duration.String() ("1m30s", "500ms", "0s"); caller frees. */
char *spec__format_duration(int64_t ns);

/*
 * Parses a byte size as compose-go does (go-units RAMInBytes: "512", "1k",
 * "1.5m", "2gb", binary multiples). Returns 0, or -1.
 */
int spec__parse_bytes(const char *s, int64_t *ret_bytes);

/* Cleans a POSIX path like Go's path.Clean; returns a new string. */
char *spec__path_clean(const char *p);

/*
 * Host paths (spec-path.c). A path "is Windows" when it starts with a volume: a drive
 * letter ("C:"), a UNC share ("\\server\share", "//server/share") or a device path
 * ("\\?\C:", "\\.\pipe"); relative paths are resolved by the rules of the folder they
 * are relative to, so that a Windows working directory gets Windows rules on any machine.
 */

/* Length of the volume at the start of P (Go's volumeNameLen on Windows); 0 when none. */
size_t spec__win_volume_len(const char *p);

/* Returns 1 when S is an absolute Windows path (C:\x, C:/x, \\server\share, //server/share). */
int spec__is_windows_abs(const char *s);

/* Returns 1 when P starts with a Windows volume, so that Windows path rules apply to it. */
int spec__path_is_windows(const char *p);

/* Cleans a Windows path like Go's filepath.Clean on Windows ('\' written); new string. */
char *spec__win_path_clean(const char *p);

/*
 * Resolves P against the absolute folder DIR: returns P cleaned when it is absolute,
 * else DIR joined with P and cleaned (new string). With a Windows DIR both separators
 * split P, a rooted P ("\x") takes DIR's drive, and the result uses '\'. With a POSIX
 * DIR, a Windows absolute P is returned as written, and '\' splits P only with
 * BACKSLASH_SEP (a path written for Windows, read on another machine).
 */
char *spec__path_resolve(const char *dir, const char *p, int backslash_sep);

/* The folder of P (Go's filepath.Dir by P's rules; "." when P has none); new string. */
char *spec__path_dir(const char *p);

/* The last element of P (borrowed, points into P). */
const char *spec__path_base(const char *p);

/*
 * Whether REF is an image reference by the grammar of distribution's
 * reference package (reference/regexp.go): [host[:port]/]path[:tag][@digest],
 * path components lowercase [a-z0-9] joined by '.', '_', '__' or '-'s, the
 * name at most 255 characters, a tag of [\w][\w.-]{0,127}, a digest
 * sha256/sha384/sha512 with its exact number of lowercase hex digits
 * (opencontainers go-digest). On 0, *RET_WHY is a static reason.
 */
int spec__image_ref_valid(const char *ref, const char **ret_why);

/* Frees N key/value pairs and the array E; NULL-safe. */
struct spec_env;
void spec__env_free(struct spec_env *e, size_t n);

/* Releases everything a service owns (not the struct itself). */
struct spec_service;
void spec__service_release(struct spec_service *s);

#endif
