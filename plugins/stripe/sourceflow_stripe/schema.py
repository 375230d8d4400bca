"""The structure of Stripe objects, inferred from real ones, in the JSON-schema form that
explore answers under ``{"format": "hierarchical", "schema": ...}``.

Every object seen contributes: a field is typed by every value it held (``null`` included),
objects merge their properties, arrays merge their items.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_ORDER = ("object", "array", "string", "integer", "number", "boolean", "null")


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class _Node:
    def __init__(self) -> None:
        self.types: set[str] = set()
        self.properties: dict[str, _Node] = {}
        self.items: _Node | None = None

    def add(self, value: Any) -> None:
        self.types.add(_type_of(value))
        if isinstance(value, dict):
            for key, inner in value.items():
                self.properties.setdefault(str(key), _Node()).add(inner)
        elif isinstance(value, list):
            if self.items is None:
                self.items = _Node()
            for inner in value:
                self.items.add(inner)

    def schema(self) -> dict[str, Any]:
        types = sorted(self.types, key=_ORDER.index)
        out: dict[str, Any] = {"type": types[0] if len(types) == 1 else types}
        if "object" in self.types:
            out["properties"] = {k: n.schema() for k, n in self.properties.items()}
        if "array" in self.types:
            out["items"] = self.items.schema() if self.items and self.items.types else {}
        return out


def infer(values: Iterable[Any]) -> dict[str, Any]:
    """A JSON schema that every one of ``values`` fits (``{}`` when there are none)."""
    root = _Node()
    for value in values:
        root.add(value)
    return root.schema() if root.types else {}
