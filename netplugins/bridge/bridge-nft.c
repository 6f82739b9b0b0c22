/*
 * bridge-nft.c - the native bridge plug-in's nftables batches (net-bridge.h):
 * one libnftables context per batch (a context is not thread-safe), the
 * errors of the batch in the message.
 */
#include "netplugins/bridge/net-bridge.h"

#include <nftables/libnftables.h>
#include <stdlib.h>
#include <string.h>

int net__bridge_nft_query(const char *cmd, json_t **ret_json, struct stk_err *err)
{
    struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
    json_t *j = NULL;
    int ret = 0;

    if (!nft)
        return stk_err_set(err, STK_ENET, 0, "nftables: no context");
    nft_ctx_output_set_flags(nft, NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE);
    nft_ctx_buffer_output(nft);
    nft_ctx_buffer_error(nft);
    if (nft_run_cmd_from_buffer(nft, cmd) != 0) {
        const char *e = nft_ctx_get_error_buffer(nft);
        size_t n = e ? strcspn(e, "\n") : 0;

        ret = stk_err_set(err, STK_ENOENT, 0, "nftables: %.*s", (int)n, e ? e : "failed");
    } else {
        j = json_loads(nft_ctx_get_output_buffer(nft), 0, NULL);
        if (!j)
            ret = stk_err_set(err, STK_ENET, 0, "nftables: unreadable JSON output");
    }
    nft_ctx_free(nft);
    if (ret == 0)
        *ret_json = j;
    return ret;
}

int net__bridge_nft_run(const char *cmds, struct stk_err *err)
{
    struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
    int r, ret = 0;

    if (!nft)
        return stk_err_set(err, STK_ENET, 0, "nftables: no context");
    nft_ctx_buffer_output(nft);
    nft_ctx_buffer_error(nft);
    r = nft_run_cmd_from_buffer(nft, cmds);
    if (r != 0) {
        const char *e = nft_ctx_get_error_buffer(nft);
        size_t n = e ? strcspn(e, "\n") : 0;

        ret = stk_err_set(err, STK_ENET, 0, "nftables: %.*s", (int)n, e ? e : "failed");
        stk_err_set_detail(err, e);
    }
    nft_ctx_free(nft);
    return ret;
}
