"""Check a JSON value against the subset of JSON Schema that the result schema uses.

Why not the ``jsonschema`` package: it is not a dependency of the project, and the schema file
must also serve writers without the package (the board's numpy<2 Python). The subset is small:
``type``, ``const``, ``enum``, ``required``, ``properties``, ``items``, ``minItems``,
``maxItems``, ``minLength``, ``minimum``, ``exclusiveMinimum``, ``allOf`` and ``if``/``then``/
``else``. Any other keyword in a schema is a programming error and raises ``KeyError`` so that
the schema file cannot silently grow rules nobody checks.
"""

from __future__ import annotations

from typing import Any

_KNOWN = {
    "$schema", "$id", "title", "description", "type", "const", "enum", "required", "properties",
    "items", "minItems", "maxItems", "minLength", "minimum", "exclusiveMinimum", "allOf", "if",
    "then", "else",
}


def _is_type(value: Any, name: str) -> bool:
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, dict)
    raise KeyError(f"unsupported JSON type {name!r}")


def errors(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """All violations of ``schema`` by ``value``, each as ``'<json path>: <problem>'``."""
    unknown = set(schema) - _KNOWN
    if unknown:
        raise KeyError(f"schema keyword(s) not supported by the validator: {sorted(unknown)}")
    out: list[str] = []
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, n) for n in names):
            return [f"{path}: expected {' or '.join(names)}, got {_describe(value)}"]
    if "const" in schema and not _same(value, schema["const"]):
        out.append(f"{path}: must be {schema['const']!r}, got {value!r}")
    if "enum" in schema and not any(_same(value, e) for e in schema["enum"]):
        out.append(f"{path}: must be one of {schema['enum']}, got {value!r}")
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        out.append(f"{path}: must not be empty")
    if _is_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{path}: must be >= {schema['minimum']}, got {value}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            out.append(f"{path}: must be > {schema['exclusiveMinimum']}, got {value}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            out.append(f"{path}: needs at least {schema['minItems']} item(s), has {len(value)}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append(f"{path}: allows at most {schema['maxItems']} item(s), has {len(value)}")
        if "items" in schema:
            for i, item in enumerate(value):
                out += errors(item, schema["items"], f"{path}[{i}]")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                out.append(f"{path}: missing key {key!r}")
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                out += errors(value[key], sub, f"{path}.{key}")
    for sub in schema.get("allOf", []):
        out += errors(value, sub, path)
    if "if" in schema:
        branch = "then" if not errors(value, schema["if"], path) else "else"
        if branch in schema:
            out += errors(value, schema[branch], path)
    return out


def _same(a: Any, b: Any) -> bool:
    # JSON: true is not 1
    return type(a) is type(b) and a == b or (
        _is_type(a, "number") and _is_type(b, "number") and a == b)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "object"}.get(type(value), type(value).__name__)
