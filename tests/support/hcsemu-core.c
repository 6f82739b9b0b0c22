/*
 * hcsemu-core.c - the emulated host: life cycle, lock, fault injection, call
 * counters, the layer registry and the storage table (see hcsemu.h).
 */
#include "tests/hcsemu/hcsemu.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/stk-alloc.h"
#include "common/stk-sha256.h"
#include "common/stk-strv.h"

struct emu_layer {
    char *digest;
    char *folder;
    char *os_version;
    int has_uvm;
};

struct emu_scratch {
    char *id;
};

static struct {
    int live;
    char host_build[32];
    char edition[16];
    struct {
        char call[64];
        int32_t hr;
    } inj[32];
    int n_inj;
    struct {
        char call[64];
        int n;
    } calls[96];
    int n_calls;
    struct emu_layer layers[32];
    int n_layers;
    struct emu_scratch scratches[64];
    int n_scratches;
    unsigned guid_counter;
} emu;

static pthread_mutex_t emu_lock = PTHREAD_MUTEX_INITIALIZER;

void hcsemu__hcs_free_all(void);

void hcsemu__lock(void)
{
    pthread_mutex_lock(&emu_lock);
}

void hcsemu__unlock(void)
{
    pthread_mutex_unlock(&emu_lock);
}

void hcsemu_new(const char *host_build, const char *edition)
{
    if (emu.live)
        STK_BUG("hcsemu_new: an emulator is already current");
    memset(&emu, 0, sizeof(emu));
    emu.live = 1;
    snprintf(emu.host_build, sizeof(emu.host_build), "%s", host_build);
    snprintf(emu.edition, sizeof(emu.edition), "%s", edition);
}

void hcsemu_free(void)
{
    hcsemu__hcs_free_all();
    hcsemu__hcn_free_all();
    hcsemu__storage_free_all();
    hcsemu__storage_calls_free_all();
    for (int i = 0; i < emu.n_layers; i++) {
        free(emu.layers[i].digest);
        free(emu.layers[i].folder);
        free(emu.layers[i].os_version);
    }
    memset(&emu, 0, sizeof(emu));
}

const char *hcsemu__host_build(void)
{
    return emu.host_build;
}

void hcsemu_inject(const char *call, int32_t hr)
{
    hcsemu__lock();
    if (emu.n_inj < (int)STK_ARRAY_SIZE(emu.inj)) {
        snprintf(emu.inj[emu.n_inj].call, sizeof(emu.inj[0].call), "%s", call);
        emu.inj[emu.n_inj++].hr = hr;
    }
    hcsemu__unlock();
}

/* Called with the lock held. */
int hcsemu__take_injection(const char *call, int32_t *ret_hr)
{
    for (int i = 0; i < emu.n_inj; i++) {
        if (strcmp(emu.inj[i].call, call) == 0) {
            *ret_hr = emu.inj[i].hr;
            memmove(&emu.inj[i], &emu.inj[i + 1], (size_t)(emu.n_inj - i - 1) * sizeof(emu.inj[0]));
            emu.n_inj--;
            return 1;
        }
    }
    return 0;
}

/* Called with the lock held. */
void hcsemu__count_call(const char *call)
{
    for (int i = 0; i < emu.n_calls; i++) {
        if (strcmp(emu.calls[i].call, call) == 0) {
            emu.calls[i].n++;
            return;
        }
    }
    if (emu.n_calls < (int)STK_ARRAY_SIZE(emu.calls)) {
        snprintf(emu.calls[emu.n_calls].call, sizeof(emu.calls[0].call), "%s", call);
        emu.calls[emu.n_calls++].n = 1;
    }
}

int hcsemu_calls(const char *call)
{
    int n = 0;

    hcsemu__lock();
    for (int i = 0; i < emu.n_calls; i++)
        if (strcmp(emu.calls[i].call, call) == 0)
            n = emu.calls[i].n;
    hcsemu__unlock();
    return n;
}

/* Called with the lock held. */
void hcsemu__guid(char out[37])
{
    snprintf(out, 37, "e0e0e0e0-0000-4000-8000-%012x", ++emu.guid_counter);
}

void hcsemu__name_guid(const char *name, char out[37])
{
    uint8_t md[STK_SHA256_LEN];

    /* A name-based GUID (version 5 layout over SHA-256), standing in for NameToGuid. */
    stk_sha256(name, strlen(name), md);
    md[6] = (uint8_t)((md[6] & 0x0F) | 0x50);
    md[8] = (uint8_t)((md[8] & 0x3F) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", md[0],
             md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10], md[11], md[12],
             md[13], md[14], md[15]);
}

static const char *digest_hex(const char *digest)
{
    const char *colon = strchr(digest, ':');

    return colon ? colon + 1 : digest;
}

void hcsemu_add_layer(const char *digest, const char *os_version, int has_uvm)
{
    struct emu_layer *l;

    hcsemu__lock();
    if (emu.n_layers >= (int)STK_ARRAY_SIZE(emu.layers))
        STK_BUG("hcsemu: too many layers");
    l = &emu.layers[emu.n_layers++];
    l->digest = stk_xstrdup(digest);
    l->folder = stk_xasprintf("C:\\ProgramData\\stack\\windowsfilter\\%.12s", digest_hex(digest));
    l->os_version = stk_xstrdup(os_version);
    l->has_uvm = has_uvm;
    hcsemu__unlock();
}

/* Called with the lock held. Looks a layer up by folder (case-insensitive). */
int hcsemu__layer_lookup(const char *path, char **ret_os_version, int *ret_has_uvm)
{
    for (int i = 0; i < emu.n_layers; i++) {
        if (strcasecmp(emu.layers[i].folder, path) == 0) {
            if (ret_os_version)
                *ret_os_version = stk_xstrdup(emu.layers[i].os_version);
            if (ret_has_uvm)
                *ret_has_uvm = emu.layers[i].has_uvm;
            return 1;
        }
    }
    /* Layers imported through the emulated computestorage.dll (hcsemu-storage.c). */
    return hcsemu__storage_layer_lookup(path, ret_os_version, ret_has_uvm);
}

/* ---- the storage table (issue 5 item 3 stand-in) ------------------------ */

static int storage_prepare(void *self, const char *id, const char *const *layer_digests,
                           enum rt_isolation isolation, struct rt_hcs_storage_result *ret,
                           struct stk_err *err)
{
    struct stk_strv paths = STK_STRV_INIT, ids = STK_STRV_INIT;
    struct rt_hcs_storage_result r = {0};
    size_t n = stk_strv_len((char *const *)layer_digests);
    char guid[37];
    int rc = 0;

    (void)self;
    hcsemu__lock();
    hcsemu__count_call("storage_prepare");
    stk_strv_init(&paths);
    stk_strv_init(&ids);
    if (n == 0) {
        rc = stk_err_set(err, STK_EIMAGE, 0, "container '%s' has no layers", id);
        goto out;
    }
    /* Digests come base first; HCS wants the topmost layer first (reference §1.2). */
    for (size_t k = n; k-- > 0;) {
        struct emu_layer *l = NULL;

        for (int i = 0; i < emu.n_layers; i++)
            if (strcmp(emu.layers[i].digest, layer_digests[k]) == 0)
                l = &emu.layers[i];
        if (!l) {
            rc = stk_err_set(err, STK_EIMAGE, 0, "layer '%s' is not unpacked", layer_digests[k]);
            goto out;
        }
        hcsemu__name_guid(strrchr(l->folder, '\\') + 1, guid);
        stk_strv_push(&paths, l->folder);
        stk_strv_push(&ids, guid);
        if (isolation == RT_ISOLATION_HYPERV && l->has_uvm && !r.uvm_image_path)
            r.uvm_image_path = stk_xasprintf("%s\\UtilityVM", l->folder);
        if (k == 0)
            r.os_version = stk_xstrdup(l->os_version);
    }
    if (isolation == RT_ISOLATION_HYPERV && !r.uvm_image_path) {
        rc = stk_err_set(err, STK_EIMAGE, 0, "no layer of container '%s' has a UtilityVM folder",
                         id);
        goto out;
    }
    if (emu.n_scratches >= (int)STK_ARRAY_SIZE(emu.scratches))
        STK_BUG("hcsemu: too many scratches");
    emu.scratches[emu.n_scratches++].id = stk_xstrdup(id);
    hcsemu__name_guid(id, guid);
    r.scratch_dir = stk_xasprintf("C:\\ProgramData\\stack\\containers\\%s\\scratch", id);
    r.scratch_volume = stk_xasprintf("\\\\?\\Volume{%s}\\", guid);
    r.layer_paths = paths.v;
    r.layer_ids = ids.v;
    paths.v = ids.v = NULL;
    *ret = r;
    memset(&r, 0, sizeof(r));
out:
    hcsemu__unlock();
    stk_strv_release(&paths);
    stk_strv_release(&ids);
    rt_hcs_storage_result_release(&r);
    return rc;
}

static int storage_release(void *self, const char *id, struct stk_err *err)
{
    (void)self;
    (void)err;
    hcsemu__lock();
    hcsemu__count_call("storage_release");
    for (int i = 0; i < emu.n_scratches; i++) {
        if (strcmp(emu.scratches[i].id, id) == 0) {
            free(emu.scratches[i].id);
            emu.scratches[i] = emu.scratches[--emu.n_scratches];
            break;
        }
    }
    hcsemu__unlock();
    return 0;
}

void hcsemu__storage_free_all(void)
{
    for (int i = 0; i < emu.n_scratches; i++)
        free(emu.scratches[i].id);
    emu.n_scratches = 0;
}

int hcsemu_count_scratches(void)
{
    return emu.n_scratches;
}

static const struct rt_hcs_storage_api storage_api = {
    .prepare = storage_prepare,
    .release = storage_release,
    .self = NULL,
};

const struct rt_hcs_storage_api *hcsemu_storage_api(void)
{
    return &storage_api;
}
