/* rec-version.c - the product's version string. */
#include "orchestrator/rec/rec.h"

#include "stk-config.h"

const char *rec_version(void)
{
    return STK_VERSION;
}
