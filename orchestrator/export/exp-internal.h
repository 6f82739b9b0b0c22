/*
 * exp-internal.h - what the export's files share; not part of its API.
 */
#ifndef EXP_INTERNAL_H
#define EXP_INTERNAL_H

#include <jansson.h>

/* OBJ (borrowed) as one YAML document starting with "---" (a new string). */
char *exp__yaml_doc(json_t *obj);

#endif
