/*
 * banned.h - functions that must not be used (git banned.h, STYLE.md rule 21).
 * Included by every project source file through the compiler's -include flag.
 */
#ifndef STK_BANNED_H
#define STK_BANNED_H

#define STK_BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) STK_BANNED(strcpy)
#undef strcat
#define strcat(x, y) STK_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) STK_BANNED(strncpy)
#undef strtok
#define strtok(x, y) STK_BANNED(strtok)
#undef sprintf
#define sprintf(...) STK_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) STK_BANNED(vsprintf)

#endif
