/*
 * spec-json.c - the canonical JSON of the normalised model and the spec hash
 * (DESIGN.md §3). Field names and shapes follow compose-go's JSON encoding of
 * types.ServiceConfig (long syntax, durations as Go duration strings,
 * published ports as strings), so `stack config --format json` reads like
 * `docker compose config --format json`. Keys are sorted when dumped.
 */
#include "specs/spec.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "common/stk-sha256.h"
#include "specs/spec-internal.h"

static json_t *strv_json(char *const *v)
{
    json_t *a = json_array();

    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v)
        json_object_set_new(o, key, json_string(v));
}

static void set_duration(json_t *o, const char *key, int64_t ns)
{
    char *d = spec__format_duration(ns);

    json_object_set_new(o, key, json_string(d));
    free(d);
}

static json_t *port_json(const struct spec_port *p)
{
    json_t *o = json_object();

    json_object_set_new(o, "target", json_integer(p->target));
    if (p->published) {
        char buf[16];
        if (p->published_end)
            snprintf(buf, sizeof(buf), "%u-%u", p->published, p->published_end);
        else
            snprintf(buf, sizeof(buf), "%u", p->published);
        json_object_set_new(o, "published", json_string(buf));
    }
    set_str(o, "host_ip", p->host_ip);
    set_str(o, "protocol", p->protocol);
    set_str(o, "mode", p->mode);
    set_str(o, "name", p->name);
    set_str(o, "app_protocol", p->app_protocol);
    return o;
}

static json_t *volume_json(const struct spec_volume *v)
{
    json_t *o = json_object();

    set_str(o, "type", v->type);
    set_str(o, "source", v->source);
    set_str(o, "target", v->target);
    if (v->read_only)
        json_object_set_new(o, "read_only", json_true());
    if (v->type && strcmp(v->type, "bind") == 0 && v->create_host_path) {
        json_t *b = json_object();
        json_object_set_new(b, "create_host_path", json_true());
        json_object_set_new(o, "bind", b);
    }
    if (v->tmpfs_size) {
        json_t *t = json_object();
        json_object_set_new(t, "size", json_integer(v->tmpfs_size));
        json_object_set_new(o, "tmpfs", t);
    }
    return o;
}

static json_t *healthcheck_json(const struct spec_healthcheck *h)
{
    json_t *o = json_object();

    if (h->test)
        json_object_set_new(o, "test", strv_json(h->test));
    if (h->disable)
        json_object_set_new(o, "disable", json_true());
    set_duration(o, "interval", h->interval_ns);
    set_duration(o, "timeout", h->timeout_ns);
    set_duration(o, "start_period", h->start_period_ns);
    json_object_set_new(o, "retries", json_integer(h->retries));
    return o;
}

json_t *spec_service_to_json(const struct spec_service *s, int for_hash)
{
    json_t *o = json_object();

    set_str(o, "image", s->image);
    if (s->has_command)
        json_object_set_new(o, "command", strv_json(s->command));
    if (s->has_entrypoint)
        json_object_set_new(o, "entrypoint", strv_json(s->entrypoint));
    if (s->n_environment) {
        json_t *env = json_object();
        for (size_t i = 0; i < s->n_environment; i++)
            json_object_set_new(env, s->environment[i].key,
                                s->environment[i].value ? json_string(s->environment[i].value)
                                                        : json_null());
        json_object_set_new(o, "environment", env);
    }
    if (s->n_ports) {
        json_t *a = json_array();
        for (size_t i = 0; i < s->n_ports; i++)
            json_array_append_new(a, port_json(&s->ports[i]));
        json_object_set_new(o, "ports", a);
    }
    if (s->n_volumes) {
        json_t *a = json_array();
        for (size_t i = 0; i < s->n_volumes; i++)
            json_array_append_new(a, volume_json(&s->volumes[i]));
        json_object_set_new(o, "volumes", a);
    }
    if (!for_hash && s->n_depends_on) {
        json_t *d = json_object();
        for (size_t i = 0; i < s->n_depends_on; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "condition", json_string(s->depends_on[i].condition));
            json_object_set_new(e, "required", json_boolean(s->depends_on[i].required));
            json_object_set_new(e, "restart", json_boolean(s->depends_on[i].restart));
            json_object_set_new(d, s->depends_on[i].service, e);
        }
        json_object_set_new(o, "depends_on", d);
    }
    set_str(o, "isolation", s->isolation);
    set_str(o, "restart", s->restart);
    set_str(o, "network_mode", s->network_mode);
    if (s->networks) {
        json_t *n = json_object();
        for (size_t i = 0; s->networks[i]; i++)
            json_object_set_new(n, s->networks[i], json_null());
        json_object_set_new(o, "networks", n);
    }
    set_str(o, "hostname", s->hostname);
    set_str(o, "working_dir", s->working_dir);
    set_str(o, "user", s->user);
    set_str(o, "stop_signal", s->stop_signal);
    set_duration(o, "stop_grace_period", s->stop_grace_period_ns);
    if (s->healthcheck.present)
        json_object_set_new(o, "healthcheck", healthcheck_json(&s->healthcheck));
    if (!for_hash) {
        json_t *d = json_object();
        json_object_set_new(d, "replicas", json_integer(s->replicas));
        json_object_set_new(o, "deploy", d);
    }
    return o;
}

void spec_service_hash(const struct spec_service *service, char out[65])
{
    json_t *j = spec_service_to_json(service, 1);
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    uint8_t md[STK_SHA256_LEN];

    if (!text)
        abort(); /* jansson only fails on out of memory (STYLE.md rule 15) */
    stk_sha256(text, strlen(text), md);
    stk_sha256_hex(md, out);
    free(text);
    json_decref(j);
}

json_t *spec_project_to_json(const struct spec_project *p)
{
    json_t *o = json_object();
    json_t *svcs = json_object();

    set_str(o, "name", p->name);
    for (size_t i = 0; i < p->n_services; i++)
        json_object_set_new(svcs, p->services[i].name, spec_service_to_json(&p->services[i], 0));
    json_object_set_new(o, "services", svcs);
    if (p->n_networks) {
        json_t *n = json_object();
        for (size_t i = 0; i < p->n_networks; i++) {
            json_t *e = json_object();
            set_str(e, "name", p->networks[i].name);
            set_str(e, "driver", p->networks[i].driver);
            if (p->networks[i].external)
                json_object_set_new(e, "external", json_true());
            if (p->networks[i].internal)
                json_object_set_new(e, "internal", json_true());
            json_object_set_new(n, p->networks[i].key, e);
        }
        json_object_set_new(o, "networks", n);
    }
    if (p->n_volumes) {
        json_t *n = json_object();
        for (size_t i = 0; i < p->n_volumes; i++) {
            json_t *e = json_object();
            set_str(e, "name", p->volumes[i].name);
            set_str(e, "driver", p->volumes[i].driver);
            if (p->volumes[i].external)
                json_object_set_new(e, "external", json_true());
            json_object_set_new(n, p->volumes[i].key, e);
        }
        json_object_set_new(o, "volumes", n);
    }
    return o;
}
