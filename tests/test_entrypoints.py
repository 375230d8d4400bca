"""sourceflow.entrypoints finds what importlib.metadata finds, reading the same files.

Every test compares against importlib.metadata itself on the same ``sys.path``: the scan is a
cheaper reading of the same layout, never a different answer.
"""

from __future__ import annotations

import importlib
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sourceflow import entrypoints


def reference(group: str) -> list[tuple[str, str, str | None, str | None]]:
    found = []
    for ep in metadata.entry_points(group=group):
        meta = ep.dist.metadata if ep.dist is not None else None
        found.append(
            (
                ep.name,
                ep.value,
                meta["Name"] if meta is not None else None,
                meta["Version"] if meta is not None else None,
            )
        )
    return found


def scanned(group: str) -> list[tuple[str, str, str | None, str | None]]:
    return [
        (ep.name, ep.value, ep.dist_name, ep.dist_version) for ep in entrypoints.entry_points(group)
    ]


def dist(
    root: Path,
    folder: str,
    entry_points: str,
    *,
    meta: str = "",
    kind: str = "METADATA",
) -> None:
    info = root / folder
    info.mkdir(parents=True)
    (info / kind).write_text(meta or "Metadata-Version: 2.1\nName: x\nVersion: 1\n")
    (info / "entry_points.txt").write_text(entry_points)


@pytest.mark.parametrize("group", ["sourceflow", "sourceflow.commands", "console_scripts"])
def test_the_installed_distributions_read_alike(group):
    assert scanned(group) == reference(group)
    assert scanned(group) or group != "sourceflow"  # the four plugins are installed


def test_awkward_files_read_alike(tmp_path, monkeypatch):
    dist(
        tmp_path,
        "Acme_Plugin-2.0.dist-info",
        "# a comment\n\n  [sourceflow]  \n one = acme.plugin:hooks.impl [extra1, extra2]\n"
        "#two = commented.out\ntwo=acme.other\n[other]\nthree = not.this\n[sourceflow]\n"
        "four = acme.four : thing\n",
        meta="Metadata-Version: 2.1\nName: Acme-Plugin\nVersion: 2.0\nSummary: x\n"
        " continued\n\nName: not-the-name\nVersion: 9\n",
    )
    # The same distribution again, later on the path: shadowed, as importlib.metadata has it.
    later = tmp_path / "later"
    dist(later, "acme.plugin-3.0.dist-info", "[sourceflow]\nshadowed = acme.three\n")
    # An egg-info (setup.py develop) holds its metadata in PKG-INFO.
    dist(
        tmp_path,
        "legacy.egg-info",
        "[sourceflow]\nlegacy = legacy.plugin\n",
        meta="Metadata-Version: 1.0\nname: legacy\nversion: 0.1\n",
        kind="PKG-INFO",
    )
    # No metadata at all; and a folder that only looks like one.
    dist(tmp_path, "bare-1.0.dist-info", "[sourceflow]\nbare = bare.plugin\n", meta="\n")
    (tmp_path / "notes.dist-info.txt").write_text("[sourceflow]\nno = no\n")
    monkeypatch.syspath_prepend(str(later))
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    assert scanned("sourceflow") == reference("sourceflow")
    names = {name for name, *_ in scanned("sourceflow")}
    assert {"one", "two", "four", "legacy", "bare"} <= names
    assert "shadowed" not in names
    assert ("one", "acme.plugin:hooks.impl [extra1, extra2]", "Acme-Plugin", "2.0") in scanned(
        "sourceflow"
    )


def test_a_zip_on_the_path_is_left_to_importlib(tmp_path, monkeypatch):
    archive = tmp_path / "zipped.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("zipped-1.0.dist-info/METADATA", "Name: zipped\nVersion: 1.0\n")
        z.writestr("zipped-1.0.dist-info/entry_points.txt", "[sourceflow]\nzipped = zipped\n")
    monkeypatch.syspath_prepend(str(archive))
    importlib.invalidate_caches()
    assert ("zipped", "zipped", "zipped", "1.0") in scanned("sourceflow")
    assert scanned("sourceflow") == reference("sourceflow")


def test_a_finder_with_its_own_distributions_is_left_to_importlib(monkeypatch):
    found: list[object] = []

    class Finder:
        @staticmethod
        def find_distributions(context: object = None) -> list[object]:
            found.append(context)
            return []

        @staticmethod
        def find_spec(*args: object) -> None:
            return None

    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, Finder])
    assert scanned("sourceflow") == reference("sourceflow")
    assert found  # importlib.metadata asked it, so the scan did not read alone


def test_load_imports_the_module_and_walks_the_attributes(tmp_path, monkeypatch):
    (tmp_path / "ep_target.py").write_text("class Outer:\n    class Inner:\n        x = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    point = entrypoints.EntryPoint("n", "ep_target:Outer.Inner [extra]", "g", None, None)
    assert point.load() is importlib.import_module("ep_target").Outer.Inner
    assert (
        entrypoints.EntryPoint("n", "ep_target", "g", None, None).load() is sys.modules["ep_target"]
    )
    with pytest.raises(ValueError, match="names no module"):
        entrypoints.EntryPoint("n", ":nothing", "g", None, None).load()


_word = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
_line = st.one_of(
    st.builds(
        lambda n, m, a, s1, s2: f"{s1}{n}{s2}={s2}{m}{':' + a if a else ''}{s1}",
        _word,
        st.lists(_word, min_size=1, max_size=3).map(".".join),
        st.one_of(st.none(), _word),
        st.sampled_from(["", " ", "\t"]),
        st.sampled_from(["", " "]),
    ),
    st.sampled_from(["", "# note = x", "[sourceflow]", " [sourceflow] ", "[elsewhere]"]),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(_line, max_size=12))
def test_generated_entry_point_files_read_alike(tmp_path_factory, lines):
    root = tmp_path_factory.mktemp("gen")
    dist(root, "gen_dist-1.0.dist-info", "\n".join(lines) + "\n")
    sys.path.insert(0, str(root))
    try:
        importlib.invalidate_caches()
        assert scanned("sourceflow") == reference("sourceflow")
    finally:
        sys.path.remove(str(root))
