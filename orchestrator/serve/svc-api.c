/*
 * svc-api.c - the stacks registered with the daemon and the API's
 * resources (svc.h).
 */
#include "orchestrator/serve/svc.h"

#include <inttypes.h>
#include <jansson.h>
#include <string.h>

#include "orchestrator/store/store.h"
#include "stk-alloc.h"

#define KIND "svc.stack"

static int check_spec(json_t *spec, struct stk_err *err)
{
    json_t *files = json_object_get(spec, "files"), *env, *dir, *v;
    const char *k;
    size_t i;

    if (!json_is_array(files) || json_array_size(files) == 0)
        return stk_err_set(err, STK_EINVAL, 0, "'files' must be a non-empty array");
    json_array_foreach(files, i, v)
    {
        if (!json_is_string(json_object_get(v, "name")) ||
            !json_is_string(json_object_get(v, "content")))
            return stk_err_set(err, STK_EINVAL, 0, "files[%zu] needs a 'name' and a 'content'", i);
    }
    env = json_object_get(spec, "env");
    if (env && !json_is_object(env))
        return stk_err_set(err, STK_EINVAL, 0, "'env' must be an object");
    json_object_foreach(env, k, v)
    {
        if (!json_is_string(v))
            return stk_err_set(err, STK_EINVAL, 0, "env '%s' must be a string", k);
    }
    dir = json_object_get(spec, "project_dir");
    if (dir && !json_is_string(dir))
        return stk_err_set(err, STK_EINVAL, 0, "'project_dir' must be a string");
    return 0;
}

static json_t *condition(const char *type, const char *status, const char *reason,
                         const char *message)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "type", type, "status", status, "reason", reason,
                     "message", message ? message : "");
}

static int save(struct store *store, const char *name, json_t *doc, struct stk_err *err)
{
    char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    int r;

    if (!s)
        return stk_err_set(err, STK_ENOMEM, 0, "encode stack '%s'", name);
    r = store_object_put(store, KIND, name, name, s, err);
    free(s);
    return r;
}

int svc_stack_get(struct store *store, const char *name, json_t **ret, struct stk_err *err)
{
    char *data = NULL;
    json_t *doc;
    json_error_t je;
    int r = store_object_get(store, KIND, name, &data, err);

    if (r < 0)
        return r;
    doc = data ? json_loads(data, 0, &je) : NULL;
    free(data);
    if (!doc)
        return stk_err_set(err, STK_ESTORE, 0, "stack '%s': stored document unreadable", name);
    *ret = doc;
    return 0;
}

int svc_stack_put(struct store *store, const char *name, const char *body, int64_t *ret_generation,
                  int *ret_changed, struct stk_err *err)
{
    json_error_t je;
    json_t *spec = NULL, *doc = NULL;
    struct stk_err nerr = STK_ERR_INIT;
    int64_t gen = 1;
    int changed = 1, ret;

    spec = json_loads(body, JSON_REJECT_DUPLICATES, &je);
    if (!spec) {
        ret = stk_err_set_at(err, STK_EINVAL, "request body", je.line, je.column, "%s", je.text);
        goto out;
    }
    if (!json_is_object(spec)) {
        ret = stk_err_set(err, STK_EINVAL, 0, "the body must be a JSON object");
        goto out;
    }
    ret = check_spec(spec, err);
    if (ret < 0)
        goto out;
    ret = svc_stack_get(store, name, &doc, &nerr);
    if (ret == 0) {
        gen = json_integer_value(json_object_get(doc, "generation"));
        if (json_equal(json_object_get(doc, "spec"), spec))
            changed = 0;
        else
            gen++;
    } else if (ret == STK_ENOENT) {
        doc = json_pack("{s:s, s:I}", "name", name, "observed_generation", (json_int_t)0);
    } else {
        *err = nerr;
        goto out;
    }
    if (changed) {
        json_object_set(doc, "spec", spec);
        json_object_set_new(doc, "generation", json_integer(gen));
        json_object_set_new(
            doc, "conditions",
            json_pack("[o,o,o]",
                      condition("Ready", "Unknown", "Progressing", "reconciliation in progress"),
                      condition("Reconciling", "True", "NewGeneration", NULL),
                      condition("Stalled", "False", "NewGeneration", NULL)));
        ret = save(store, name, doc, err);
        if (ret < 0)
            goto out;
    }
    *ret_generation = gen;
    *ret_changed = changed;
    ret = 0;
out:
    stk_err_clear(&nerr);
    json_decref(spec);
    json_decref(doc);
    return ret;
}

int svc_stack_list(struct store *store, json_t **ret, struct stk_err *err)
{
    char **ids = NULL;
    json_t *arr = json_array();
    int r = store_object_list(store, KIND, NULL, &ids, err);

    if (r < 0) {
        json_decref(arr);
        return r;
    }
    for (size_t i = 0; ids && ids[i]; i++) {
        json_t *doc;
        r = svc_stack_get(store, ids[i], &doc, err);
        if (r < 0)
            break;
        json_array_append_new(arr, doc);
    }
    for (size_t i = 0; ids && ids[i]; i++)
        free(ids[i]);
    free(ids);
    if (r < 0) {
        json_decref(arr);
        return r;
    }
    *ret = arr;
    return 0;
}

int svc_stack_delete(struct store *store, const char *name, struct stk_err *err)
{
    json_t *doc = NULL;
    int r = svc_stack_get(store, name, &doc, err);

    if (r < 0)
        return r;
    json_decref(doc);
    return store_object_delete(store, KIND, name, err);
}

int svc_stack_observe(struct store *store, const char *name, int64_t generation,
                      const struct stk_err *result, struct stk_err *err)
{
    json_t *doc = NULL, *conds;
    int r = svc_stack_get(store, name, &doc, err);

    if (r < 0)
        return r;
    json_object_set_new(doc, "observed_generation", json_integer(generation));
    if (!result) {
        conds = json_pack(
            "[o,o,o]",
            condition("Ready", "True", "ReconciliationSucceeded", "the stack is converged"),
            condition("Reconciling", "False", "ReconciliationSucceeded", NULL),
            condition("Stalled", "False", "ReconciliationSucceeded", NULL));
    } else {
        char msg[1024];
        int stalled = result->code == STK_ESPEC;
        stk_err_format(result, msg, sizeof(msg));
        conds = json_pack(
            "[o,o,o]", condition("Ready", "False", "ReconciliationFailed", msg),
            condition("Reconciling", stalled ? "False" : "True",
                      stalled ? "ReconciliationFailed" : "ProgressingWithRetry", NULL),
            condition("Stalled", stalled ? "True" : "False",
                      stalled ? "InvalidSpec" : "ReconciliationFailed", stalled ? msg : NULL));
    }
    json_object_set_new(doc, "conditions", conds);
    r = save(store, name, doc, err);
    json_decref(doc);
    return r;
}

/* Handlers. */

static void put_json(struct svc_response *resp, int status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

    if (!s)
        abort();
    resp->status = status;
    stk_buf_puts(&resp->body, s);
    stk_buf_putc(&resp->body, '\n');
    free(s);
}

static int err_status(const struct stk_err *err)
{
    switch (err->code) {
    case STK_ENOENT:
        return 404;
    case STK_EINVAL:
    case STK_EUSAGE:
        return 400;
    case STK_ESPEC:
        return 422;
    case STK_EBUSY:
    case STK_EEXIST:
        return 409;
    default:
        return 500;
    }
}

static void h_healthz(const struct svc_request *req, struct svc_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    resp->content_type = "text/plain";
    stk_buf_puts(&resp->body, "ok\n");
}

static void h_list(const struct svc_request *req, struct svc_response *resp, void *ud)
{
    struct svc_api *api = ud;
    struct stk_err err = STK_ERR_INIT;
    json_t *arr = NULL;
    (void)req;

    if (svc_stack_list(api->store, &arr, &err) < 0) {
        svc_response_error(resp, err_status(&err), &err);
        stk_err_clear(&err);
        return;
    }
    put_json(resp, 200, arr);
    json_decref(arr);
}

static void h_get(const struct svc_request *req, struct svc_response *resp, void *ud)
{
    struct svc_api *api = ud;
    struct stk_err err = STK_ERR_INIT;
    json_t *doc = NULL;

    if (svc_stack_get(api->store, req->params[0], &doc, &err) < 0) {
        svc_response_error(resp, err_status(&err), &err);
        stk_err_clear(&err);
        return;
    }
    put_json(resp, 200, doc);
    json_decref(doc);
}

static void h_status(const struct svc_request *req, struct svc_response *resp, void *ud)
{
    struct svc_api *api = ud;
    struct stk_err err = STK_ERR_INIT;
    json_t *doc = NULL, *st;

    if (svc_stack_get(api->store, req->params[0], &doc, &err) < 0) {
        svc_response_error(resp, err_status(&err), &err);
        stk_err_clear(&err);
        return;
    }
    st = json_pack("{s:O, s:O, s:O}", "generation", json_object_get(doc, "generation"),
                   "observed_generation", json_object_get(doc, "observed_generation"), "conditions",
                   json_object_get(doc, "conditions"));
    put_json(resp, 200, st);
    json_decref(st);
    json_decref(doc);
}

static uint64_t api_now(const struct svc_api *api)
{
    return api->now_ms ? api->now_ms() : uv_hrtime() / 1000000;
}

static void h_put(const struct svc_request *req, struct svc_response *resp, void *ud)
{
    struct svc_api *api = ud;
    struct stk_err err = STK_ERR_INIT;
    int64_t gen = 0;
    int changed = 0;
    json_t *doc = NULL;

    if (svc_stack_put(api->store, req->params[0], req->body, &gen, &changed, &err) < 0 ||
        svc_stack_get(api->store, req->params[0], &doc, &err) < 0) {
        svc_response_error(resp, err_status(&err), &err);
        stk_err_clear(&err);
        return;
    }
    if (changed && api->queue)
        svc_queue_add(api->queue, req->params[0], api_now(api));
    put_json(resp, 200, doc);
    json_decref(doc);
}

static void h_delete(const struct svc_request *req, struct svc_response *resp, void *ud)
{
    struct svc_api *api = ud;
    struct stk_err err = STK_ERR_INIT;

    if (svc_stack_delete(api->store, req->params[0], &err) < 0) {
        svc_response_error(resp, err_status(&err), &err);
        stk_err_clear(&err);
        return;
    }
    if (api->queue)
        svc_queue_add(api->queue, req->params[0], api_now(api));
    resp->status = 204;
}

static void h_events(const struct svc_request *req, struct svc_response *resp, void *ud)
{
    struct svc_api *api = ud;
    struct stk_err err = STK_ERR_INIT;
    struct store_event *ev = NULL;
    size_t n = 0;
    long long since = 0;
    const char *q = strstr(req->query, "since=");
    json_t *arr;

    if (q && (q == req->query || q[-1] == '&'))
        since = strtoll(q + 6, NULL, 10);
    if (store_event_list(api->store, NULL, since, &ev, &n, &err) < 0) {
        svc_response_error(resp, err_status(&err), &err);
        stk_err_clear(&err);
        return;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(
            arr, json_pack("{s:I, s:I, s:s?, s:s, s:s?, s:s?}", "rev", (json_int_t)ev[i].rev,
                           "time_ms", (json_int_t)ev[i].time_ms, "project", ev[i].project, "kind",
                           ev[i].kind, "object", ev[i].object, "message", ev[i].message));
        store_event_release(&ev[i]);
    }
    free(ev);
    put_json(resp, 200, arr);
    json_decref(arr);
}

static void h_metrics(const struct svc_request *req, struct svc_response *resp, void *ud)
{
    struct svc_api *api = ud;
    struct stk_err err = STK_ERR_INIT;
    json_t *arr = NULL, *doc;
    size_t i;
    (void)req;

    resp->content_type = "text/plain; version=0.0.4";
    stk_buf_printf(&resp->body,
                   "# HELP stack_queue_depth Stacks waiting to be reconciled.\n"
                   "# TYPE stack_queue_depth gauge\nstack_queue_depth %zu\n",
                   api->queue ? svc_queue_len(api->queue) : 0);
    stk_buf_printf(&resp->body,
                   "# HELP stack_reconcile_duration_seconds Time spent reconciling.\n"
                   "# TYPE stack_reconcile_duration_seconds summary\n"
                   "stack_reconcile_duration_seconds_sum %.6f\n"
                   "stack_reconcile_duration_seconds_count %" PRIu64 "\n"
                   "# TYPE stack_reconcile_errors_total counter\n"
                   "stack_reconcile_errors_total %" PRIu64 "\n",
                   api->reconcile_seconds_sum, api->reconciles, api->reconcile_errors);
    if (api->srv) {
        struct svc_server_stats st;
        svc_server_get_stats(api->srv, &st);
        stk_buf_printf(&resp->body,
                       "# TYPE stack_api_connections gauge\nstack_api_connections %u\n"
                       "# TYPE stack_api_requests_total counter\nstack_api_requests_total %" PRIu64
                       "\n# TYPE stack_api_refused_total counter\n"
                       "stack_api_refused_total{reason=\"cap\"} %" PRIu64 "\n"
                       "stack_api_refused_total{reason=\"peer\"} %" PRIu64 "\n",
                       st.open, st.requests, st.refused_cap, st.refused_peer);
    }
    if (svc_stack_list(api->store, &arr, &err) == 0) {
        stk_buf_puts(&resp->body, "# TYPE stack_ready gauge\n");
        json_array_foreach(arr, i, doc)
        {
            json_t *c0 = json_array_get(json_object_get(doc, "conditions"), 0);
            const char *s = json_string_value(json_object_get(c0, "status"));
            stk_buf_printf(&resp->body, "stack_ready{stack=\"%s\"} %d\n",
                           json_string_value(json_object_get(doc, "name")),
                           s && strcmp(s, "True") == 0);
        }
        json_decref(arr);
    }
    stk_err_clear(&err);
}

static const struct svc_route api_routes[] = {
    {"GET", "/healthz", h_healthz},
    {"GET", "/metrics", h_metrics},
    {"GET", "/v1/stacks", h_list},
    {"GET", "/v1/stacks/{name}", h_get},
    {"PUT", "/v1/stacks/{name}", h_put},
    {"DELETE", "/v1/stacks/{name}", h_delete},
    {"GET", "/v1/stacks/{name}/status", h_status},
    {"GET", "/v1/events", h_events},
    {NULL, NULL, NULL},
};

const struct svc_route *svc_api_routes(void)
{
    return api_routes;
}
