/*
 * fuzz-wclayer-pax.c - libFuzzer target for the Windows layer metadata
 * walker (STYLE.md rule 36; runtime/hcs/hcs-wclayer.h): the input is a layer
 * blob (tar, possibly compressed) scanned with rt_hcs_pax_scan_memory();
 * every entry's backup stream is then built and, when built, checked with
 * rt_hcs_backup_check(), which must accept what the builders produce.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined (cmake -DSTK_FUZZ=ON).
 * Seeds: any Windows layer tar, e.g. the one test-rt-hcs-wclayer.c crafts.
 */
#include <stdint.h>
#include <stdlib.h>

#include "runtime/hcs/hcs-wclayer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rt_hcs_pax_index idx = {0};
    struct stk_err err = STK_ERR_INIT;

    if (rt_hcs_pax_scan_memory(data, size, &idx, &err) < 0)
        return 0;
    for (size_t i = 0; i < idx.n; i++) {
        struct rt_hcs_backup b = {0};
        struct stk_err e2 = STK_ERR_INIT;

        if (rt_hcs_backup_build(&idx.entries[i], &b, &e2) < 0)
            continue;
        if (b.len && rt_hcs_backup_check(b.stream, b.len, NULL) < 0)
            abort(); /* a stream we built that the checker rejects */
        rt_hcs_backup_release(&b);
    }
    rt_hcs_pax_index_release(&idx);
    return 0;
}
