"""Benchmark (not a test): ``sourceflow plugins`` cold start against ``python -c "import pluggy"``.

With hyperfine when it is installed (``apt-get install hyperfine``), else by repeated
subprocess timing; the median of at least 15 runs each, after 3 warm-up runs. Also lists the
ten slowest imports of ``sourceflow plugins`` (``python -X importtime``), cumulative. The goal
is on the ratio of wall-time medians; the ratio of mean CPU times (user + system) is shown
beside it, as a busy machine disturbs it less.

Our packages' bytecode is compiled first, as pip does when it installs a package (pluggy's
came compiled): an editable checkout run with ``PYTHONDONTWRITEBYTECODE=1`` would otherwise
compile every module of ours on every run, which no installed copy does.

    python tests/bench/bench_startup.py [--runs 20] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from benchlib import machine, median, table, write  # noqa: E402

GOAL = 2.0
PLUGINS = [
    sys.executable,
    "-c",
    "import sys; from sourceflow.cli import main; sys.exit(main(['plugins']))",
]
SOURCEFLOW = Path(sys.executable).parent / "sourceflow"
PLUGGY = [sys.executable, "-c", "import pluggy"]


def _command() -> list[str]:
    return [str(SOURCEFLOW), "plugins"] if SOURCEFLOW.exists() else PLUGINS


def by_hyperfine(
    commands: dict[str, list[str]], runs: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Median wall time and mean CPU time (user + system) of each command, in seconds."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = Path(out.name)
    try:
        subprocess.run(
            [
                "hyperfine",
                "-N",
                "--warmup",
                "3",
                "--runs",
                str(runs),
                "--export-json",
                str(path),
                *(shlex.join(c) for c in commands.values()),
            ],
            check=True,
            capture_output=True,
        )
        found = json.loads(path.read_text())["results"]
    finally:
        path.unlink(missing_ok=True)
    pairs = list(zip(commands, found, strict=True))
    return (
        {name: r["median"] for name, r in pairs},
        {name: r["user"] + r["system"] for name, r in pairs},
    )


def by_subprocess(
    commands: dict[str, list[str]], runs: int
) -> tuple[dict[str, float], dict[str, float]]:
    """As :func:`by_hyperfine`, the commands' runs interleaved."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(runs + 3):
        for name, cmd in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            wall = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if i >= 3:
                times[name].append(wall)
                cpu[name].append(
                    after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                )
    return (
        {name: median(t) for name, t in times.items()},
        {name: sum(c) / len(c) for name, c in cpu.items()},
    )


def compile_ours() -> None:
    """Write the bytecode of the core and the plugins, as ``pip install`` does."""
    root = HERE.parents[1]
    folders = [root / "core" / "sourceflow", *sorted(root.glob("plugins/*/sourceflow_*"))]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *map(str, folders)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def slowest_imports(n: int = 10) -> list[tuple[str, float]]:
    """The ``n`` slowest top-level imports of ``sourceflow plugins`` (``-X importtime``, the
    command run through ``python -c``: the console script's own wrapper imports nothing more)."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", *PLUGINS[1:]],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    found: list[tuple[str, float]] = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (p.strip() for p in line[len("import time:") :].split("|"))
        if name.startswith(" "):
            continue
        found.append((name.strip(), int(cumulative) / 1000))
    return sorted(found, key=lambda x: -x[1])[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    runs = max(15, args.runs)
    compile_ours()
    commands = {"sourceflow plugins": _command(), "python -c 'import pluggy'": PLUGGY}
    tool = "hyperfine" if shutil.which("hyperfine") else "subprocess"
    medians, cpu = (by_hyperfine if tool == "hyperfine" else by_subprocess)(commands, runs)
    ratio = medians["sourceflow plugins"] / medians["python -c 'import pluggy'"]
    # CPU time is what a busy machine disturbs least (wall time includes waiting for a core);
    # shown beside the goal's wall-time ratio, not instead of it.
    cpu_ratio = cpu["sourceflow plugins"] / cpu["python -c 'import pluggy'"]
    listed = subprocess.run(commands["sourceflow plugins"], capture_output=True, text=True)
    imports = slowest_imports()
    met = ratio <= GOAL
    table(
        [[name, f"{s * 1000:.0f}", f"{cpu[name] * 1000:.0f}"] for name, s in medians.items()]
        + [
            [
                "ratio",
                f"{ratio:.2f}x (goal <= {GOAL}x: {'met' if met else 'MISSED'})",
                f"{cpu_ratio:.2f}x",
            ]
        ],
        ["command", "median wall ms", "mean CPU ms"],
    )
    print(f"\n({tool}, {runs} runs each)\nslowest imports (cumulative ms):")
    table([[name, ms] for name, ms in imports], ["module", "ms"])
    write(
        "startup",
        {
            "machine": machine(),
            "tool": tool,
            "runs": runs,
            "median_s": medians,
            "ratio": ratio,
            "cpu_mean_s": cpu,
            "cpu_ratio": cpu_ratio,
            "goal": GOAL,
            "goal_met": met,
            "plugins_listed": listed.stdout,
            "slowest_imports_ms": imports,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
