/*
 * cli-view.c - read-only views of a project: ps and logs, observed from the
 * runtime (labels, PIDs, states) and the monitor's log files.
 */
#include "orchestrator/cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "common/stk-alloc.h"
#include "common/stk-strv.h"
#include "orchestrator/cli/cli-internal.h"
#include "orchestrator/store/store.h"
#include "runtime/rt-driver.h"

static int cmp_info(const void *a, const void *b)
{
    const struct rt_container_info *x = a, *y = b;
    const char *nx = x->name ? x->name : x->id, *ny = y->name ? y->name : y->id;

    return strcmp(nx, ny);
}

static const char *status_text(const struct rt_container_info *ci, char *buf, size_t size)
{
    switch (ci->state) {
    case RT_STATE_RUNNING:
        return "running";
    case RT_STATE_STOPPED:
        if (ci->has_exit_code)
            snprintf(buf, size, "exited (%d)", ci->exit_code);
        else
            snprintf(buf, size, "exited");
        return buf;
    default:
        return rt_state_to_string(ci->state);
    }
}

int cli_ps(struct rec_env *env, const char *project, FILE *out, struct stk_err *err)
{
    struct rt_container_list obs = {NULL, 0};
    struct store_container *rows = NULL;
    size_t nrows = 0;
    int r;

    if ((r = cli__observe(env, project, &obs, err)) < 0)
        return r;
    store_container_list(env->store, project, &rows, &nrows, NULL);
    qsort(obs.items, obs.n, sizeof(*obs.items), cmp_info);
    fprintf(out, "%-28s %-12s %-14s %-10s %-8s %s\n", "NAME", "SERVICE", "STATUS", "ISOLATION",
            "PID", "PORTS");
    for (size_t i = 0; i < obs.n; i++) {
        const struct rt_container_info *ci = &obs.items[i];
        const char *svc = rt_container_info_label(ci, RT_LABEL_SERVICE);
        const char *ports = "";
        char st[32];
        for (size_t k = 0; k < nrows; k++)
            if (strcmp(rows[k].id, ci->id) == 0 && rows[k].ports)
                ports = rows[k].ports;
        fprintf(out, "%-28s %-12s %-14s %-10s %-8d %s\n", ci->name ? ci->name : ci->id,
                svc ? svc : "", status_text(ci, st, sizeof(st)),
                rt_isolation_to_string(ci->isolation), ci->pid, ports);
    }
    for (size_t k = 0; k < nrows; k++)
        store_container_release(&rows[k]);
    free(rows);
    rt_container_list_release(&obs);
    return 0;
}

/* One followed log file. */
struct log_src {
    char *name;
    char *path;
    FILE *f;
};

/*
 * Returns the text of LINE after its k8s-file prefix "TIMESTAMP STREAM TAG "
 * (STREAM stdout or stderr, TAG "F" for a full line, "P" for a partial one,
 * stored in *RET_PARTIAL), or LINE itself when it has no such prefix: the hcs
 * driver's log holds the process's output as written (runtime/hcs).
 */
static char *log_text(char *line, int *ret_partial)
{
    char *stream = strchr(line, ' '), *tag;

    *ret_partial = 0;
    if (!stream || stream == line)
        return line;
    stream++;
    if (strncmp(stream, "stdout ", 7) != 0 && strncmp(stream, "stderr ", 7) != 0)
        return line;
    tag = stream + 7;
    if ((tag[0] != 'F' && tag[0] != 'P') || (tag[1] != ' ' && tag[1] != '\n'))
        return line;
    *ret_partial = tag[0] == 'P';
    return tag[1] == ' ' ? tag + 2 : tag + 1;
}

/* Prints the complete lines available in SRC, without their k8s-file prefix. */
static void log_drain(struct log_src *src, int prefix, FILE *out)
{
    char line[65536];

    while (fgets(line, sizeof(line), src->f)) {
        int partial;
        char *p = log_text(line, &partial);
        if (prefix)
            fprintf(out, "%s  | ", src->name);
        if (partial)
            p[strcspn(p, "\n")] = '\0';
        fputs(p, out);
    }
    clearerr(src->f);
    fflush(out);
}

static volatile sig_atomic_t *logs_stop;

void cli_logs_set_stop_flag(volatile sig_atomic_t *flag)
{
    logs_stop = flag;
}

int cli_logs(struct rec_env *env, const char *project, const char *service, int follow, FILE *out,
             struct stk_err *err)
{
    struct rt_container_list obs = {NULL, 0};
    struct log_src *srcs = NULL;
    size_t n = 0;
    unsigned polls = 0;
    int r;

    if ((r = cli__observe(env, project, &obs, err)) < 0)
        return r;
    qsort(obs.items, obs.n, sizeof(*obs.items), cmp_info);
    srcs = stk_xcalloc(obs.n + 1, sizeof(*srcs));
    for (size_t i = 0; i < obs.n; i++) {
        const struct rt_container_info *ci = &obs.items[i];
        const char *svc = rt_container_info_label(ci, RT_LABEL_SERVICE);
        struct rt_sync s = RT_SYNC_INIT;
        if (service && (!svc || strcmp(svc, service) != 0))
            continue;
        r = rt_container_logs(env->rt, ci->id, rt_sync_done, &s, NULL, err);
        if ((r = rt_sync_wait(env->loop, &s, r, err)) < 0) {
            rt_sync_release(&s);
            goto out;
        }
        srcs[n].name = stk_xstrdup(ci->name ? ci->name : ci->id);
        srcs[n].path = stk_xstrdup(s.log_path);
        srcs[n].f = fopen(s.log_path, "re");
        rt_sync_release(&s);
        n++;
    }
    if (service && n == 0) {
        r = stk_err_set(err, STK_ENOENT, 0, "service '%s' has no containers in project '%s'",
                        service, project);
        goto out;
    }
    do {
        for (size_t i = 0; i < n; i++) {
            if (!srcs[i].f)
                srcs[i].f = fopen(srcs[i].path, "re");
            if (srcs[i].f)
                log_drain(&srcs[i], n > 1, out);
        }
        if (!follow || n == 0 || (logs_stop && *logs_stop))
            break;
        usleep(200000);
        /*
         * Following ends when every container followed has exited (compose up
         * does). Asking the runtime spawns it: once a second, not every poll.
         */
        if (follow && ++polls % 5 == 0) {
            struct rt_container_list now = {NULL, 0};
            size_t running = 0;
            if (cli__observe(env, project, &now, err) < 0)
                break;
            for (size_t i = 0; i < now.n; i++) {
                const char *svc = rt_container_info_label(&now.items[i], RT_LABEL_SERVICE);
                if (service && (!svc || strcmp(svc, service) != 0))
                    continue;
                running += now.items[i].state == RT_STATE_RUNNING ||
                           now.items[i].state == RT_STATE_CREATED;
            }
            rt_container_list_release(&now);
            if (running == 0) {
                for (size_t i = 0; i < n; i++)
                    if (srcs[i].f)
                        log_drain(&srcs[i], n > 1, out);
                break;
            }
        }
    } while (!(logs_stop && *logs_stop));
    r = 0;
out:
    for (size_t i = 0; i < n; i++) {
        free(srcs[i].name);
        free(srcs[i].path);
        if (srcs[i].f)
            fclose(srcs[i].f);
    }
    free(srcs);
    rt_container_list_release(&obs);
    return r;
}

/* Finds the container of SERVICE replica NUMBER in OBS; NULL when there is none. */
/*
 * Observes PROJECT into *OBS (release it whatever the result) and finds
 * replica NUMBER of SERVICE in it: *RET_CI, or STK_ENOENT naming them.
 */
static int observe_replica(struct rec_env *env, const char *project, const char *service,
                           int number, struct rt_container_list *obs,
                           const struct rt_container_info **ret_ci, struct stk_err *err)
{
    char num[16];
    int r;

    *ret_ci = NULL;
    if ((r = cli__observe(env, project, obs, err)) < 0)
        return r;
    snprintf(num, sizeof(num), "%d", number);
    for (size_t i = 0; i < obs->n; i++) {
        const char *s = rt_container_info_label(&obs->items[i], RT_LABEL_SERVICE);
        const char *n = rt_container_info_label(&obs->items[i], RT_LABEL_NUMBER);
        if (s && n && strcmp(s, service) == 0 && strcmp(n, num) == 0 &&
            obs->items[i].state != RT_STATE_CREATING) {
            *ret_ci = &obs->items[i];
            return 0;
        }
    }
    return stk_err_set(err, STK_ENOENT, 0, "service '%s' has no container %d in project '%s'",
                       service, number, project);
}

int cli_exec(struct rec_env *env, const char *project, const char *service, int number,
             char *const *args, FILE *out, int *ret_status, struct stk_err *err)
{
    struct rt_container_list obs = {NULL, 0};
    const struct rt_container_info *ci;
    struct rt_sync s = RT_SYNC_INIT;
    struct rt_exec_opts eo;
    int r;

    if ((r = observe_replica(env, project, service, number, &obs, &ci, err)) < 0)
        goto out;
    if (ci->state != RT_STATE_RUNNING) {
        r = stk_err_set(err, STK_EINVAL, 0, "container '%s' is not running",
                        ci->name ? ci->name : ci->id);
        goto out;
    }
    memset(&eo, 0, sizeof(eo));
    eo.args = (const char *const *)args;
    eo.capture = 1;
    r = rt_container_exec(env->rt, ci->id, &eo, rt_sync_done, &s, NULL, err);
    if ((r = rt_sync_wait(env->loop, &s, r, err)) < 0)
        goto out;
    if (s.output)
        fputs(s.output, out);
    *ret_status = s.exit_code;
out:
    rt_sync_release(&s);
    rt_container_list_release(&obs);
    return r;
}

int cli_port(struct rec_env *env, const char *project, const char *service, int number,
             unsigned private_port, const char *protocol, FILE *out, struct stk_err *err)
{
    struct rt_container_list obs = {NULL, 0};
    const struct rt_container_info *ci;
    struct store_container row;
    int r, found = 0;

    memset(&row, 0, sizeof(row));
    if ((r = observe_replica(env, project, service, number, &obs, &ci, err)) < 0)
        goto out;
    if ((r = store_container_get(env->store, ci->id, &row, err)) < 0)
        goto out;
    /* The row's ps text: "IP:HOST->PRIVATE/PROTO, ...". */
    for (const char *p = row.ports ? row.ports : ""; *p;) {
        size_t len = strcspn(p, ",");
        const char *arrow = memchr(p, '>', len), *slash = memchr(p, '/', len);
        if (arrow && slash && arrow > p + 1 && strtoul(arrow + 1, NULL, 10) == private_port &&
            strlen(protocol) == (size_t)(p + len - slash - 1) &&
            strncmp(slash + 1, protocol, strlen(protocol)) == 0) {
            fprintf(out, "%.*s\n", (int)(arrow - 1 - p), p);
            found = 1;
            break;
        }
        p += len;
        while (*p == ',' || *p == ' ')
            p++;
    }
    if (!found)
        r = stk_err_set(err, STK_ENOENT, 0, "service '%s' does not publish port %u/%s", service,
                        private_port, protocol);
out:
    store_container_release(&row);
    rt_container_list_release(&obs);
    return r;
}

int cli_top(struct rec_env *env, const char *project, const char *service, FILE *out,
            struct stk_err *err)
{
    struct rt_container_list obs = {NULL, 0};
    int r, shown = 0;

    if ((r = cli__observe(env, project, &obs, err)) < 0)
        return r;
    qsort(obs.items, obs.n, sizeof(*obs.items), cmp_info);
    for (size_t i = 0; i < obs.n; i++) {
        const struct rt_container_info *ci = &obs.items[i];
        const char *svc = rt_container_info_label(ci, RT_LABEL_SERVICE);
        struct rt_sync s = RT_SYNC_INIT;
        if ((service && (!svc || strcmp(svc, service) != 0)) || ci->state != RT_STATE_RUNNING)
            continue;
        r = rt_container_top(env->rt, ci->id, rt_sync_done, &s, NULL, err);
        if ((r = rt_sync_wait(env->loop, &s, r, err)) < 0) {
            rt_sync_release(&s);
            goto out;
        }
        fprintf(out, "%s (isolation %s, host PID %d)\n%s\n", ci->name ? ci->name : ci->id,
                rt_isolation_to_string(ci->isolation), ci->pid, s.output ? s.output : "");
        rt_sync_release(&s);
        shown++;
    }
    if (service && !shown)
        r = stk_err_set(err, STK_ENOENT, 0, "service '%s' has no running container", service);
out:
    rt_container_list_release(&obs);
    return r;
}

int cli_inspect(struct rec_env *env, const char *project, const char *service, FILE *out,
                struct stk_err *err)
{
    struct rt_container_list obs = {NULL, 0};
    json_t *arr = json_array();
    char *text;
    int r;

    if ((r = cli__observe(env, project, &obs, err)) < 0) {
        json_decref(arr);
        return r;
    }
    qsort(obs.items, obs.n, sizeof(*obs.items), cmp_info);
    for (size_t i = 0; i < obs.n; i++) {
        const struct rt_container_info *ci = &obs.items[i];
        const char *svc = rt_container_info_label(ci, RT_LABEL_SERVICE);
        json_t *labels = json_object();
        if (service && (!svc || strcmp(svc, service) != 0))
            continue;
        for (size_t k = 0; k < ci->n_labels; k++)
            json_object_set_new(labels, ci->labels[k].key, json_string(ci->labels[k].value));
        json_array_append_new(
            arr, json_pack("{s:s, s:s?, s:s, s:s, s:i, s:I, s:I, s:o?, s:o}", "id", ci->id, "name",
                           ci->name, "state", rt_state_to_string(ci->state), "isolation",
                           rt_isolation_to_string(ci->isolation), "pid", ci->pid, "created_ns",
                           (json_int_t)ci->created_ns, "started_ns", (json_int_t)ci->started_ns,
                           "exit_code", ci->has_exit_code ? json_integer(ci->exit_code) : NULL,
                           "labels", labels));
    }
    if (service && json_array_size(arr) == 0) {
        r = stk_err_set(err, STK_ENOENT, 0, "service '%s' has no containers", service);
    } else {
        text = json_dumps(arr, JSON_INDENT(2));
        fprintf(out, "%s\n", text);
        free(text);
    }
    json_decref(arr);
    rt_container_list_release(&obs);
    return r;
}
