/*
 * hcs-doc.c - HCS schema 2.1 documents: the process-isolated container, the
 * utility VM and its hosted container, process parameters (reference
 * §1-§3). See hcs.h for the choice of the Hyper-V path.
 */
#include "runtime/hcs/hcs.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"
#include "common/stk-sha256.h"

/* The SDDL hcsshim gives the UVM's HvSocket (reference §2.2); used for containers too. */
#define HCS_HVSOCKET_DEFAULT_SDDL "D:P(A;;FA;;;SY)(A;;FA;;;BA)"
#define HCS_PIPE_PREFIX "\\\\.\\pipe\\"

static json_t *schema_version(void)
{
    return json_pack("{s:i,s:i}", "Major", 2, "Minor", 1);
}

static json_t *top_level(const struct rt_hcs_container_config *cfg)
{
    return json_pack("{s:s,s:o,s:b}", "Owner", cfg->owner ? cfg->owner : RT_HCS_OWNER,
                     "SchemaVersion", schema_version(), "ShouldTerminateOnLastHandleClosed",
                     cfg->terminate_on_last_handle ? 1 : 0);
}

char *rt_hcs_pipe_name(const char *path, struct stk_err *err)
{
    size_t plen = strlen(HCS_PIPE_PREFIX);
    char *name;
    size_t n;

    if (!path || strncasecmp(path, HCS_PIPE_PREFIX, plen) != 0 || !path[plen]) {
        stk_err_set(err, STK_EINVAL, 0, "'%s' is not a named pipe path (\\\\.\\pipe\\NAME)",
                    path ? path : "");
        return NULL;
    }
    name = stk_xstrdup(path + plen);
    n = strlen(name);
    while (n > 0 && (name[n - 1] == '\\' || name[n - 1] == '/'))
        name[--n] = '\0';
    if (n == 0) {
        free(name);
        stk_err_set(err, STK_EINVAL, 0, "'%s' names no pipe", path);
        return NULL;
    }
    return name;
}

/* The host pipe path with a trailing separator trimmed (docker/compose#12778). */
static char *pipe_host_path(const char *path)
{
    char *p = stk_xstrdup(path);
    size_t n = strlen(p);

    while (n > strlen(HCS_PIPE_PREFIX) && (p[n - 1] == '\\' || p[n - 1] == '/'))
        p[--n] = '\0';
    return p;
}

static json_t *registry_changes(void)
{
    /* hcsshim always adds this value so graceful stop honours the caller's timeout (§1.2). */
    return json_pack("{s:[{s:{s:s,s:s},s:s,s:s,s:s}]}", "AddValues", "Key", "Hive", "System",
                     "Name", "ControlSet001\\Control", "Name", "WaitToKillServiceTimeout", "Type",
                     "String", "StringValue", "2147483647");
}

static int storage_layers(const struct rt_hcs_container_config *cfg, int vsmb, json_t **ret,
                          struct stk_err *err)
{
    json_t *layers;

    if (cfg->n_layers == 0)
        return stk_err_set(err, STK_EINVAL, 0, "container '%s' has no image layers",
                           cfg->id ? cfg->id : "");
    layers = json_array();
    for (size_t i = 0; i < cfg->n_layers; i++) {
        char *path = vsmb ? stk_xasprintf("%s\\l%zu", RT_HCS_VSMB_ROOT, i)
                          : stk_xstrdup(cfg->layers[i].path);

        if (!cfg->layers[i].id || !cfg->layers[i].path) {
            free(path);
            json_decref(layers);
            return stk_err_set(err, STK_EINVAL, 0, "layer %zu has no id or path", i);
        }
        json_array_append_new(layers,
                              json_pack("{s:s,s:s}", "Id", cfg->layers[i].id, "Path", path));
        free(path);
    }
    *ret = layers;
    return 0;
}

static int mapped_directories(const struct rt_hcs_container_config *cfg, int vsmb, json_t **ret,
                              struct stk_err *err)
{
    json_t *dirs = json_array();

    for (size_t i = 0; i < cfg->n_mounts; i++) {
        const struct rt_mount *m = &cfg->mounts[i];
        char *host;

        if (!m->type || strcmp(m->type, "bind") != 0) {
            json_decref(dirs);
            return stk_err_set(err, STK_EINVAL, 0,
                               "mount of '%s': only bind mounts can be mapped into a Windows "
                               "container, not '%s'",
                               m->target ? m->target : "", m->type ? m->type : "");
        }
        if (!m->source || !m->target) {
            json_decref(dirs);
            return stk_err_set(err, STK_EINVAL, 0, "bind mount %zu lacks a source or target", i);
        }
        host = vsmb ? stk_xasprintf("%s\\m%zu", RT_HCS_VSMB_ROOT, i) : stk_xstrdup(m->source);
        json_array_append_new(dirs, json_pack("{s:s,s:s,s:b}", "HostPath", host, "ContainerPath",
                                              m->target, "ReadOnly", m->read_only ? 1 : 0));
        free(host);
    }
    *ret = dirs;
    return 0;
}

static int mapped_pipes(const struct rt_hcs_container_config *cfg, int vsmb, json_t **ret,
                        struct stk_err *err)
{
    json_t *pipes = json_array();

    for (size_t i = 0; i < cfg->n_pipes; i++) {
        char *cname = rt_hcs_pipe_name(cfg->pipes[i].container_path, err);
        char *hname = cname ? rt_hcs_pipe_name(cfg->pipes[i].host_path, err) : NULL;
        char *host;

        if (!cname || !hname) {
            free(cname);
            json_decref(pipes);
            return err ? err->code : STK_EINVAL;
        }
        /* A Xenon container reaches host pipes through the UVM's IPC$ share (§2.4). */
        host = vsmb ? stk_xasprintf("%s\\IPC$\\%s", RT_HCS_VSMB_ROOT, hname)
                    : pipe_host_path(cfg->pipes[i].host_path);
        json_array_append_new(pipes, json_pack("{s:s,s:s,s:s}", "ContainerPipeName", cname,
                                               "HostPath", host, "HostPathType",
                                               vsmb ? "VirtualSmbPipeName" : "AbsolutePath"));
        free(host);
        free(cname);
        free(hname);
    }
    *ret = pipes;
    return 0;
}

static int assigned_devices(const struct rt_hcs_container_config *cfg, json_t **ret,
                            struct stk_err *err)
{
    static const char *const class_prefixes[] = {"class/", "class://", "vpci-class-guid://"};
    static const char loc_prefix[] = "vpci-location-path://";
    json_t *devs = json_array();

    for (size_t i = 0; i < cfg->n_devices; i++) {
        const char *d = cfg->devices[i].host_path ? cfg->devices[i].host_path : "";
        const char *guid = NULL;

        for (size_t k = 0; k < STK_ARRAY_SIZE(class_prefixes) && !guid; k++)
            if (strncasecmp(d, class_prefixes[k], strlen(class_prefixes[k])) == 0)
                guid = d + strlen(class_prefixes[k]);
        if (guid && *guid) {
            /* OCI IDType "class"/"vpci-class-guid" → InterfaceClassGuid, Type empty (§1.2). */
            json_array_append_new(devs, json_pack("{s:s}", "InterfaceClassGuid", guid));
        } else if (strncasecmp(d, loc_prefix, strlen(loc_prefix)) == 0 && d[strlen(loc_prefix)]) {
            json_array_append_new(devs, json_pack("{s:s,s:s}", "Type", "DeviceInstance",
                                                  "LocationPath", d + strlen(loc_prefix)));
        } else {
            json_decref(devs);
            return stk_err_set(err, STK_EINVAL, 0,
                               "device '%s': expected class/GUID, class://GUID, "
                               "vpci-class-guid://GUID or vpci-location-path://PATH",
                               d);
        }
    }
    *ret = devs;
    return 0;
}

static json_t *networking(const struct rt_hcs_container_config *cfg)
{
    json_t *net =
        json_pack("{s:s,s:b}", "Namespace", cfg->namespace_id, "AllowUnqualifiedDnsQuery", 1);

    if (cfg->dns_search && cfg->dns_search[0]) {
        /* DnsSearchList is one comma-separated string (§1.2). */
        struct stk_buf b = STK_BUF_INIT;

        for (size_t i = 0; cfg->dns_search[i]; i++)
            stk_buf_printf(&b, "%s%s", i ? "," : "", cfg->dns_search[i]);
        json_object_set_new(net, "DnsSearchList", json_string(b.buf));
        stk_buf_release(&b);
    }
    return net;
}

/* Processor.Maximum for a silo: share of cycles per 10,000 over the host's CPUs (moby). */
static int64_t processor_maximum(int64_t nano_cpus, unsigned cpus)
{
    int64_t max;

    if (cpus == 0)
        cpus = 1;
    max = nano_cpus * 10000 / (int64_t)cpus / 1000000000;
    if (max < 1)
        max = 1;
    if (max > 10000)
        max = 10000;
    return max;
}

static int container_body(const struct rt_hcs_container_config *cfg, int hosted, json_t **ret,
                          struct stk_err *err)
{
    json_t *c = json_object();
    json_t *layers = NULL, *dirs = NULL, *pipes = NULL, *devs = NULL;
    int r;

    if (cfg->hostname && *cfg->hostname)
        json_object_set_new(c, "GuestOs", json_pack("{s:s}", "HostName", cfg->hostname));

    r = storage_layers(cfg, hosted, &layers, err);
    if (r < 0)
        goto out;
    if (hosted) {
        /* The guest mount point of the container scratch at SCSI 0:1 (project convention). */
        char *p = stk_xasprintf("C:\\c\\%s", cfg->id);

        json_object_set_new(c, "Storage", json_pack("{s:o,s:s}", "Layers", layers, "Path", p));
        free(p);
    } else {
        if (!cfg->scratch_volume || strncmp(cfg->scratch_volume, "\\\\?\\Volume{", 11) != 0) {
            json_decref(layers);
            r = stk_err_set(err, STK_EINVAL, 0,
                            "container '%s': scratch '%s' is not a volume GUID path",
                            cfg->id ? cfg->id : "", cfg->scratch_volume ? cfg->scratch_volume : "");
            goto out;
        }
        json_object_set_new(c, "Storage",
                            json_pack("{s:o,s:s}", "Layers", layers, "Path", cfg->scratch_volume));
    }

    r = mapped_directories(cfg, hosted, &dirs, err);
    if (r < 0)
        goto out;
    if (json_array_size(dirs))
        json_object_set(c, "MappedDirectories", dirs);
    r = mapped_pipes(cfg, hosted, &pipes, err);
    if (r < 0)
        goto out;
    if (json_array_size(pipes))
        json_object_set(c, "MappedPipes", pipes);
    if (cfg->namespace_id && *cfg->namespace_id)
        json_object_set_new(c, "Networking", networking(cfg));

    if (!hosted) {
        if (cfg->nano_cpus > 0)
            json_object_set_new(
                c, "Processor",
                json_pack("{s:I}", "Maximum",
                          (json_int_t)processor_maximum(cfg->nano_cpus, cfg->host_cpus)));
        if (cfg->memory_bytes > 0) {
            int64_t mb = cfg->memory_bytes / (1024 * 1024);

            json_object_set_new(c, "Memory",
                                json_pack("{s:I}", "SizeInMB", (json_int_t)(mb < 1 ? 1 : mb)));
        }
        json_object_set_new(c, "HvSocket",
                            json_pack("{s:{s:s}}", "Config", "DefaultBindSecurityDescriptor",
                                      HCS_HVSOCKET_DEFAULT_SDDL));
        r = assigned_devices(cfg, &devs, err);
        if (r < 0)
            goto out;
        if (json_array_size(devs))
            json_object_set(c, "AssignedDevices", devs);
    } else if (cfg->n_devices) {
        r = stk_err_set(err, STK_EINVAL, 0,
                        "device assignment is not supported for Hyper-V isolated containers");
        goto out;
    }
    json_object_set_new(c, "RegistryChanges", registry_changes());
    *ret = c;
    c = NULL;
    r = 0;
out:
    json_decref(dirs);
    json_decref(pipes);
    json_decref(devs);
    json_decref(c);
    return r;
}

int rt_hcs_doc_container(const struct rt_hcs_container_config *cfg, json_t **ret_doc,
                         struct stk_err *err)
{
    json_t *doc, *c = NULL;
    int r;

    if (!cfg || !ret_doc)
        return stk_err_set(err, STK_EINVAL, 0, "no container configuration");
    if (cfg->isolation != RT_ISOLATION_PROCESS)
        return stk_err_set(err, STK_EINVAL, 0, "container '%s' is not process-isolated",
                           cfg->id ? cfg->id : "");
    r = container_body(cfg, 0, &c, err);
    if (r < 0)
        return r;
    doc = top_level(cfg);
    json_object_set_new(doc, "Container", c);
    *ret_doc = doc;
    return 0;
}

char *rt_hcs_uvm_id(const char *id)
{
    return stk_xasprintf("%s@vm", id);
}

uint64_t rt_hcs_uvm_memory_mb(int64_t memory_bytes)
{
    uint64_t mb;

    if (memory_bytes <= 0)
        return RT_HCS_UVM_DEFAULT_MEMORY_MB;
    mb = ((uint64_t)memory_bytes + 1024 * 1024 - 1) / (1024 * 1024);
    if (mb & 1)
        mb++; /* sizes are rounded up to an even number of MB (reference errata) */
    return mb;
}

static json_t *vsmb_share(const char *name, const char *path, int read_only)
{
    return json_pack("{s:s,s:s,s:{s:b,s:b,s:b,s:b}}", "Name", name, "Path", path, "Options",
                     "ReadOnly", read_only, "ShareRead", 1, "CacheIo", read_only,
                     "TakeBackupPrivilege", read_only);
}

int rt_hcs_doc_uvm(const struct rt_hcs_container_config *cfg, json_t **ret_doc, struct stk_err *err)
{
    json_t *doc, *shares, *vm;
    char *files, *uvm_scratch, *ctr_scratch;
    int64_t count = RT_HCS_UVM_DEFAULT_PROCESSORS;

    if (!cfg || !ret_doc)
        return stk_err_set(err, STK_EINVAL, 0, "no container configuration");
    if (!cfg->uvm_image_path || !cfg->scratch_dir)
        return stk_err_set(err, STK_EINVAL, 0,
                           "container '%s': a utility VM needs the image's UtilityVM folder and "
                           "a scratch folder",
                           cfg->id ? cfg->id : "");
    if (cfg->n_devices)
        return stk_err_set(err, STK_EINVAL, 0,
                           "device assignment is not supported for Hyper-V isolated containers");
    if (cfg->n_layers == 0)
        return stk_err_set(err, STK_EINVAL, 0, "container '%s' has no image layers",
                           cfg->id ? cfg->id : "");
    for (size_t i = 0; i < cfg->n_mounts; i++)
        if (!cfg->mounts[i].type || strcmp(cfg->mounts[i].type, "bind") != 0 ||
            !cfg->mounts[i].source)
            return stk_err_set(err, STK_EINVAL, 0,
                               "mount %zu: only bind mounts can be mapped into a Windows "
                               "container",
                               i);
    if (cfg->nano_cpus > 0)
        count = (cfg->nano_cpus + 999999999) / 1000000000;

    files = stk_xasprintf("%s\\Files", cfg->uvm_image_path);
    uvm_scratch = stk_xasprintf("%s\\vm\\sandbox.vhdx", cfg->scratch_dir);
    ctr_scratch = stk_xasprintf("%s\\sandbox.vhdx", cfg->scratch_dir);

    shares = json_array();
    json_array_append_new(shares, vsmb_share("os", files, 1));
    for (size_t i = 0; i < cfg->n_layers; i++) {
        char *name = stk_xasprintf("l%zu", i);

        json_array_append_new(shares, vsmb_share(name, cfg->layers[i].path, 1));
        free(name);
    }
    for (size_t i = 0; i < cfg->n_mounts; i++) {
        char *name = stk_xasprintf("m%zu", i);

        json_array_append_new(shares,
                              vsmb_share(name, cfg->mounts[i].source, cfg->mounts[i].read_only));
        free(name);
    }

    vm = json_pack(
        "{s:b,s:{s:{s:{s:s,s:s}}},s:{s:{s:I,s:b,s:b},s:{s:I}},"
        "s:{s:{s:{s:{s:{s:s,s:s},s:{s:s,s:s}}}},s:{s:i,s:o},s:{s:{s:s}}},s:{}}",
        "StopOnReset", 1, "Chipset", "Uefi", "BootThis", "DeviceType", "VmbFs", "DevicePath",
        "\\EFI\\Microsoft\\Boot\\bootmgfw.efi", "ComputeTopology", "Memory", "SizeInMB",
        (json_int_t)rt_hcs_uvm_memory_mb(cfg->memory_bytes), "AllowOvercommit", 1, "EnableHotHint",
        1, "Processor", "Count", (json_int_t)count, "Devices", "Scsi", "0", "Attachments", "0",
        "Type", "VirtualDisk", "Path", uvm_scratch, "1", "Type", "VirtualDisk", "Path", ctr_scratch,
        "VirtualSmb", "DirectFileMappingInMB", 1024, "Shares", shares, "HvSocket", "HvSocketConfig",
        "DefaultBindSecurityDescriptor", HCS_HVSOCKET_DEFAULT_SDDL, "GuestConnection");
    free(files);
    free(uvm_scratch);
    free(ctr_scratch);
    if (!vm)
        STK_BUG("utility VM document template");
    doc = top_level(cfg);
    json_object_set_new(doc, "VirtualMachine", vm);
    *ret_doc = doc;
    return 0;
}

int rt_hcs_doc_hosted_container(const struct rt_hcs_container_config *cfg, json_t **ret_doc,
                                struct stk_err *err)
{
    json_t *doc, *c = NULL;
    char *uvm;
    int r;

    if (!cfg || !ret_doc || !cfg->id)
        return stk_err_set(err, STK_EINVAL, 0, "no container configuration");
    if (cfg->isolation != RT_ISOLATION_HYPERV)
        return stk_err_set(err, STK_EINVAL, 0, "container '%s' is not Hyper-V isolated", cfg->id);
    r = container_body(cfg, 1, &c, err);
    if (r < 0)
        return r;
    uvm = rt_hcs_uvm_id(cfg->id);
    doc = top_level(cfg);
    json_object_set_new(doc, "HostingSystemId", json_string(uvm));
    json_object_set_new(doc, "HostedSystem",
                        json_pack("{s:o,s:o}", "SchemaVersion", schema_version(), "Container", c));
    free(uvm);
    *ret_doc = doc;
    return 0;
}

json_t *rt_hcs_doc_uvm_pipe_add(const char *host_path)
{
    char *p = pipe_host_path(host_path);
    char *rp = stk_xasprintf("VirtualMachine/Devices/MappedPipes/%s", p);
    json_t *doc = json_pack("{s:s,s:s}", "ResourcePath", rp, "RequestType", "Add");

    free(rp);
    free(p);
    return doc;
}

json_t *rt_hcs_doc_uvm_nic_add(const char *nic_id, const char *endpoint_id, const char *mac)
{
    char *rp = stk_xasprintf("VirtualMachine/Devices/NetworkAdapters/%s", nic_id);
    json_t *doc =
        json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:{s:s,s:s}}}", "ResourcePath", rp,
                  "RequestType", "Add", "Settings", "EndpointId", endpoint_id, "MacAddress",
                  mac ? mac : "", "GuestRequest", "ResourceType", "Network", "RequestType", "Add",
                  "Settings", "AdapterId", nic_id, "RequestType", "Add");

    free(rp);
    return doc;
}

void rt_hcs_name_guid(const char *name, char out[37])
{
    uint8_t md[STK_SHA256_LEN];

    stk_sha256(name, strlen(name), md);
    md[6] = (uint8_t)((md[6] & 0x0F) | 0x50);
    md[8] = (uint8_t)((md[8] & 0x3F) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", md[0],
             md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10], md[11], md[12],
             md[13], md[14], md[15]);
}

static int env_add(json_t *env, const char *const *list, struct stk_err *err)
{
    for (size_t i = 0; list && list[i]; i++) {
        const char *eq = strchr(list[i], '=');
        char *key;

        if (!eq || eq == list[i])
            return stk_err_set(err, STK_EINVAL, 0, "environment entry '%s' is not KEY=VALUE",
                               list[i]);
        key = stk_xstrndup(list[i], (size_t)(eq - list[i]));
        if (eq[1])
            json_object_set_new(env, key, json_string(eq + 1));
        else
            json_object_del(env, key); /* hcsshim drops variables with empty values (errata) */
        free(key);
    }
    return 0;
}

int rt_hcs_doc_process(const struct rt_hcs_process_config *cfg, json_t **ret_doc,
                       struct stk_err *err)
{
    json_t *doc, *env;
    char *cmdline;
    int r;

    if (!cfg || !ret_doc)
        return stk_err_set(err, STK_EINVAL, 0, "no process configuration");
    if (cfg->command_line)
        cmdline = stk_xstrdup(cfg->command_line);
    else if (cfg->args && cfg->args[0])
        cmdline = rt_hcs_cmdline_quote(cfg->args);
    else
        return stk_err_set(err, STK_EINVAL, 0, "process has no command");

    env = json_object();
    r = env_add(env, cfg->env, err);
    if (r == 0)
        r = env_add(env, cfg->env_extra, err);
    if (r < 0) {
        json_decref(env);
        free(cmdline);
        return r;
    }
    doc = json_pack("{s:s,s:s,s:o,s:b,s:b,s:b,s:b}", "CommandLine", cmdline, "WorkingDirectory",
                    cfg->cwd && *cfg->cwd ? cfg->cwd : "C:\\", "Environment", env, "EmulateConsole",
                    cfg->terminal ? 1 : 0, "CreateStdInPipe", cfg->stdin_pipe ? 1 : 0,
                    "CreateStdOutPipe", cfg->stdout_pipe ? 1 : 0, "CreateStdErrPipe",
                    (cfg->stderr_pipe && !cfg->terminal) ? 1 : 0);
    free(cmdline);
    if (cfg->user && *cfg->user)
        json_object_set_new(doc, "User", json_string(cfg->user));
    if (cfg->terminal) {
        /* ConsoleSize is an array [height, width] (§3.1 step 5). */
        json_object_set_new(doc, "ConsoleSize",
                            json_pack("[i,i]", cfg->console_height ? cfg->console_height : 25,
                                      cfg->console_width ? cfg->console_width : 80));
    }
    *ret_doc = doc;
    return 0;
}
