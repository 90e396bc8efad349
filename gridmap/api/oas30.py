"""Turn FastAPI's OpenAPI 3.1 document into OpenAPI 3.0 for ``/api``.

The OGC ``oas30`` conformance class asks for an OpenAPI 3.0 definition, and
some clients (older QGIS, GDAL) read 3.0 best. FastAPI emits 3.1 (JSON Schema
2020-12); the differences that occur in this API are rewritten:

* ``anyOf: [X, {type: null}]`` and ``type: [X, "null"]`` -> ``X`` + ``nullable``;
* ``examples: [...]`` inside a schema -> ``example``;
* numeric ``exclusiveMinimum``/``exclusiveMaximum`` -> boolean form;
* ``const`` -> a one-value ``enum``.
"""

from __future__ import annotations

import copy

SCHEMA_KEYS = {"schema", "items", "additionalProperties", "not"}
SCHEMA_LIST_KEYS = {"anyOf", "oneOf", "allOf"}


def _schema(s):
    if not isinstance(s, dict):
        return s
    s = dict(s)
    for key in ("anyOf", "oneOf"):
        if key in s:
            opts = [o for o in s[key] if not (isinstance(o, dict) and o.get("type") == "null")]
            if len(opts) < len(s[key]):
                s["nullable"] = True
                if len(opts) == 1:
                    del s[key]
                    only = _schema(opts[0])
                    if "$ref" in only:
                        s["allOf"] = [only]
                    else:
                        for k, v in only.items():
                            s.setdefault(k, v)
                else:
                    s[key] = opts
    if isinstance(s.get("type"), list):
        types = [t for t in s["type"] if t != "null"]
        if len(types) < len(s["type"]):
            s["nullable"] = True
        s["type"] = types[0] if len(types) == 1 else "string"
    if "examples" in s and isinstance(s["examples"], list):
        ex = s.pop("examples")
        if ex:
            s.setdefault("example", ex[0])
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if bound in s and not isinstance(s[bound], bool):
            s[plain] = s.pop(bound)
            s[bound] = True
    if "const" in s:
        s["enum"] = [s.pop("const")]
    for k in SCHEMA_KEYS:
        if k in s and isinstance(s[k], dict):
            s[k] = _schema(s[k])
    for k in SCHEMA_LIST_KEYS:
        if k in s:
            s[k] = [_schema(o) for o in s[k]]
    if "properties" in s:
        s["properties"] = {n: _schema(p) for n, p in s["properties"].items()}
    if "prefixItems" in s:
        s.pop("prefixItems")
        s.setdefault("items", {})
    return s


def _walk(node):
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "schema":
                out[k] = _schema(v)
            elif k == "parameters" and isinstance(v, list):
                out[k] = [_walk(p) for p in v]
            else:
                out[k] = _walk(v)
        # parameter-level 'examples' must be a map of Example objects in 3.0
        if "in" in out and isinstance(out.get("examples"), list):
            ex = out.pop("examples")
            if ex:
                out.setdefault("example", ex[0])
        return out
    if isinstance(node, list):
        return [_walk(v) for v in node]
    return node


def to_openapi30(doc: dict) -> dict:
    """Return a copy of a FastAPI OpenAPI 3.1 document rewritten as OpenAPI 3.0.3."""
    out = _walk(copy.deepcopy(doc))
    out["openapi"] = "3.0.3"
    schemas = out.get("components", {}).get("schemas")
    if schemas:
        out["components"]["schemas"] = {n: _schema(s) for n, s in schemas.items()}
    return out
