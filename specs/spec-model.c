/*
 * spec-model.c - life cycle of the normalised model (struct spec_project).
 */
#include "specs/spec.h"

#include <stdlib.h>
#include <string.h>

#include "common/stk-strv.h"
#include "specs/spec-internal.h"

void spec__env_free(struct spec_env *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].key);
        free(e[i].value);
    }
    free(e);
}

static void file_refs_free(struct spec_file_ref *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].source);
        free(r[i].target);
        free(r[i].uid);
        free(r[i].gid);
    }
    free(r);
}

static void service_release(struct spec_service *s)
{
    free(s->name);
    free(s->image);
    stk_strv_free(s->command);
    stk_strv_free(s->entrypoint);
    for (size_t i = 0; i < s->n_environment; i++) {
        free(s->environment[i].key);
        free(s->environment[i].value);
    }
    free(s->environment);
    for (size_t i = 0; i < s->n_ports; i++) {
        free(s->ports[i].host_ip);
        free(s->ports[i].protocol);
        free(s->ports[i].mode);
        free(s->ports[i].name);
        free(s->ports[i].app_protocol);
    }
    free(s->ports);
    for (size_t i = 0; i < s->n_volumes; i++) {
        free(s->volumes[i].type);
        free(s->volumes[i].source);
        free(s->volumes[i].target);
    }
    free(s->volumes);
    for (size_t i = 0; i < s->n_depends_on; i++) {
        free(s->depends_on[i].service);
        free(s->depends_on[i].condition);
    }
    free(s->depends_on);
    free(s->isolation);
    free(s->restart);
    free(s->network_mode);
    stk_strv_free(s->networks);
    free(s->hostname);
    free(s->working_dir);
    free(s->user);
    free(s->stop_signal);
    stk_strv_free(s->healthcheck.test);
    free(s->container_name);
    spec__env_free(s->labels, s->n_labels);
    stk_strv_free(s->profiles);
    stk_strv_free(s->cap_add);
    stk_strv_free(s->cap_drop);
    stk_strv_free(s->dns);
    stk_strv_free(s->dns_search);
    stk_strv_free(s->extra_hosts);
    spec__env_free(s->sysctls, s->n_sysctls);
    free(s->ipc);
    free(s->pid);
    stk_strv_free(s->tmpfs);
    for (size_t i = 0; i < s->n_devices; i++) {
        free(s->devices[i].source);
        free(s->devices[i].target);
        free(s->devices[i].permissions);
    }
    free(s->devices);
    stk_strv_free(s->volumes_from);
    file_refs_free(s->secrets, s->n_secrets);
    file_refs_free(s->configs, s->n_configs);
    for (size_t i = 0; i < s->n_network_attachments; i++) {
        free(s->network_attachments[i].key);
        stk_strv_free(s->network_attachments[i].aliases);
        free(s->network_attachments[i].ipv4_address);
        free(s->network_attachments[i].ipv6_address);
    }
    free(s->network_attachments);
    free(s->restart_policy.condition);
    free(s->update_config.failure_action);
    free(s->update_config.order);
    free(s->pull_policy);
    free(s->platform);
    free(s->domainname);
    free(s->mac_address);
    free(s->provider);
    stk_strv_free(s->expose);
}

static void file_objects_free(struct spec_file_object *o, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(o[i].key);
        free(o[i].name);
        free(o[i].file);
        free(o[i].environment);
        free(o[i].content);
    }
    free(o);
}

void spec__service_release(struct spec_service *s)
{
    service_release(s);
}

void spec_project_free(struct spec_project *project)
{
    if (!project)
        return;
    for (size_t i = 0; i < project->n_services; i++)
        service_release(&project->services[i]);
    free(project->services);
    for (size_t i = 0; i < project->n_networks; i++) {
        free(project->networks[i].key);
        free(project->networks[i].name);
        free(project->networks[i].driver);
        free(project->networks[i].ipam_driver);
        stk_strv_free(project->networks[i].subnets);
        stk_strv_free(project->networks[i].gateways);
        spec__env_free(project->networks[i].driver_opts, project->networks[i].n_driver_opts);
        spec__env_free(project->networks[i].labels, project->networks[i].n_labels);
    }
    free(project->networks);
    for (size_t i = 0; i < project->n_volumes; i++) {
        free(project->volumes[i].key);
        free(project->volumes[i].name);
        free(project->volumes[i].driver);
        spec__env_free(project->volumes[i].driver_opts, project->volumes[i].n_driver_opts);
        spec__env_free(project->volumes[i].labels, project->volumes[i].n_labels);
    }
    free(project->volumes);
    file_objects_free(project->secrets, project->n_secrets);
    file_objects_free(project->configs, project->n_configs);
    stk_strv_free(project->active_profiles);
    for (size_t i = 0; i < project->n_disabled_services; i++)
        service_release(&project->disabled_services[i]);
    free(project->disabled_services);
    free(project->name);
    free(project->working_dir);
    stk_strv_free(project->files);
    free(project);
}

const struct spec_service *spec_project_service(const struct spec_project *project,
                                                const char *name)
{
    for (size_t i = 0; i < project->n_services; i++)
        if (strcmp(project->services[i].name, name) == 0)
            return &project->services[i];
    return NULL;
}
