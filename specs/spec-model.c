/*
 * spec-model.c - life cycle of the normalised model (struct spec_project).
 */
#include "specs/spec.h"

#include <stdlib.h>
#include <string.h>

#include "common/stk-strv.h"

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
    }
    free(project->networks);
    for (size_t i = 0; i < project->n_volumes; i++) {
        free(project->volumes[i].key);
        free(project->volumes[i].name);
        free(project->volumes[i].driver);
    }
    free(project->volumes);
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
