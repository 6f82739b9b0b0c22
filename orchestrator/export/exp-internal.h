/*
 * exp-internal.h - what the export's files share; not part of its API.
 */
#ifndef EXP_INTERNAL_H
#define EXP_INTERNAL_H

#include <jansson.h>

/* A YAML emitter for the documents of one export; free with exp__yaml_free(). */
struct exp__yaml;
struct exp__yaml *exp__yaml_new(void);

/* OBJ (borrowed) as the next YAML document of Y, starting with "---" (a new string). */
char *exp__yaml_doc(struct exp__yaml *y, json_t *obj);

/* Ends the stream and frees Y; NULL-safe. */
void exp__yaml_free(struct exp__yaml *y);

#endif
