"""Check a JSON value against a JSON Schema with ``jsonschema``; each problem as one line.

The schema file (``result_schema.json``) also serves writers that cannot import this package
(the board's script): they follow the file, and this module checks what they wrote. Problems
are phrased for people (``$.batch: must be >= 1, got 0``) rather than in jsonschema's words.
"""

from __future__ import annotations

from typing import Any

import jsonschema

_JSON_TYPES = {type(None): "null", bool: "boolean", int: "integer", float: "number",
               str: "string", list: "array", dict: "object"}


def _describe(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _phrase(e: jsonschema.ValidationError) -> str:
    kind, rule, value = e.validator, e.validator_value, e.instance
    if kind == "required":
        missing = [k for k in rule if k not in value]
        return "; ".join(f"missing key {k!r}" for k in missing) or e.message
    if kind == "type":
        names = rule if isinstance(rule, list) else [rule]
        return f"expected {' or '.join(names)}, got {_describe(value)}"
    if kind == "const":
        return f"must be {rule!r}, got {value!r}"
    if kind == "enum":
        return f"must be one of {rule}, got {value!r}"
    if kind == "minimum":
        return f"must be >= {rule}, got {value}"
    if kind == "exclusiveMinimum":
        return f"must be > {rule}, got {value}"
    if kind == "minItems":
        return f"needs at least {rule} item(s), has {len(value)}"
    if kind == "maxItems":
        return f"allows at most {rule} item(s), has {len(value)}"
    if kind == "minLength":
        return "must not be empty"
    return e.message


def errors(value: Any, schema: dict[str, Any]) -> list[str]:
    """All violations of ``schema`` by ``value``, each as ``'<json path>: <problem>'``, in the
    schema's order. A schema that is itself invalid raises ``jsonschema.SchemaError``."""
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return [f"{e.json_path}: {_phrase(e)}" for e in cls(schema).iter_errors(value)]
