"""A JSON Schema turned once into plain Python checks that say whether a file is valid, fast.

NOTE [quick check]
jsonschema makes a validator object for every value it descends into: about 2.4 ms per node of a
pass (136 descents), 25 s to load a 10,000-node pass. Loading now runs a check compiled once from
the same schema, which answers only "valid or not"; a file it accepts is valid, and a file it does
not accept goes to jsonschema as before, which finds and words the error (so every message is
jsonschema's). The check must never accept what jsonschema rejects, so it is deliberately narrow:
it knows the keywords the schema uses, read as jsonschema's Draft202012Validator reads them
(``minimum`` and ``pattern`` only on numbers and strings, ``const``/``enum`` compared by type and
value, ``$ref`` beside other keywords), it accepts only values whose type is exactly one of JSON's
(dict, list, str, int, float, bool, None: a subclass, a tuple, or an ``integer`` written 2.0 go to
jsonschema), and a schema with any other keyword compiles to None (every file then goes to
jsonschema: slower, never wrong). tests/model/test_quickcheck.py compares both on mutated files.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]
Spec = tuple[frozenset[type], Check | None]  # a schema as (the exact types it allows, the rest of its check)

JSON_TYPES: frozenset[type] = frozenset({dict, list, str, int, float, bool, type(None)})
_TYPES: dict[str, frozenset[type]] = {
    "object": frozenset({dict}),
    "array": frozenset({list}),
    "string": frozenset({str}),
    "integer": frozenset({int}),  # jsonschema also takes an integral float (2.0): left to it
    "number": frozenset({int, float}),
    "boolean": frozenset({bool}),
    "null": frozenset({type(None)}),
}
_NOTES = frozenset({"title", "description", "$comment", "$schema", "$defs", "examples", "default"})
_OBJECT = ("properties", "additionalProperties", "required")  # checked together, in one loop over an object


class Unknown(Exception):
    """The schema uses something this check does not read as jsonschema does."""


def compile_schema(root: dict[str, Any]) -> Check | None:
    """A check of ``root`` (its ``$ref``s resolved in its ``$defs``), or None when it is not one we can make."""
    try:
        return _whole(_Compiler(root).spec(root))
    except Unknown:
        return None


def _whole(spec: Spec) -> Check:
    """One check of a value against a spec."""
    types, rest = spec
    if rest is None:
        return lambda x: type(x) in types
    return lambda x: type(x) in types and rest(x)


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.defs: dict[str, Any] = root.get("$defs", {})
        self.made: dict[str, Spec | None] = {}  # $ref -> its spec, each made once (None while being made)

    def spec(self, schema: Any) -> Spec:
        if schema is True:
            return (JSON_TYPES, None)
        if not isinstance(schema, dict):
            raise Unknown(repr(schema)[:40])
        types = JSON_TYPES
        checks: list[Check] = []
        for key, value in schema.items():
            if key in _NOTES or key in _OBJECT or key.startswith("x-"):
                continue
            if key == "type":
                types &= _type([value] if isinstance(value, str) else value)
            elif key == "$ref":
                ref_types, ref_rest = self._ref(value)
                types &= ref_types
                if ref_rest is not None:
                    checks.append(ref_rest)
            else:
                checks.append(self._keyword(key, value, schema))
        if any(key in schema for key in _OBJECT):
            props = {k: self.spec(v) for k, v in schema.get("properties", {}).items()}
            rest = self.spec(schema["additionalProperties"]) if "additionalProperties" in schema else (JSON_TYPES, None)
            checks.append(_object(tuple(schema.get("required", ())), props, rest))
        if not checks:
            return (types, None)
        if len(checks) == 1:
            return (types, checks[0])
        return (types, lambda x: all(c(x) for c in checks))

    def _ref(self, ref: str) -> Spec:
        if not ref.startswith("#/$defs/") or ref[8:] not in self.defs:
            raise Unknown(ref)
        if ref not in self.made:
            self.made[ref] = None
            self.made[ref] = self.spec(self.defs[ref[8:]])
        made = self.made[ref]
        if made is None:
            raise Unknown(f"{ref} refers to itself")
        return made

    def _keyword(self, key: str, value: Any, schema: dict[str, Any]) -> Check:
        if key == "items" and "prefixItems" not in schema:
            return _items(_whole(self.spec(value)))
        if key == "maxItems" and type(value) is int:
            return lambda x: (len(x) <= value) if type(x) is list else True
        if key == "minimum" and type(value) in (int, float):
            return lambda x: (not x < value) if type(x) in (int, float) else True
        if key == "pattern":
            search = re.compile(value).search  # jsonschema's re.search(pattern, x), the same compiled pattern
            return lambda x: (search(x) is not None) if type(x) is str else True
        if key in ("const", "enum"):
            return _among([value] if key == "const" else value)
        if key == "anyOf":
            subs = [_whole(self.spec(s)) for s in value]
            return lambda x: any(c(x) for c in subs)
        raise Unknown(key)


def _type(names: list[str]) -> frozenset[type]:
    if not all(n in _TYPES for n in names):
        raise Unknown(f"type {names}")
    return frozenset(t for n in names for t in _TYPES[n])


def _object(required: tuple[str, ...], props: dict[str, Spec], rest: Spec) -> Check:
    def check(x: Any) -> bool:
        if type(x) is not dict:
            return True
        for k in required:
            if k not in x:
                return False
        get = props.get
        for k, v in x.items():
            types, more = get(k, rest)
            if type(v) not in types or (more is not None and not more(v)):
                return False
        return True

    return check


def _items(each: Check) -> Check:
    return lambda x: all(map(each, x)) if type(x) is list else True


def _among(values: list[Any]) -> Check:
    if not all(type(v) in (str, int, bool, type(None)) for v in values):
        raise Unknown("const or enum of a list, an object or a float")
    pairs = frozenset((type(v), v) for v in values)  # jsonschema's equal(): True is not 1, "1" is not 1
    return lambda x: (type(x), x) in pairs if type(x) in (str, int, bool, type(None)) else False
