/*
 * test-svc-api.c - the stacks registered with the daemon and the API's
 * resources (orchestrator/serve/svc.h), through an HTTP session on an
 * in-memory store: generations, Flux-style conditions, the queue fed by
 * put and delete, structured errors, events, /metrics.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "orchestrator/serve/svc.h"
#include "orchestrator/store/store.h"

static struct store *store;
static struct svc_queue *queue;
static struct svc_api api;
static uint64_t fake_now;

static uint64_t now_fn(void)
{
    return fake_now;
}

static void setup(void)
{
    struct stk_err err = STK_ERR_INIT;
    cr_assert_eq(store_open(":memory:", &store, &err), 0, "%s", err.msg);
    queue = svc_queue_new(NULL, 0);
    memset(&api, 0, sizeof(api));
    api.store = store;
    api.queue = queue;
    api.now_ms = now_fn;
}

static void teardown(void)
{
    svc_queue_free(queue);
    store_close(store);
}

/* Sends one request; returns the status and stores the body as JSON (or NULL) in *RET. */
static int call(const char *method, const char *path, const char *body, json_t **ret,
                char **ret_text)
{
    struct svc_session *s = svc_session_new(svc_api_routes(), &api, NULL, 0);
    struct stk_buf in = STK_BUF_INIT, out = STK_BUF_INIT;
    json_error_t je;
    int st = 0;
    const char *b;

    stk_buf_printf(&in, "%s %s HTTP/1.1\r\nContent-Length: %zu\r\n\r\n%s", method, path,
                   body ? strlen(body) : 0, body ? body : "");
    svc_session_feed(s, in.buf, in.len, &out);
    cr_assert(sscanf(out.buf, "HTTP/1.1 %d", &st) == 1, "%s", out.buf);
    b = strstr(out.buf, "\r\n\r\n");
    cr_assert(b);
    if (ret)
        *ret = json_loads(b + 4, 0, &je);
    if (ret_text)
        *ret_text = strdup(b + 4);
    stk_buf_release(&in);
    stk_buf_release(&out);
    svc_session_free(s);
    return st;
}

static const char *cond(json_t *doc, const char *type, const char *field)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "conditions"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "type")), type) == 0)
            return json_string_value(json_object_get(c, field));
    }
    cr_assert_fail("no condition %s", type);
    return NULL;
}

#define SPEC1                                                                                      \
    "{\"files\":[{\"name\":\"stack.yaml\",\"content\":\"services: "                                \
    "{}\\n\"}],\"env\":{\"A\":\"1\"},\"project_dir\":\"/srv/shop\"}"
#define SPEC2 "{\"files\":[{\"name\":\"stack.yaml\",\"content\":\"services: {a: {}}\\n\"}]}"

TestSuite(svc_api, .init = setup, .fini = teardown);

Test(svc_api, put_get_generations_and_queue)
{
    json_t *doc = NULL;
    cr_assert_eq(call("PUT", "/v1/stacks/shop", SPEC1, &doc, NULL), 200);
    cr_assert_eq(json_integer_value(json_object_get(doc, "generation")), 1);
    cr_assert_eq(json_integer_value(json_object_get(doc, "observed_generation")), 0);
    cr_assert_str_eq(cond(doc, "Reconciling", "status"), "True");
    cr_assert_str_eq(cond(doc, "Ready", "status"), "Unknown");
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(doc, "spec"), "env"), "A")),
                     "1");
    json_decref(doc);
    cr_assert_eq(svc_queue_len(queue), 1);
    cr_assert_str_eq(svc_queue_get(queue, 0), "shop");

    /* The same spec again: no new generation, not queued. */
    cr_assert_eq(call("PUT", "/v1/stacks/shop", SPEC1, &doc, NULL), 200);
    cr_assert_eq(json_integer_value(json_object_get(doc, "generation")), 1);
    json_decref(doc);
    cr_assert_eq(svc_queue_len(queue), 0);

    /* A changed spec while in flight: generation 2, the key marked dirty. */
    cr_assert_eq(call("PUT", "/v1/stacks/shop", SPEC2, &doc, NULL), 200);
    cr_assert_eq(json_integer_value(json_object_get(doc, "generation")), 2);
    json_decref(doc);
    svc_queue_done(queue, "shop", 1, 1);
    cr_assert_str_eq(svc_queue_get(queue, 1), "shop");

    cr_assert_eq(call("GET", "/v1/stacks/shop", NULL, &doc, NULL), 200);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "name")), "shop");
    json_decref(doc);
    cr_assert_eq(call("GET", "/v1/stacks", NULL, &doc, NULL), 200);
    cr_assert_eq(json_array_size(doc), 1);
    json_decref(doc);
}

Test(svc_api, observe_sets_conditions)
{
    struct stk_err err = STK_ERR_INIT, fail = STK_ERR_INIT;
    json_t *doc = NULL;
    cr_assert_eq(call("PUT", "/v1/stacks/shop", SPEC1, NULL, NULL), 200);

    stk_err_set(&fail, STK_ERUNTIME, 0, "start container 'web': runc create: exit status 1");
    cr_assert_eq(svc_stack_observe(store, "shop", 1, &fail, &err), 0, "%s", err.msg);
    cr_assert_eq(call("GET", "/v1/stacks/shop/status", NULL, &doc, NULL), 200);
    cr_assert_eq(json_integer_value(json_object_get(doc, "observed_generation")), 1);
    cr_assert_str_eq(cond(doc, "Ready", "status"), "False");
    cr_assert_str_eq(cond(doc, "Ready", "reason"), "ReconciliationFailed");
    cr_assert(strstr(cond(doc, "Ready", "message"), "runc create"));
    cr_assert_str_eq(cond(doc, "Reconciling", "reason"), "ProgressingWithRetry");
    cr_assert_str_eq(cond(doc, "Stalled", "status"), "False");
    json_decref(doc);

    stk_err_set_at(&fail, STK_ESPEC, "stack.yaml", 3, 5, "unknown key 'imagee'");
    svc_stack_observe(store, "shop", 1, &fail, &err);
    cr_assert_eq(call("GET", "/v1/stacks/shop/status", NULL, &doc, NULL), 200);
    cr_assert_str_eq(cond(doc, "Stalled", "status"), "True");
    cr_assert_str_eq(cond(doc, "Stalled", "reason"), "InvalidSpec");
    cr_assert(strstr(cond(doc, "Stalled", "message"), "stack.yaml:3:5"), "%s",
              cond(doc, "Stalled", "message"));
    json_decref(doc);

    svc_stack_observe(store, "shop", 1, NULL, &err);
    cr_assert_eq(call("GET", "/v1/stacks/shop/status", NULL, &doc, NULL), 200);
    cr_assert_str_eq(cond(doc, "Ready", "status"), "True");
    cr_assert_str_eq(cond(doc, "Reconciling", "status"), "False");
    cr_assert_str_eq(cond(doc, "Stalled", "status"), "False");
    json_decref(doc);
}

Test(svc_api, errors_are_structured)
{
    json_t *doc = NULL;
    cr_assert_eq(call("GET", "/v1/stacks/nope", NULL, &doc, NULL), 404);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "error"), "code")),
                     "ENOENT");
    json_decref(doc);
    cr_assert_eq(call("PUT", "/v1/stacks/shop", "{\"files\":\n  [1,}", &doc, NULL), 400);
    json_t *e = json_object_get(doc, "error");
    cr_assert_str_eq(json_string_value(json_object_get(e, "file")), "request body");
    cr_assert_eq(json_integer_value(json_object_get(e, "line")), 2);
    cr_assert(json_integer_value(json_object_get(e, "col")) > 0);
    json_decref(doc);
    cr_assert_eq(call("PUT", "/v1/stacks/shop", "{\"files\":[]}", &doc, NULL), 400);
    json_decref(doc);
    cr_assert_eq(call("PUT", "/v1/stacks/shop", "{\"files\":[{\"name\":1}]}", &doc, NULL), 400);
    json_decref(doc);
    cr_assert_eq(call("PUT", "/v1/stacks/shop", SPEC1 "x", &doc, NULL), 400);
    json_decref(doc);
    cr_assert_eq(svc_queue_len(queue), 0, "nothing queued for a bad request");
    cr_assert_eq(call("DELETE", "/v1/stacks/shop", NULL, &doc, NULL), 404);
    json_decref(doc);
}

Test(svc_api, delete_unregisters_and_queues)
{
    json_t *doc = NULL;
    cr_assert_eq(call("PUT", "/v1/stacks/shop", SPEC1, NULL, NULL), 200);
    cr_assert_str_eq(svc_queue_get(queue, 0), "shop");
    svc_queue_done(queue, "shop", 1, 0);
    cr_assert_eq(call("DELETE", "/v1/stacks/shop", NULL, NULL, NULL), 204);
    cr_assert_eq(svc_queue_len(queue), 1, "the removal is reconciled too");
    cr_assert_eq(call("GET", "/v1/stacks", NULL, &doc, NULL), 200);
    cr_assert_eq(json_array_size(doc), 0);
    json_decref(doc);
}

Test(svc_api, events_since_and_metrics)
{
    struct stk_err err = STK_ERR_INIT;
    json_t *doc = NULL;
    char *text = NULL;
    int64_t r1 = store_event_add(store, "shop", "start", "web", "started", &err);
    int64_t r2 = store_event_add(store, "shop", "die", "web", "exited 137", &err);
    cr_assert(r1 > 0 && r2 > r1);
    char path[64];
    snprintf(path, sizeof(path), "/v1/events?since=%lld", (long long)r1);
    cr_assert_eq(call("GET", path, NULL, &doc, NULL), 200);
    cr_assert_eq(json_array_size(doc), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(doc, 0), "kind")), "die");
    json_decref(doc);

    cr_assert_eq(call("PUT", "/v1/stacks/shop", SPEC1, NULL, NULL), 200);
    svc_stack_observe(store, "shop", 1, NULL, &err);
    cr_assert_eq(call("GET", "/metrics", NULL, NULL, &text), 200);
    cr_assert(strstr(text, "\nstack_queue_depth 1\n"), "%s", text);
    cr_assert(strstr(text, "stack_ready{stack=\"shop\"} 1\n"), "%s", text);
    free(text);
    cr_assert_eq(call("GET", "/healthz", NULL, NULL, &text), 200);
    cr_assert_str_eq(text, "ok\n");
    free(text);
}
