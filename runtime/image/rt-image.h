/*
 * rt-image.h - the image store (DESIGN.md §2 "image/", §4 "images/").
 *
 * The store keeps OCI images as content-addressed blobs and a small index of
 * references; it never unpacks layers (turning layers into a root file system
 * is a driver step: runtime/oci/oci-rootfs.c for overlayfs). On disk, under
 * STATE_DIR/images/:
 *
 *   blobs/sha256/<hex>   every manifest, config and layer blob, named by the
 *                        SHA-256 of its bytes, written atomically (a temporary
 *                        file in tmp/, then rename(2)) and only after its digest
 *                        and size were verified against the descriptor that
 *                        referenced it (OCI image-spec descriptor.md "Digests")
 *   repositories.json    {"version":1,"refs":{"NAME:TAG":"sha256:<manifest>"}},
 *                        rewritten atomically under the lock file
 *   tmp/                 staging for blobs being written and archives being read;
 *                        entries older than a day (left by a crash) are removed
 *                        when the store is opened
 *   layers/              owned by the drivers (unpacked layer cache)
 *   .lock                flock(2) file serialising updates of repositories.json
 *
 * Images enter the store from an OCI image layout (image-spec
 * image-layout.md): a directory with oci-layout, index.json and blobs/, or a
 * tar archive of one (read with libarchive, any compression it detects).
 * Manifests and configs in both the OCI and the Docker v2 schema 2 media types
 * are accepted; an image index (or Docker manifest list) goes through platform
 * selection (rt_image_platform_select()). Images also enter from a registry
 * (rt_image_pull(), the OCI distribution API; the wire is libcurl on Linux
 * and WinHTTP in the Windows build, behind rt-image-http.h): their blobs go
 * through the same verified writer as loads.
 *
 * References are "NAME[:TAG]" with the default tag "latest" (a tag is the part
 * after the last ':' that follows the last '/', so "localhost:5000/app" has no
 * tag), or "NAME@sha256:<hex>" for a manifest by digest. Names are compared as
 * written: "busybox" and "docker.io/library/busybox" are different names.
 *
 * Thread safety: a store keeps no mutable state in memory, so its functions
 * may run on several threads at once (the loop thread and uv_queue_work
 * workers), and separate processes may share the same directory: blobs are
 * content-addressed and renamed into place, and the reference index is
 * rewritten atomically under an flock(2). Every function blocks on file I/O;
 * loads of large layouts belong in uv_queue_work.
 */
#ifndef RT_IMAGE_H
#define RT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

struct stk_err;
struct rt_image_store;

/* Media types (image-spec media-types.md; Docker image manifest v2 schema 2). */
#define RT_IMAGE_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define RT_IMAGE_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define RT_IMAGE_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define RT_IMAGE_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define RT_IMAGE_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define RT_IMAGE_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define RT_IMAGE_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define RT_IMAGE_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define RT_IMAGE_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define RT_IMAGE_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define RT_IMAGE_MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"

/* The annotation of index.json that names an image (image-spec annotations.md). */
#define RT_IMAGE_ANNOT_REF_NAME "org.opencontainers.image.ref.name"
/* containerd's full-name annotation, preferred when present (ctr/nerdctl export). */
#define RT_IMAGE_ANNOT_CONTAINERD_NAME "io.containerd.image.name"

/*
 * A platform (image-spec image-index.md "platform"). All strings are borrowed
 * from whoever fills the struct; NULL or "" means "not specified".
 */
struct rt_image_platform {
    const char *os;           /* GOOS: "linux", "windows" */
    const char *architecture; /* GOARCH: "amd64", "arm64" */
    const char *variant;      /* "v8" for arm64, "v7" for arm ... */
    const char *os_version;   /* Windows build "10.0.20348.2340"; ignored for other OSes */
};

/*
 * Fills *RET with the platform this binary runs on: os "linux" or "windows"
 * (compile-time), architecture from the compiler ("amd64", "arm64", "386",
 * "arm", "ppc64le", "s390x", "riscv64"), no variant, no os_version (the
 * Windows runtime sets os_version from the host build it reads). The strings
 * are static.
 */
void rt_image_platform_host(struct rt_image_platform *ret);

/*
 * Selects, among the N platforms CANDIDATES (the "platform" of each entry of an
 * image index, in index order), the one to run on WANT, with containerd's
 * rules (github.com/containerd/platforms): os must be equal (case-insensitive);
 * architecture must be equal after normalisation (x86_64 → amd64, aarch64 →
 * arm64, armhf → arm/v7); when WANT has a variant the candidate's must be
 * equal (arm64's missing variant counts as "v8"), when WANT has none any
 * variant matches. For os "windows" with WANT->os_version set, a candidate
 * whose os.version has the same major.minor.build is preferred over one that
 * only matches os and architecture (hcsshim osversion; the compatibility rule
 * itself is checked by the planner, not here). Among equals the first wins.
 * Portable: the Windows runtime uses it too.
 * Returns the index of the chosen candidate, or -1 when none matches.
 */
int rt_image_platform_select(const struct rt_image_platform *candidates, size_t n,
                             const struct rt_image_platform *want);

/*
 * Opens (creating it when missing) the store rooted at STATE_DIR/images/. On
 * success stores a new store in *RET_STORE, freed with rt_image_store_close().
 * Errors: STK_EINVAL (NULL or empty STATE_DIR), STK_EIO (cannot create the
 * directories).
 */
int rt_image_store_open(const char *state_dir, struct rt_image_store **ret_store,
                        struct stk_err *err);

/* Closes STORE and frees it; NULL-safe. Nothing on disk changes. */
void rt_image_store_close(struct rt_image_store *store);

/* Returns the store's directory (STATE_DIR/images, absolute), borrowed from STORE. */
const char *rt_image_store_dir(const struct rt_image_store *store);

/*
 * Returns a new string (caller frees) with the path of the blob DIGEST
 * ("sha256:<64 lower-case hex>") in STORE: STATE_DIR/images/blobs/sha256/<hex>.
 * The blob need not exist (use stk_path_exists()). Errors (NULL returned):
 * STK_EINVAL when DIGEST is not a well-formed sha256 digest — which also
 * guarantees that the path never leaves the store.
 */
char *rt_image_blob_path(const struct rt_image_store *store, const char *digest,
                         struct stk_err *err);

/* Returns 1 when DIGEST is "sha256:" followed by 64 lower-case hex digits, else 0. */
int rt_image_digest_valid(const char *digest);

/*
 * Normalises the reference REF: "NAME" becomes "NAME:latest", "NAME:TAG" and
 * "NAME@sha256:<hex>" stay as they are. Returns a new string (caller frees),
 * or NULL with STK_EINVAL when REF is empty, has an empty name or tag, or
 * contains whitespace or control characters.
 */
char *rt_image_ref_normalize(const char *ref, struct stk_err *err);

/*
 * Imports the OCI image layout at PATH — a directory holding oci-layout and
 * index.json, or a tar archive of such a directory (plain or compressed,
 * detected by libarchive) — into STORE.
 *
 * index.json's entries are grouped by the name they carry (the
 * io.containerd.image.name annotation, else org.opencontainers.image.ref.name,
 * read as NAME[:TAG]; entries without a name form one group). In each group,
 * nested image indexes are flattened and, when more than one manifest
 * remains, one is chosen for PLATFORM (NULL: the host platform,
 * rt_image_platform_host()) with rt_image_platform_select(); a manifest
 * descriptor without a "platform" takes the os/architecture of its config. A
 * group with a single manifest is taken whatever its platform (as `docker
 * load` does): the planner checks the image's os/architecture. Every blob reached from the chosen
 * manifests (index, manifest, config, layers) is verified: its SHA-256 must
 * equal the descriptor's digest and its length the descriptor's size. Blobs
 * already in the store are not read again, which makes a repeated import of
 * the same layout cheap. Each named group records NAME:TAG → manifest digest in
 * repositories.json (an existing reference is moved to the new image).
 *
 * On success returns 0 and, when RET_MANIFEST_DIGEST is non-NULL, stores in it
 * a new string (caller frees) with the manifest digest of the first group in
 * index order.
 * Errors: STK_EINVAL (bad arguments); STK_ENOENT (PATH missing);
 * STK_EIMAGE (not an image layout, malformed JSON, unsupported media type or
 * schema, a blob missing from the layout, no manifest for the platform);
 * STK_EDIGEST (a blob's content does not match its descriptor: the message
 * names the blob digest and what was found); STK_EIO (file system errors).
 * Nothing is recorded for a failed import; verified blobs written before the
 * failure stay (they are content-addressed and harmless).
 */
int rt_image_load_layout(struct rt_image_store *store, const char *path,
                         const struct rt_image_platform *platform, char **ret_manifest_digest,
                         struct stk_err *err);

/* What a pull transferred (rt_image_pull()). */
struct rt_image_pull_stats {
    unsigned blobs_fetched; /* config and layer blobs downloaded */
    unsigned blobs_present; /* config and layer blobs already in the store, not requested */
};

/*
 * Pulls the image REF ("NAME[:TAG]" or "NAME@sha256:<hex>") from its registry
 * into STORE with the OCI distribution API (distribution-spec spec.md "Pull").
 *
 * The registry is named by REF with Docker's normalisation: a first component
 * holding '.' or ':', or "localhost", is the registry host
 * ("127.0.0.1:5000/team/app"); otherwise it is docker.io (API host
 * registry-1.docker.io) and a single-component name gets "library/"
 * ("busybox" is docker.io/library/busybox). https is used except for
 * loopback registries (localhost, 127.0.0.1, ::1) and the hosts ("host" or
 * "host:port") listed, comma- or space-separated, in the environment
 * variable STACK_INSECURE_REGISTRIES (Docker's insecure-registries), which
 * are spoken to in plain http.
 *
 * GET /v2/<repo>/manifests/<ref> accepts the OCI index and manifest and the
 * Docker manifest list and v2 manifest. A 401 with a `WWW-Authenticate:
 * Bearer realm=...,service=...,scope=...` challenge is answered with a token
 * from the realm (anonymous, or with the "auth" of the registry in the Docker
 * client's config.json "auths": $DOCKER_CONFIG or ~/.docker; credential
 * helpers are not used); a Basic challenge with those credentials. An index
 * goes through rt_image_platform_select() for PLATFORM (NULL: the host
 * platform, rt_image_platform_host()); the index and the chosen manifest are
 * both stored, so a digest reference to the index resolves later. Then the
 * config and every layer are fetched with GET /v2/<repo>/blobs/<digest>
 * (redirects followed), streamed into the store's tmp/ and put into blobs/
 * only after their SHA-256 and size match the manifest's descriptor, as for
 * loads; blobs already in the store are not requested. A manifest fetched by
 * digest must hash to that digest, and any manifest to the registry's
 * Docker-Content-Digest header when it sends one. Finally NAME:TAG (normalised as
 * rt_image_ref_normalize(), the name as written) is recorded → the manifest
 * digest; a digest reference records nothing (rt_image_resolve() finds it by
 * its blob).
 *
 * Blocks on the network for as long as the transfer takes (a connection has
 * 30 s to open, a transfer that stalls for a minute is abandoned): event-loop
 * callers run it in uv_queue_work. Safe on several threads at once.
 *
 * On success returns 0, stores in *RET_MANIFEST_DIGEST (when non-NULL) a new
 * string with the manifest digest and in *RET_STATS (when non-NULL) what was
 * transferred. Every error reads "pull 'REF': ...". Errors: STK_EINVAL (a
 * malformed reference); STK_ENOENT ("REGISTRY answered 404 for manifest
 * 'TAG'" or for a blob); STK_EUNAVAIL ("cannot reach registry 'HOST': ..."
 * for a refused connection, a name that does not resolve or a timeout; also
 * "registry pull needs libcurl ..." when libcurl is not installed);
 * STK_EPERM (401/403, or a login needed and no credentials); STK_EDIGEST
 * naming the blob or manifest whose content does not match its digest or
 * size — nothing is tagged then; STK_EIMAGE (malformed or unsupported
 * manifests, no manifest for the platform); STK_EIO (other HTTP and file
 * errors). Verified blobs fetched before a failure stay (content-addressed
 * and harmless).
 */
int rt_image_pull(struct rt_image_store *store, const char *ref,
                  const struct rt_image_platform *platform, char **ret_manifest_digest,
                  struct rt_image_pull_stats *ret_stats, struct stk_err *err);

/* One layer of an image, as the manifest describes it. Strings owned by the image. */
struct rt_image_layer {
    char *digest;     /* blob digest "sha256:..." (compressed bytes) */
    char *media_type; /* the layer media type (RT_IMAGE_MT_*_LAYER*) */
    int64_t size;     /* blob size in bytes */
    char *diff_id;    /* config rootfs.diff_ids[i]: digest of the uncompressed tar */
};

/*
 * A resolved image: what the orchestrator puts into rt_container_spec and what
 * the planner checks. Every pointer is owned by the image and freed by
 * rt_image_free(); string vectors are NULL-terminated (NULL when the config
 * does not set the field).
 */
struct rt_image {
    char *ref;                     /* normalised NAME:TAG, or NULL when resolved from a path
                                      whose layout names no image */
    char *manifest_digest;         /* "sha256:..." of the manifest blob */
    char *config_digest;           /* "sha256:..." of the config blob */
    struct rt_image_layer *layers; /* n_layers layers, base first */
    size_t n_layers;
    char **layer_digests; /* the layers' blob digests, base first (NULL-terminated,
                             never NULL; what rt_oci_rootfs_prepare() takes) */
    char **diff_ids;      /* config rootfs.diff_ids, base first (never NULL) */
    char **entrypoint;    /* config.Entrypoint */
    char **cmd;           /* config.Cmd */
    char **env;           /* config.Env, "KEY=VALUE" */
    char *working_dir;    /* config.WorkingDir, NULL when unset or "" */
    char *user;           /* config.User, NULL when unset or "" */
    char **exposed_ports; /* keys of config.ExposedPorts ("80/tcp"), sorted */
    char *os;             /* "linux", "windows" */
    char *architecture;   /* "amd64" ... */
    char *variant;        /* NULL when unset */
    char *os_version;     /* config "os.version", NULL when unset */
    char *created;        /* config "created" (RFC 3339), NULL when unset */
};

/* Frees IMG and everything it owns; NULL-safe. */
void rt_image_free(struct rt_image *img);

/*
 * Resolves the `image:` value of a stack file. REF_OR_PATH is either
 * - a path to an OCI image layout (directory or tar archive): when it begins
 *   with '/' or '.', or names an existing directory holding an oci-layout
 *   file. It is imported with rt_image_load_layout() (cheap when already
 *   present) and the image of its first group is returned; relative paths are
 *   relative to the current directory, so the orchestrator passes paths
 *   already made absolute against the project directory;
 * - otherwise a reference NAME[:TAG] or NAME@sha256:<hex>, looked up in the
 *   store's reference index (a digest reference needs the manifest blob in the
 *   store). A name not recorded as written is also tried with or without
 *   Docker Hub's implicit prefix ("busybox" ⇄ "docker.io/library/busybox",
 *   "team/app" ⇄ "docker.io/team/app"), so images exported by Docker or
 *   containerd under their full names are found; the result's ref is the
 *   recorded name.
 * PLATFORM is used for layout imports and for a digest reference that names
 * an image index (NULL: the host platform).
 * On success stores a new image in *RET_IMAGE (caller frees with
 * rt_image_free()).
 * Errors: STK_ENOENT with the message "image 'NAME:TAG' not found" when the
 * reference is not in the store (an exit status 1 error, DESIGN.md §5);
 * STK_EINVAL for a malformed reference; STK_EIMAGE when a stored manifest or
 * config is unreadable or malformed; STK_EDIGEST when a stored manifest or
 * config no longer matches its digest; and every error of
 * rt_image_load_layout() for paths.
 */
int rt_image_resolve(struct rt_image_store *store, const char *ref_or_path,
                     const struct rt_image_platform *platform, struct rt_image **ret_image,
                     struct stk_err *err);

/*
 * Reads the image whose manifest digest is MANIFEST_DIGEST from STORE (the
 * manifest and config blobs are re-hashed before use). REF (may be NULL) is
 * copied into the result's ref. Errors as rt_image_resolve(); a missing
 * manifest blob is STK_ENOENT.
 */
int rt_image_get(struct rt_image_store *store, const char *manifest_digest, const char *ref,
                 struct rt_image **ret_image, struct stk_err *err);

/* One line of `stack image ls`. Strings owned by the list. */
struct rt_image_entry {
    char *ref;             /* "NAME:TAG" */
    char *manifest_digest; /* "sha256:..." */
    char *config_digest;   /* "sha256:...", NULL when the manifest is unreadable */
    char *os;              /* from the config, NULL when unreadable */
    char *architecture;    /* from the config, NULL when unreadable */
    char *created;         /* config "created", NULL when unset */
    int64_t size;          /* config + layer blob sizes from the manifest, -1 if unreadable */
};

/* The references of a store, sorted by ref. */
struct rt_image_list {
    struct rt_image_entry *items; /* owned array of n entries */
    size_t n;
};

/* Frees what LIST owns and zeroes it; NULL-safe. */
void rt_image_list_release(struct rt_image_list *list);

/*
 * Lists every reference of STORE into *RET_LIST (initialised by the call;
 * release with rt_image_list_release()). An image whose manifest or config
 * cannot be read is still listed, with NULL fields and size -1.
 * Errors: STK_EIO or STK_EIMAGE when repositories.json cannot be read or parsed.
 */
int rt_image_list(struct rt_image_store *store, struct rt_image_list *ret_list,
                  struct stk_err *err);

/*
 * Removes the reference REF (NAME[:TAG]) from the index (`stack image rm`).
 * Blobs stay: there is no garbage collection yet. Errors: STK_ENOENT with
 * "image 'NAME:TAG' not found", STK_EINVAL, STK_EIO.
 */
int rt_image_untag(struct rt_image_store *store, const char *ref, struct stk_err *err);

#endif
