/*
 * rec-view.c - read-only views of a project: ps and logs, observed from the
 * runtime (labels, PIDs, states) and the monitor's log files.
 */
#include "orchestrator/rec.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/stk-alloc.h"
#include "common/stk-strv.h"
#include "orchestrator/rec-internal.h"
#include "orchestrator/store.h"
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

int rec_ps(struct rec_env *env, const char *project, FILE *out, struct stk_err *err)
{
    struct rt_container_list obs = {NULL, 0};
    struct store_container *rows = NULL;
    size_t nrows = 0;
    int r;

    if ((r = rec__observe(env, project, &obs, err)) < 0)
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
 * Prints the complete lines available in SRC, stripping the k8s-file prefix
 * "TIMESTAMP STREAM TAG " (TAG "F" is a full line, "P" a partial one).
 */
static void log_drain(struct log_src *src, int prefix, FILE *out)
{
    char line[65536];

    while (fgets(line, sizeof(line), src->f)) {
        char *p = line;
        int partial = 0;
        for (int field = 0; field < 3 && p; field++) {
            char *sp = strchr(p, ' ');
            if (field == 2)
                partial = p[0] == 'P';
            p = sp ? sp + 1 : NULL;
        }
        if (!p)
            p = line;
        if (prefix)
            fprintf(out, "%s  | ", src->name);
        if (partial)
            p[strcspn(p, "\n")] = '\0';
        fputs(p, out);
    }
    clearerr(src->f);
    fflush(out);
}

int rec_logs(struct rec_env *env, const char *project, const char *service, int follow,
             FILE *out, struct stk_err *err)
{
    struct rt_container_list obs = {NULL, 0};
    struct log_src *srcs = NULL;
    size_t n = 0;
    int r;

    if ((r = rec__observe(env, project, &obs, err)) < 0)
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
        if (follow)
            usleep(200000);
    } while (follow);
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
