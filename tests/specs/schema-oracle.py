#!/usr/bin/python3
"""Schema oracle for test-spec-schema: validates JSON documents (Compose files
after YAML parsing and interpolation) against the Compose Specification JSON
schema with Debian's python3-jsonschema.

Usage: schema-oracle.py SCHEMA.json FILE.json...
Prints one line per file: "ACCEPT FILE" or "REJECT FILE: message".
"""
import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
# The validator of the draft the schema names: compose-go's 2026 copy says
# "https://json-schema.org/draft/2020-12/schema" ($defs), the older one draft-07.
validator = jsonschema.validators.validator_for(schema)(schema)
for path in sys.argv[2:]:
    doc = json.load(open(path))
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        where = ".".join(str(p) for p in e.path) or "(root)"
        print("REJECT %s: %s: %s" % (path, where, e.message.replace("\n", " ")[:200]))
    else:
        print("ACCEPT %s" % path)
