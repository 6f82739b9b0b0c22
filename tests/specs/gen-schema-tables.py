#!/usr/bin/env python3
"""Generate specs/spec-schema.c from the Compose Specification JSON schema.

Usage: gen-schema-tables.py compose-spec-2026.schema.json > specs/spec-schema.c

The product embeds the key tables as C (it must not read the schema at run
time); tests/specs/test-spec-schema.c re-runs this script against
../shared/testdata/compose-spec-2026.schema.json (compose-go's
schema/compose-spec.json at the commit in ../shared/testdata/compose-go/SOURCE,
JSON Schema draft 2020-12) and checks that the committed file is up to date.
Both "$defs" (2020-12) and "definitions" (draft-07) are read.
"""
import json
import sys

K = {"string": 1, "integer": 2, "number": 2 | 4, "boolean": 8, "null": 16, "array": 32, "object": 64}
ANY = 127

schema = json.load(open(sys.argv[1]))
DEFS = "$defs" if "$defs" in schema else "definitions"
defs = schema[DEFS]


def resolve(node, depth=0):
    if depth > 20:
        raise SystemExit("schema too deep")
    if node is True or node == {}:
        return {"kinds": ANY}
    if "$ref" in node:
        name = node["$ref"].split("/")[-1]
        return resolve(defs[name], depth + 1)
    alts = []
    for comb in ("oneOf", "anyOf"):
        if comb in node:
            alts += [resolve(a, depth + 1) for a in node[comb]]
    if "allOf" in node:
        alts += [resolve(a, depth + 1) for a in node["allOf"]]
    own = None
    t = node.get("type")
    if t is not None or "properties" in node or "items" in node or "patternProperties" in node:
        own = {"kinds": 0}
        types = t if isinstance(t, list) else ([t] if t else [])
        if not types:
            types = ["object"] if ("properties" in node or "patternProperties" in node) else ["array"]
        for ty in types:
            own["kinds"] |= K[ty]
        if "object" in types:
            fields = {}
            for name, sub in node.get("properties", {}).items():
                fields[name] = resolve(sub, depth + 1)
            own["fields"] = fields
            if node.get("required"):
                own["required"] = list(node["required"])
            pats = {p: v for p, v in node.get("patternProperties", {}).items() if p != "^x-"}
            add = node.get("additionalProperties", True)
            values = None
            pattern = None
            for p, v in pats.items():
                values = merge(values, resolve(v, depth + 1)) if values else resolve(v, depth + 1)
                pattern = p
            if isinstance(add, dict):
                r = resolve(add, depth + 1)
                values = merge(values, r) if values else r
            own["closed"] = 1 if (add is False and not pats) else 0
            if add is False and pats:
                own["pattern"] = pattern
            own["values"] = values
        if "array" in types and "items" in node:
            own["items"] = resolve(node["items"], depth + 1)
        if "array" in types and node.get("uniqueItems"):
            own["unique"] = 1
        if "enum" in node and all(isinstance(e, str) for e in node["enum"]):
            own["enum"] = list(node["enum"])
    elif "enum" in node:
        own = {"kinds": 1, "enum": list(node["enum"])}
    if own is None and not alts:
        return {"kinds": ANY}
    res = own
    for a in alts:
        res = merge(res, a) if res else a
    return res


def merge(a, b):
    r = {"kinds": a["kinds"] | b["kinds"]}
    if "fields" in a or "fields" in b:
        f = dict(a.get("fields", {}))
        for k, v in b.get("fields", {}).items():
            f[k] = merge(f[k], v) if k in f else v
        r["fields"] = f
        ca = a.get("closed", 1) if "fields" in a else 1
        cb = b.get("closed", 1) if "fields" in b else 1
        r["closed"] = 1 if (ca and cb) else 0
        va, vb = a.get("values"), b.get("values")
        r["values"] = merge(va, vb) if (va and vb) else (va or vb)
        if "pattern" in a or "pattern" in b:
            r["pattern"] = a.get("pattern") or b.get("pattern")
    if "items" in a or "items" in b:
        ia, ib = a.get("items"), b.get("items")
        r["items"] = merge(ia, ib) if (ia and ib) else (ia or ib)
    if "required" in a or "required" in b:
        ra, rb = a.get("required", []), b.get("required", [])
        r["required"] = ra + [k for k in rb if k not in ra]
    if a.get("unique") or b.get("unique"):
        r["unique"] = 1
    if "enum" in a and "enum" in b:
        r["enum"] = a["enum"] + [e for e in b["enum"] if e not in a["enum"]]
    elif ("enum" in a and b["kinds"] & 1 == 0) or ("enum" in b and a["kinds"] & 1 == 0):
        r["enum"] = a.get("enum") or b.get("enum")
    return r


out = []
ids = {}


def emit(shape):
    key = json.dumps(shape, sort_keys=True)
    if key in ids:
        return ids[key]
    fields = sorted(shape.get("fields", {}).items())
    fids = [(n, emit(s)) for n, s in fields]
    vid = emit(shape["values"]) if shape.get("values") else None
    iid = emit(shape["items"]) if shape.get("items") else None
    n = len(ids)
    ids[key] = n
    if fids:
        out.append("static const struct spec__field fields_%d[] = {\n" % n)
        for name, sid in fids:
            out.append('    {"%s", &shape_%d},\n' % (name, sid))
        out.append("};\n")
    if "enum" in shape:
        out.append("static const char *const enum_%d[] = {%s, NULL};\n"
                   % (n, ", ".join('"%s"' % e for e in shape["enum"])))
    if shape.get("required"):
        out.append("static const char *const required_%d[] = {%s, NULL};\n"
                   % (n, ", ".join('"%s"' % e for e in shape["required"])))
    out.append("static const struct spec__shape shape_%d = {\n" % n)
    out.append("    .kinds = %d,\n" % shape["kinds"])
    if fids:
        out.append("    .fields = fields_%d,\n    .n_fields = %d,\n" % (n, len(fids)))
    out.append("    .closed = %d,\n" % shape.get("closed", 0))
    if shape.get("pattern"):
        out.append('    .key_pattern = "%s",\n' % shape["pattern"].replace("\\", "\\\\"))
    if vid is not None:
        out.append("    .values = &shape_%d,\n" % vid)
    if iid is not None:
        out.append("    .items = &shape_%d,\n" % iid)
    if "enum" in shape:
        out.append("    .enums = enum_%d,\n" % n)
    if shape.get("unique"):
        out.append("    .unique = 1,\n")
    if shape.get("required"):
        out.append("    .required = required_%d,\n" % n)
    out.append("};\n")
    return n


root = resolve({k: v for k, v in schema.items() if k not in ("definitions", "$defs")})
rid = emit(root)
print("/*\n * spec-schema.c - GENERATED by tests/specs/gen-schema-tables.py from the Compose\n"
      " * Specification JSON schema (compose-go schema/compose-spec.json, as in\n"
      " * ../shared/testdata/compose-spec-2026.schema.json). Do not edit by hand; the test\n"
      " * test-spec-schema checks that this file matches the schema.\n */\n")
print('#include "specs/spec-internal.h"\n')
print("".join(out))
print("const struct spec__shape *const spec__schema_root = &shape_%d;" % rid)
