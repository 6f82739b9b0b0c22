/*
 * test-win-error.c - the HRESULT → STK_E* table (common/win-error.c) with the
 * values of reference/hcs-hns.md §3.3 and §4.4.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "common/win-error.h"

Test(stk_win_error, documented_values)
{
    cr_assert_eq((uint32_t)HCS_E_IMAGE_MISMATCH, 0x80370101u);
    cr_assert_eq((uint32_t)HCS_E_SYSTEM_NOT_FOUND, 0x8037010Eu);
    cr_assert_eq((uint32_t)HCS_E_SYSTEM_ALREADY_STOPPED, 0x80370110u);
    cr_assert_eq((uint32_t)HCS_E_OPERATION_TIMEOUT, 0x80370118u);
    cr_assert_eq((uint32_t)HCS_E_PROCESS_ALREADY_STOPPED, 0x8037011Fu);
    cr_assert_eq((uint32_t)HCN_E_PORT_ALREADY_EXISTS, 0x803B0013u);
    cr_assert_eq((uint32_t)HCN_E_ENDPOINT_NAMESPACE_ALREADY_EXISTS, 0x803B002Bu);
}

Test(stk_win_error, maps_to_stk_codes)
{
    cr_assert_eq(stk_win_err_code(0), 0);
    cr_assert_eq(stk_win_err_code(HCS_E_IMAGE_MISMATCH), STK_EIMAGE);
    cr_assert_eq(stk_win_err_code(STK_HR(0xC0370101u)), STK_EIMAGE, "legacy vmcompute value");
    cr_assert_eq(stk_win_err_code(HCS_E_SYSTEM_NOT_FOUND), STK_ENOENT);
    cr_assert_eq(stk_win_err_code(HCS_E_SYSTEM_ALREADY_EXISTS), STK_EEXIST);
    cr_assert_eq(stk_win_err_code(HCS_E_OPERATION_TIMEOUT), STK_ETIMEDOUT);
    cr_assert_eq(stk_win_err_code(HCS_E_ACCESS_DENIED), STK_EPERM);
    cr_assert_eq(stk_win_err_code(HCS_E_HYPERV_NOT_INSTALLED), STK_EUNAVAIL);
    cr_assert_eq(stk_win_err_code(STK_HR(0x8007007Eu)), STK_EUNAVAIL, "ERROR_MOD_NOT_FOUND");
    cr_assert_eq(stk_win_err_code(HCN_E_PORT_ALREADY_EXISTS), STK_EBUSY);
    cr_assert_eq(stk_win_err_code(STK_HR(0x803B00FEu)), STK_ENET, "unknown HCN code");
    cr_assert_eq(stk_win_err_code(STK_HR(0x8037FFFFu)), STK_ERUNTIME, "unknown HCS code");
    cr_assert_eq(stk_win_err_code(0x490), STK_ENOENT, "raw ERROR_NOT_FOUND");
}

Test(stk_win_error, not_found_and_already_stopped_follow_hcsshim)
{
    cr_assert(stk_win_hresult_is_not_found(STK_HR(0xC037010Eu)));
    cr_assert(stk_win_hresult_is_not_found(0x490));
    cr_assert(stk_win_hresult_is_not_found(HCN_E_ENDPOINT_NOT_FOUND));
    cr_assert_not(stk_win_hresult_is_not_found(HCS_E_IMAGE_MISMATCH));
    cr_assert(stk_win_hresult_is_already_stopped(STK_HR(0xC0370110u)));
    cr_assert(stk_win_hresult_is_already_stopped(HCS_E_SYSTEM_ALREADY_STOPPED));
    cr_assert(stk_win_hresult_is_already_stopped(HCS_E_PROCESS_ALREADY_STOPPED));
    cr_assert_not(stk_win_hresult_is_already_stopped(HCS_E_INVALID_STATE));
}

Test(stk_win_error, message_names_the_code_and_keeps_the_document)
{
    struct stk_err err = STK_ERR_INIT;
    const char *doc = "{\"Error\":-2143354623,\"ErrorMessage\":\"mismatch\"}";

    cr_assert_eq(stk_err_set_hresult(&err, HCS_E_IMAGE_MISMATCH, doc, "create '%s'", "web"),
                 STK_EIMAGE);
    cr_assert_str_eq(err.msg, "create 'web': the container operating system does not match the "
                              "host operating system (HCS_E_IMAGE_MISMATCH, 0x80370101)");
    cr_assert_eq(err.os_code, HCS_E_IMAGE_MISMATCH);
    cr_assert_str_eq(err.detail, doc);
    stk_err_clear(&err);
    cr_assert_eq(stk_err_set_hresult(&err, STK_HR(0x80371234u), NULL, "x"), STK_ERUNTIME);
    cr_assert_str_eq(err.msg, "x: HRESULT 0x80371234");
    cr_assert_null(err.detail);
}
