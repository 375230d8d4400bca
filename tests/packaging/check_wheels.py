"""Build every distribution as a wheel and install each alone into a fresh virtualenv.

Editable installs read the source tree, so they hide a module or a data file that the wheel
leaves out, and a dependency that only the other distributions happen to bring. This check
(``tox -e wheels``, part of ``./dev test``):

1. builds the core and the four plugins as wheels with pip, with build isolation, each from a
   clean copy of its folder (a ``build/`` left in the tree could put stale files in a wheel);
2. checks that each wheel holds every file of its package in the source tree (modules,
   ``py.typed``, templates, samples) and the license;
3. installs the core alone into a fresh venv, then each plugin with only the core wheel into
   a fresh venv of its own. Their dependencies are resolved once from pip's configured index
   into a wheelhouse, and each venv installs from it alone (``--no-index``): pip installs only
   what the wheels being installed require, so a plugin that forgets a dependency still lacks
   it;
4. runs ``sourceflow plugins --json`` there: it must list no plugin for the core, and exactly
   the one plugin, with its sources and no failure, for each plugin;
5. in the core's venv, scaffolds a plugin with ``sourceflow new-plugin`` (the templates are
   package data).

Usage: ``python tests/packaging/check_wheels.py [--keep DIR]``. Prints the time each step
took; exits 1 naming every problem.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import venv
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ("http", "chatlio", "shopify", "stripe")
# Never copied into the build: what a build or an editable install leaves behind.
JUNK = shutil.ignore_patterns(
    "build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".venv", ".tox", "tests", "bench"
)


class Problems(list[str]):
    """Every problem found, reported together at the end."""


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload,no-any-return]


def _copy(project: Path, into: Path) -> Path:
    """A clean copy of a distribution's folder: its pyproject, README, LICENSE and code."""
    target = into / project.name
    shutil.copytree(project, target, ignore=JUNK)
    return target


def build(project: Path, out: Path, work: Path) -> Path:
    """The wheel of ``project``, built by pip in an isolated build environment."""
    source = _copy(project, work)
    done = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)]
    )
    if done.returncode != 0:
        raise SystemExit(f"building {project.name} failed:\n{done.stdout}{done.stderr}")
    name = _distribution(project).replace("-", "_")
    (wheel,) = out.glob(f"{name}-*.whl")
    return wheel


def _distribution(project: Path) -> str:
    import tomllib

    with (project / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["name"])


def check_contents(wheel: Path, package: Path, problems: Problems) -> None:
    """Every file of ``package`` in the source tree is in the wheel, and so is the license."""
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    base = package.parent
    for path in sorted(package.rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        if path.relative_to(base).as_posix() not in names:
            problems.append(f"{wheel.name} lacks {path.relative_to(base).as_posix()}")
    if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
        problems.append(f"{wheel.name} carries no LICENSE")


def wheelhouse(wheels: list[Path], into: Path) -> Path:
    """``wheels`` and every distribution they require, as wheels in one folder."""
    done = _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "-w", str(into)]
        + [str(w) for w in wheels]
    )
    if done.returncode != 0:
        raise SystemExit(f"collecting the dependencies failed:\n{done.stderr}")
    return into


def fresh_venv(path: Path, wheels: list[Path], house: Path) -> Path:
    """A new venv at ``path`` with only ``wheels`` (and what they require) installed."""
    # Without its own pip: this interpreter's pip installs into it (pip --python), which
    # saves seeding pip into every venv.
    venv.EnvBuilder(with_pip=False).create(path)
    python = path / "bin" / "python"
    done = _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
        + ["--no-index", "--find-links", str(house)]
        + [str(w) for w in wheels]
    )
    if done.returncode != 0:
        raise SystemExit(f"installing {[w.name for w in wheels]} failed:\n{done.stderr}")
    return path


def listed(env: Path) -> dict[str, object]:
    """What ``sourceflow plugins --json`` answers in ``env``, with no selection set."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SOURCEFLOW_LOAD_PLUGINS", "SOURCEFLOW_BLOCK_PLUGINS", "PYTHONPATH")
    }
    done = _run([str(env / "bin" / "sourceflow"), "plugins", "--json"], env=environ, cwd=env)
    if done.returncode != 0:
        raise SystemExit(f"sourceflow plugins failed in {env.name}:\n{done.stderr}")
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def main() -> int:
    """Build, install and check; print the timings; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it (default: a temp dir)")
    options = parser.parse_args()
    work = options.keep or Path(tempfile.mkdtemp(prefix="sourceflow-wheels-"))
    work.mkdir(parents=True, exist_ok=True)
    problems = Problems()
    started = time.monotonic()
    timings: list[tuple[str, float]] = []

    def lap(what: str, since: float) -> float:
        now = time.monotonic()
        timings.append((what, now - since))
        return now

    try:
        t = time.monotonic()
        dist = work / "dist"
        core_project = work / "src" / "sourceflow"
        core_project.mkdir(parents=True)
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            shutil.copy(ROOT / name, core_project / name)
        shutil.copytree(ROOT / "core", core_project / "core", ignore=JUNK)
        projects = {"core": core_project} | {p: ROOT / "plugins" / p for p in PLUGINS}
        # Two at a time: the machine's two cores; each build is mostly its isolated env.
        with ThreadPoolExecutor(max_workers=2) as pool:
            built = dict(
                zip(
                    projects,
                    pool.map(
                        lambda kv: build(kv[1], dist, work / f"build-{kv[0]}"), projects.items()
                    ),
                    strict=True,
                )
            )
        core = built.pop("core")
        check_contents(core, ROOT / "core" / "sourceflow", problems)
        for plugin, wheel in built.items():
            check_contents(wheel, ROOT / "plugins" / plugin / f"sourceflow_{plugin}", problems)
        t = lap("build 5 wheels", t)
        house = wheelhouse([core, *built.values()], work / "wheelhouse")
        t = lap("dependencies", t)

        def install(name: str) -> tuple[str, dict[str, object]]:
            wheels = [core] if name == "core" else [core, built[name]]
            return name, listed(fresh_venv(work / f"venv-{name}", wheels, house))

        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = dict(pool.map(install, ["core", *PLUGINS]))
        t = lap("5 venvs", t)

        answer = answers.pop("core")
        if answer.get("plugins") or answer.get("failures"):
            problems.append(f"the core alone lists plugins or failures: {answer}")
        command = str(work / "venv-core" / "bin" / "sourceflow")
        scaffold = _run([command, "new-plugin", "acme", "--dir", str(work / "acme")])
        if scaffold.returncode != 0 or not (work / "acme" / "pyproject.toml").is_file():
            problems.append(f"sourceflow new-plugin failed from the wheel: {scaffold.stderr}")
        for plugin, answer in answers.items():
            plugins = answer.get("plugins")
            dist_name = f"sourceflow-{plugin}"
            if not isinstance(plugins, list) or [p["name"] for p in plugins] != [dist_name]:
                problems.append(f"{dist_name} alone with the core lists {plugins}")
            elif not plugins[0]["sources"]:
                problems.append(f"{dist_name} lists no source")
            if answer.get("failures"):
                problems.append(f"{dist_name}: failures {answer['failures']}")
    finally:
        if options.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    for what, seconds in timings:
        print(f"{what:<16} {seconds:6.1f} s")
    print(f"{'total':<16} {time.monotonic() - started:6.1f} s")
    for problem in problems:
        print(f"problem: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
