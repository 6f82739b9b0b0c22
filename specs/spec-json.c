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
    if (v->type && strcmp(v->type, "bind") == 0) {
        json_t *b = json_object();
        json_object_set_new(b, "create_host_path", json_boolean(v->create_host_path));
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
    if (h->start_interval_ns)
        set_duration(o, "start_interval", h->start_interval_ns);
    json_object_set_new(o, "retries", json_integer(h->retries));
    return o;
}

static json_t *kv_json(const struct spec_env *e, size_t n)
{
    json_t *o = json_object();

    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, e[i].key, e[i].value ? json_string(e[i].value) : json_null());
    return o;
}

static void set_strv(json_t *o, const char *key, char *const *v)
{
    if (v)
        json_object_set_new(o, key, strv_json(v));
}

static json_t *file_refs_json(const struct spec_file_ref *r, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++) {
        json_t *e = json_object();
        set_str(e, "source", r[i].source);
        set_str(e, "target", r[i].target);
        set_str(e, "uid", r[i].uid);
        set_str(e, "gid", r[i].gid);
        if (r[i].mode >= 0)
            json_object_set_new(e, "mode", json_integer(r[i].mode));
        json_array_append_new(a, e);
    }
    return a;
}

static json_t *resources_json(const struct spec_resources *r)
{
    json_t *o = json_object();

    if (r->cpus > 0)
        json_object_set_new(o, "cpus", json_real(r->cpus));
    if (r->memory) {
        /* The schema types resources memory as a string ("512m"); bytes, written as text. */
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", (long long)r->memory);
        json_object_set_new(o, "memory", json_string(buf));
    }
    if (r->pids)
        json_object_set_new(o, "pids", json_integer(r->pids));
    return o;
}

static json_t *deploy_json(const struct spec_service *s, int for_hash)
{
    json_t *d = json_object();

    if (!for_hash)
        json_object_set_new(d, "replicas", json_integer(s->replicas));
    if (s->limits.cpus > 0 || s->limits.memory || s->limits.pids || s->reservations.cpus > 0 ||
        s->reservations.memory) {
        json_t *r = json_object();
        json_t *lim = resources_json(&s->limits), *res = resources_json(&s->reservations);
        if (json_object_size(lim))
            json_object_set(r, "limits", lim);
        if (json_object_size(res))
            json_object_set(r, "reservations", res);
        json_decref(lim);
        json_decref(res);
        json_object_set_new(d, "resources", r);
    }
    if (s->restart_policy.present) {
        json_t *r = json_object();
        set_str(r, "condition", s->restart_policy.condition);
        if (s->restart_policy.delay_ns)
            set_duration(r, "delay", s->restart_policy.delay_ns);
        if (s->restart_policy.max_attempts)
            json_object_set_new(r, "max_attempts", json_integer(s->restart_policy.max_attempts));
        if (s->restart_policy.window_ns)
            set_duration(r, "window", s->restart_policy.window_ns);
        json_object_set_new(d, "restart_policy", r);
    }
    if (s->update_config.present) {
        json_t *u = json_object();
        json_object_set_new(u, "parallelism", json_integer(s->update_config.parallelism));
        if (s->update_config.delay_ns)
            set_duration(u, "delay", s->update_config.delay_ns);
        set_str(u, "failure_action", s->update_config.failure_action);
        if (s->update_config.monitor_ns)
            set_duration(u, "monitor", s->update_config.monitor_ns);
        if (s->update_config.max_failure_ratio > 0)
            json_object_set_new(u, "max_failure_ratio",
                                json_real(s->update_config.max_failure_ratio));
        set_str(u, "order", s->update_config.order);
        json_object_set_new(d, "update_config", u);
    }
    if (json_object_size(d) == 0) {
        json_decref(d);
        return NULL;
    }
    return d;
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
        for (size_t i = 0; s->networks[i]; i++) {
            const struct spec_service_network *a = NULL;
            json_t *e = json_object();
            for (size_t j = 0; j < s->n_network_attachments; j++)
                if (strcmp(s->network_attachments[j].key, s->networks[i]) == 0)
                    a = &s->network_attachments[j];
            if (a) {
                set_strv(e, "aliases", a->aliases);
                set_str(e, "ipv4_address", a->ipv4_address);
                set_str(e, "ipv6_address", a->ipv6_address);
                if (a->priority)
                    json_object_set_new(e, "priority", json_integer(a->priority));
            }
            if (json_object_size(e) == 0) {
                json_decref(e);
                e = json_null();
            }
            json_object_set_new(n, s->networks[i], e);
        }
        json_object_set_new(o, "networks", n);
    }
    set_str(o, "hostname", s->hostname);
    set_str(o, "working_dir", s->working_dir);
    set_str(o, "user", s->user);
    set_str(o, "stop_signal", s->stop_signal);
    set_duration(o, "stop_grace_period", s->stop_grace_period_ns);
    if (s->healthcheck.present)
        json_object_set_new(o, "healthcheck", healthcheck_json(&s->healthcheck));
    {
        json_t *d = deploy_json(s, for_hash);
        if (d)
            json_object_set_new(o, "deploy", d);
    }
    set_str(o, "container_name", s->container_name);
    if (s->n_labels)
        json_object_set_new(o, "labels", kv_json(s->labels, s->n_labels));
    if (!for_hash)
        set_strv(o, "profiles", s->profiles);
    set_strv(o, "cap_add", s->cap_add);
    set_strv(o, "cap_drop", s->cap_drop);
    if (s->privileged)
        json_object_set_new(o, "privileged", json_true());
    if (s->read_only)
        json_object_set_new(o, "read_only", json_true());
    if (s->init >= 0)
        json_object_set_new(o, "init", json_boolean(s->init));
    set_strv(o, "dns", s->dns);
    set_strv(o, "dns_search", s->dns_search);
    set_strv(o, "extra_hosts", s->extra_hosts);
    if (s->n_sysctls)
        json_object_set_new(o, "sysctls", kv_json(s->sysctls, s->n_sysctls));
    set_str(o, "ipc", s->ipc);
    set_str(o, "pid", s->pid);
    if (s->shm_size)
        json_object_set_new(o, "shm_size", json_integer(s->shm_size));
    set_strv(o, "tmpfs", s->tmpfs);
    if (s->n_devices) {
        json_t *a = json_array();
        for (size_t i = 0; i < s->n_devices; i++) {
            json_t *e = json_object();
            set_str(e, "source", s->devices[i].source);
            set_str(e, "target", s->devices[i].target);
            set_str(e, "permissions", s->devices[i].permissions);
            json_array_append_new(a, e);
        }
        json_object_set_new(o, "devices", a);
    }
    set_strv(o, "volumes_from", s->volumes_from);
    if (s->n_secrets)
        json_object_set_new(o, "secrets", file_refs_json(s->secrets, s->n_secrets));
    if (s->n_configs)
        json_object_set_new(o, "configs", file_refs_json(s->configs, s->n_configs));
    if (!for_hash)
        set_str(o, "pull_policy", s->pull_policy);
    set_str(o, "platform", s->platform);
    set_str(o, "domainname", s->domainname);
    set_str(o, "mac_address", s->mac_address);
    if (s->provider)
        json_object_set_new(o, "provider", json_pack("{s:s}", "type", s->provider));
    set_strv(o, "expose", s->expose);
    return o;
}

void spec_service_hash_json(const struct spec_service *service, char out[65], char **ret_json)
{
    json_t *j = spec_service_to_json(service, 1);
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    uint8_t md[STK_SHA256_LEN];

    if (!text)
        abort(); /* jansson only fails on out of memory (STYLE.md rule 15) */
    stk_sha256(text, strlen(text), md);
    stk_sha256_hex(md, out);
    if (ret_json)
        *ret_json = text;
    else
        free(text);
    json_decref(j);
}

void spec_service_hash(const struct spec_service *service, char out[65])
{
    spec_service_hash_json(service, out, NULL);
}

static void file_objects_json(json_t *o, const char *key, const struct spec_file_object *f,
                              size_t n)
{
    json_t *m;

    if (!n)
        return;
    m = json_object();
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_object();
        set_str(e, "name", f[i].name);
        set_str(e, "file", f[i].file);
        set_str(e, "environment", f[i].environment);
        set_str(e, "content", f[i].content);
        if (f[i].external)
            json_object_set_new(e, "external", json_true());
        json_object_set_new(m, f[i].key, e);
    }
    json_object_set_new(o, key, m);
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
            if (p->networks[i].attachable)
                json_object_set_new(e, "attachable", json_true());
            if (p->networks[i].enable_ipv6)
                json_object_set_new(e, "enable_ipv6", json_true());
            if (p->networks[i].n_driver_opts)
                json_object_set_new(
                    e, "driver_opts",
                    kv_json(p->networks[i].driver_opts, p->networks[i].n_driver_opts));
            if (p->networks[i].n_labels)
                json_object_set_new(e, "labels",
                                    kv_json(p->networks[i].labels, p->networks[i].n_labels));
            if (p->networks[i].ipam_driver || p->networks[i].subnets) {
                json_t *ipam = json_object(), *cfg = json_array();
                set_str(ipam, "driver", p->networks[i].ipam_driver);
                for (size_t j = 0; p->networks[i].subnets && p->networks[i].subnets[j]; j++) {
                    json_t *c = json_object();
                    set_str(c, "subnet", p->networks[i].subnets[j]);
                    if (p->networks[i].gateways[j][0])
                        set_str(c, "gateway", p->networks[i].gateways[j]);
                    json_array_append_new(cfg, c);
                }
                if (json_array_size(cfg))
                    json_object_set_new(ipam, "config", cfg);
                else
                    json_decref(cfg);
                json_object_set_new(e, "ipam", ipam);
            }
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
            if (p->volumes[i].n_driver_opts)
                json_object_set_new(
                    e, "driver_opts",
                    kv_json(p->volumes[i].driver_opts, p->volumes[i].n_driver_opts));
            if (p->volumes[i].n_labels)
                json_object_set_new(e, "labels",
                                    kv_json(p->volumes[i].labels, p->volumes[i].n_labels));
            json_object_set_new(n, p->volumes[i].key, e);
        }
        json_object_set_new(o, "volumes", n);
    }
    file_objects_json(o, "secrets", p->secrets, p->n_secrets);
    file_objects_json(o, "configs", p->configs, p->n_configs);
    return o;
}
