/*
 * stk-prelude.h - force-included before every project source file (CMake
 * `-include`). It pulls in the C library headers that declare the banned
 * functions first, so that banned.h can then poison their names, as git's
 * git-compat-util.h does before including banned.h.
 */
#ifndef STK_PRELUDE_H
#define STK_PRELUDE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

#endif
