/*
 * shared-data.h - the tests that read ../shared/testdata at run time (the
 * Compose JSON schema and compose-go's fixtures, never copied into the
 * repository) need it next to the clone. CI has it; elsewhere they skip with
 * a visible message, and under CI=true its absence is a failure.
 */
#ifndef STK_TEST_SHARED_DATA_H
#define STK_TEST_SHARED_DATA_H

/* Skips the current test (or fails it under CI=true) when STK_SHARED_DIR/testdata is missing. */
void stk_test_require_shared_data(void);

#endif
