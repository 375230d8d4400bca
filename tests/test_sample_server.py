"""``sourceflow.serve_sample``: the command line of a plugin's sample server, on real sockets.

A taken port is refused with a hint, in this process; a free one is served by a real uvicorn in
a process of its own, which prints the instructions with the URL it bound, answers on it, and
stops on SIGTERM.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import sourceflow

# A plugin's sample module, reduced to what the helper needs: an app and its instructions.
SAMPLE = textwrap.dedent(
    """
    import sys

    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    import sourceflow


    async def hello(request):
        return PlainTextResponse("hello from the sample")


    def instructions(url):
        return f"Sample Acme API on {url}\\nexport ACME_API_BASE={url}\\nCtrl-C stops it."


    sys.exit(
        sourceflow.serve_sample(
            Starlette(routes=[Route("/hello", hello)]),
            prog="python -m sourceflow_acme.sample",
            description="Serve a sample Acme API.",
            default_port=12345,
            instructions=instructions,
        )
    )
    """
)


def _app() -> Starlette:
    async def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("hello")

    return Starlette(routes=[Route("/hello", hello)])


def _never(url: str) -> str:
    raise AssertionError(f"instructions asked for {url} although nothing is served")


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@contextmanager
def _sample(*args: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """The sample above as a process of its own; it and the lines it printed up to Ctrl-C."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SAMPLE, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    printed: list[str] = []
    try:
        for line in proc.stdout:
            printed.append(line)
            if line.startswith("Ctrl-C"):
                break
        yield proc, printed
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


def test_a_taken_port_is_one_error_with_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = sourceflow.serve_sample(
            _app(),
            prog="python -m sourceflow_acme.sample",
            description="Serve a sample Acme API.",
            default_port=port,
            instructions=_never,
            argv=[],
        )
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use",
        "hint: pass another --port (0 picks a free one)",
    ]


def test_an_address_that_is_not_this_machines_is_refused_the_same_way(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine.
    code = sourceflow.serve_sample(
        _app(),
        prog="python -m sourceflow_acme.sample",
        description="Serve a sample Acme API.",
        default_port=0,
        instructions=_never,
        argv=["--host", "192.0.2.1"],
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: cannot listen on 192.0.2.1:0: ")
    assert err.endswith("hint: pass another --port (0 picks a free one)\n")


def test_help_names_the_command_and_the_default_port(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        sourceflow.serve_sample(
            _app(),
            prog="python -m sourceflow_acme.sample",
            description="Serve a sample Acme API.",
            default_port=12111,
            instructions=_never,
            argv=["--help"],
        )
    out = capsys.readouterr().out
    assert stopped.value.code == 0
    assert out.startswith("usage: python -m sourceflow_acme.sample [-h] [--host HOST]")
    assert "Serve a sample Acme API." in out
    assert "(default 12111; 0 picks a free one)" in out


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        ("127.0.0.1", "127.0.0.1"),
        pytest.param(
            "::1",
            "[::1]",
            marks=pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here"),
        ),
    ],
    ids=["ipv4", "ipv6"],
)
def test_a_free_port_prints_the_bound_url_then_serves_it_until_sigterm(
    host: str, shown: str
) -> None:
    with _sample("--host", host, "--port", "0") as (proc, printed):
        assert printed, proc.stderr.read() if proc.stderr else ""
        first = printed[0].strip()
        assert first.startswith(f"Sample Acme API on http://{shown}:")
        url = first.removeprefix("Sample Acme API on ")
        port = int(url.rsplit(":", 1)[1])
        assert port != 0
        assert printed[1:] == [f"export ACME_API_BASE={url}\n", "Ctrl-C stops it.\n"]
        # Connected to the moment the lines are read: the port already listens.
        answer = httpx.get(url + "/hello", timeout=10)
        assert (answer.status_code, answer.text) == (200, "hello from the sample")
        proc.terminate()
        # uvicorn finishes, then ends the process with the signal it caught.
        assert proc.wait(timeout=10) == -signal.SIGTERM
        assert proc.stderr is not None and "Traceback" not in proc.stderr.read()


def test_ctrl_c_stops_the_sample_without_a_traceback() -> None:
    with _sample("--port", "0") as (proc, printed):
        assert printed, proc.stderr.read() if proc.stderr else ""
        url = printed[0].strip().removeprefix("Sample Acme API on ")
        assert httpx.get(url + "/hello", timeout=10).status_code == 200  # serving by now
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 130
        assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
