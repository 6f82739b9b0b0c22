/*
 * exp.h - `stack export kubernetes`: the loaded stack model (specs/spec.h)
 * rendered as Kubernetes manifests for clusters that outgrow one host
 * (DESIGN.md §5 "Scale-out", issue 16).
 *
 * Each object is built as a jansson object whose keys are inserted in a fixed
 * order and written as its own YAML document with libyaml's emitter, so the
 * output is byte-stable for the same model. What maps to what:
 *
 * - a service: a Deployment (replicas, update_config → RollingUpdate,
 *   command/args, env, workingDir, resources, securityContext, labels), or a
 *   Job when it is a one-shot (`restart: no` and a dependant waits for
 *   `service_completed_successfully`);
 * - `network_mode: service:X`: the service becomes a container of X's pod,
 *   its ports are served by X's Services (Kompose 1.33+ does the same);
 * - Windows: RuntimeClass `runhcs-wcow-process` / `runhcs-wcow-hypervisor`
 *   (containerd's hcsshim handlers) and `runtimeClassName` per pod; node
 *   selectors `kubernetes.io/os: windows` and
 *   `node.kubernetes.io/windows-build: MAJOR.MINOR.BUILD` of the image's
 *   os.version (exp_windows_build());
 * - a ClusterIP Service per service (headless when it has no port) and per
 *   network alias; published ports as a NodePort or LoadBalancer Service;
 * - healthchecks → readiness and liveness exec probes; `depends_on`
 *   conditions → init containers that wait with kubectl (ServiceAccount,
 *   Role and RoleBinding emitted once);
 * - named volumes → PersistentVolumeClaims; binds and npipes → hostPath;
 *   tmpfs → emptyDir (memory on Linux, disk on Windows); secrets and
 *   configs → Secrets and ConfigMaps.
 *
 * Everything that cannot be carried is reported once as a warning that names
 * the service and the field (Kubernetes' Windows limits:
 * kubernetes/website concepts/windows/intro.md; the peers' conversion table:
 * reference/compose-peers.md §D).
 */
#ifndef EXP_H
#define EXP_H

#include <stddef.h>

#include "common/stk-diag.h"
#include "common/stk-err.h"
#include "specs/spec.h"

struct rt_image_store;

/* How published ports are exposed outside the cluster (--publish-as). */
enum exp_publish {
    EXP_PUBLISH_NODEPORT,
    EXP_PUBLISH_LOADBALANCER,
};

/* Options of exp_kubernetes(). Zero-initialise, then set what you need. */
struct exp_opts {
    enum spec_platform platform; /* the target OS of every pod (--platform) */
    const char *namespace_;      /* --namespace, or NULL: no namespace written */
    enum exp_publish publish_as;
    const char *volume_size;       /* size of a PVC whose volume has no "stack.export.size"
                                      label; NULL: "1Gi" */
    struct rt_image_store *images; /* borrowed, may be NULL: where Windows images' os.version
                                      is read from */
};

/* One rendered object. Every string is owned by the result. */
struct exp_doc {
    char *kind;    /* "Deployment", "Service", ... */
    char *name;    /* metadata.name */
    char *comment; /* NULL, or lines (without '#') written before the document */
    char *yaml;    /* the document, starting with "---\n" */
};

/* What exp_kubernetes() produces; zero-initialise, release with exp_result_release(). */
struct exp_result {
    struct exp_doc *docs; /* owned array, in output order */
    size_t n_docs;
    size_t alloc;
    struct stk_diag warnings; /* what cannot be carried: one per service and field */
    struct stk_diag notes;    /* statements that are not a loss (Hyper-V support) */
};

/*
 * Renders PROJECT (borrowed) with OPTS into RET (zero-initialised by the
 * caller). Warnings and notes carry the position of the service they name.
 * Returns 0; STK_EINVAL for missing arguments; STK_EUSAGE when
 * OPTS->volume_size is not a Kubernetes quantity or OPTS->namespace_ not a
 * DNS label; STK_ESPEC (positioned) when a volume's "stack.export.size"
 * label is not a quantity. An image missing from OPTS->images is a warning,
 * not an error. RET may hold documents after a failure; release it anyway.
 */
int exp_kubernetes(const struct spec_project *project, const struct exp_opts *opts,
                   struct exp_result *ret, struct stk_err *err);

/* Frees what RESULT owns and zeroes it; NULL-safe. */
void exp_result_release(struct exp_result *result);

/* Returns every document of RESULT as one YAML stream, comments included (a new string). */
char *exp_result_to_yaml(const struct exp_result *result);

/*
 * Writes each document of RESULT to DIR/KIND-NAME.yaml (kind lower-cased),
 * creating DIR when missing. Checks first that DIR is not something other
 * than a directory and that no two documents share a file name, so that on
 * those errors nothing is written. STK_EUSAGE when DIR exists and is not a
 * directory; STK_EIO when writing fails.
 */
int exp_result_write_dir(const struct exp_result *result, const char *dir, struct stk_err *err);

/*
 * The `node.kubernetes.io/windows-build` value for an image whose os.version
 * is OS_VERSION ("10.0.20348.2340" → "10.0.20348", a new string), or NULL when
 * OS_VERSION is not major.minor.build[.revision]. A node of exactly the
 * image's build satisfies both compatibility rules the local runtime applies
 * (process isolation: base LTSC <= image <= host; Hyper-V: image <= host;
 * reference hcs-hns.md §5.3 and its errata), whatever the other nodes are.
 */
char *exp_windows_build(const char *os_version);

/*
 * `stack export kubernetes ...`: parses the export options (the project
 * options through cli_project_opts(), orchestrator/cli/cli-project.h), loads the
 * project as `up` does, renders it and writes it to standard output or -o
 * DIR. CLI is main.c's opaque command-line state. Returns the exit status: 0;
 * 2 for usage and spec errors, and with --strict when something cannot be
 * carried; 1 when the output cannot be written.
 */
struct cli;
int exp_cli_main(struct cli *cli, int argc, char **argv);

#endif
