"""Entry points of one group, found as :func:`importlib.metadata.entry_points` finds them.

Start-up's sake: importing :mod:`importlib.metadata` costs more than everything else
``sourceflow plugins`` does beyond pluggy and click (it imports :mod:`email`, :mod:`zipfile`
and :mod:`csv`; 89 M instructions of the 468 M the command took, measured with callgrind), and
its metadata objects parse each ``METADATA`` with the email parser. Where every distribution is
a folder in a ``sys.path`` directory, which is how pip, uv and setuptools' editable installs lay
them out, this reads the same files the same way: ``*.dist-info`` and ``*.egg-info`` folders in
each ``sys.path`` directory in order, the first of a normalized name winning, ``entry_points.txt``
parsed by importlib.metadata's rules, ``Name`` and ``Version`` the first of their headers.
Anything else (a zip or egg on ``sys.path``, a finder that supplies its own distributions) is
left to importlib.metadata itself, so no layout is ever read wrongly, only more slowly.
Nothing is cached: each call reads the disk as it is.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from functools import reduce
from importlib import import_module
from importlib.machinery import PathFinder

# importlib.metadata.EntryPoint.pattern
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")
_SEPARATORS = re.compile(r"[-_.]+")
_FOLDERS = (".dist-info", ".egg-info")


class EntryPoint:
    """One entry point and the distribution that declares it."""

    __slots__ = ("dist_name", "dist_version", "group", "name", "value")

    def __init__(
        self, name: str, value: str, group: str, dist_name: str | None, dist_version: str | None
    ) -> None:
        self.name = name
        self.value = value
        self.group = group
        self.dist_name = dist_name
        """The distribution's ``Name`` (as its metadata spells it), None when it has none."""
        self.dist_version = dist_version

    @property
    def module(self) -> str:
        """The module the entry point names."""
        return self.value.partition(":")[0].strip()

    def load(self) -> object:
        """Import the module and return the object the entry point names (as importlib does)."""
        match = self._match()
        attrs = filter(None, (match.group("attr") or "").split("."))
        return reduce(getattr, attrs, import_module(match.group("module")))

    def _match(self) -> re.Match[str]:
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"entry point {self.name!r} = {self.value!r} names no module")
        return match

    def __repr__(self) -> str:
        return f"EntryPoint({self.name!r}, {self.value!r}, {self.group!r}, {self.dist_name!r})"


def entry_points(group: str) -> list[EntryPoint]:
    """The entry points of ``group`` in every installed distribution, in ``sys.path`` order."""
    folders = _folders()
    if folders is None:
        return _from_importlib(group)
    found: list[EntryPoint] = []
    for folder in folders:
        text = _read(folder, "entry_points.txt")
        if not text or f"[{group}]" not in text:
            continue
        points = [(n, v) for section, n, v in _sections(text) if section == group]
        if points:
            name, version = _name_and_version(folder)
            found.extend(EntryPoint(n, v, group, name, version) for n, v in points)
    return found


def _folders() -> list[str] | None:
    """Each distribution's metadata folder, first of each name; None where importlib must look."""
    for finder in sys.meta_path:
        if hasattr(finder, "find_distributions") and finder is not PathFinder:
            return None
    seen: set[str] = set()
    folders: list[str] = []
    for entry in sys.path:
        where = entry or "."
        try:
            children = os.listdir(where)
        except NotADirectoryError:
            return None  # a zip on sys.path
        except OSError:
            continue  # absent, as importlib.metadata skips it
        if where.lower().endswith(".egg"):
            return None
        for child in children:
            low = child.lower()
            if not low.endswith(_FOLDERS):
                continue
            name = _normalize(os.path.splitext(child)[0].partition("-")[0])
            if name not in seen:
                seen.add(name)
                folders.append(os.path.join(where, child))
    return folders


def _normalize(name: str) -> str:
    return _SEPARATORS.sub("-", name).lower().replace("-", "_")


def _read(folder: str, name: str) -> str | None:
    try:
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def _sections(text: str) -> Iterator[tuple[str, str, str]]:
    """``(section, name, value)`` as importlib.metadata's ``Sectioned`` reads them."""
    section: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
            continue
        if section is not None:
            name, _, value = line.partition("=")
            yield section, name.strip(), value.strip()


def _name_and_version(folder: str) -> tuple[str | None, str | None]:
    """The first ``Name`` and ``Version`` headers of the folder's core metadata."""
    text = _read(folder, "METADATA") or _read(folder, "PKG-INFO") or ""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the headers end at the first blank line; the description follows
        key, sep, value = line.partition(":")
        key = key.lower()
        if sep and key in ("name", "version") and key not in found and not line[0].isspace():
            found[key] = value.strip()
    return found.get("name"), found.get("version")


def _from_importlib(group: str) -> list[EntryPoint]:
    from importlib import metadata  # the cost this module avoids where it can (above)

    found: list[EntryPoint] = []
    for ep in metadata.entry_points(group=group):
        meta = ep.dist.metadata if ep.dist is not None else None
        name = meta["Name"] if meta is not None else None
        version = meta["Version"] if meta is not None else None
        found.append(EntryPoint(ep.name, ep.value, group, name, version))
    return found
