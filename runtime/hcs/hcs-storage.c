/*
 * hcs-storage.c - helpers of the layer storage table (struct
 * rt_hcs_storage_api in hcs.h).
 */
#include "runtime/hcs/hcs.h"

#include <stdlib.h>
#include <string.h>

#include "common/stk-strv.h"

void rt_hcs_storage_result_release(struct rt_hcs_storage_result *r)
{
    if (!r)
        return;
    stk_strv_free(r->layer_paths);
    stk_strv_free(r->layer_ids);
    free(r->scratch_dir);
    free(r->scratch_volume);
    free(r->uvm_image_path);
    free(r->os_version);
    memset(r, 0, sizeof(*r));
}
