/* shared-data.c - see shared-data.h. */
#include "shared-data.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void stk_test_require_shared_data(void)
{
    const char *ci = getenv("CI");

    if (access(STK_SHARED_DIR "/testdata", R_OK) == 0)
        return;
    if (ci && strcmp(ci, "true") == 0)
        cr_assert_fail("%s/testdata is missing, and CI must have it", STK_SHARED_DIR);
    fprintf(stderr, "SKIP: %s/testdata is not next to this clone\n", STK_SHARED_DIR);
    cr_skip_test("%s/testdata is not next to this clone", STK_SHARED_DIR);
}
