"""No long-running process imports what it does not use (issue 14, "lean processes"): each
module a supervisord program runs is imported in a fresh interpreter and its modules listed.
Memory itself is measured by ``bench/memory.py``, never here.
"""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.conftest import PYTHON, python_env

#: what none of the pipeline's processes needs while it runs (without a config file):
#: redis-py (the shared RESP client replaces it), pyarrow (archiving imports it when it
#: archives), typer and rich (the command lines), tomllib (reading a config file),
#: urllib.request (insight phrasing, when configured), importlib.resources
NEVER = ("redis", "pyarrow", "typer", "rich", "tomllib", "urllib.request", "importlib.resources")


@pytest.mark.parametrize(
    "module",
    [
        "blueplane_ingest.__main__",
        "blueplane_ingest.maintenance",
        "blueplane_workers.metrics",
        "blueplane_workers.conversations",
        "blueplane_workers.insights",
        "blueplane_capture.spool",
        "blueplane_capture.transcripts",
        "blueplane_capture.cursor_db",
        "blueplane_capture.otlp",
        "blueplane_query.service",
    ],
)
def test_a_pipeline_process_imports_only_what_it_uses(module: str, blueplane_home) -> None:
    loaded = _modules(f"import {module}")
    assert not [name for name in NEVER if name in loaded], module


@pytest.mark.parametrize(
    "module",
    ["blueplane_ingest.__main__", "blueplane_workers.metrics", "blueplane_ingest.maintenance"],
)
def test_a_consumer_speaks_resp_without_the_socket_module(module: str, blueplane_home) -> None:
    """The client uses _socket; the consumer's name takes the host from os.uname()."""
    assert "socket" not in _modules(f"import {module}")


@pytest.mark.parametrize("module", ["blueplane_capture.transcripts", "blueplane_capture.cursor_db"])
def test_a_file_monitor_watches_without_anyio(module: str, tmp_path, blueplane_home) -> None:
    """watchfiles' package imports anyio (for ``awatch``); the monitors load only its notifier.
    The watch runs for real (one quiet timeout) so the notifier itself is loaded."""
    loaded = _modules(
        f"import {module}\n"
        "from blueplane_capture import file_watch\n"
        "from blueplane_core import lifecycle\n"
        f"changes = file_watch.changed_paths([{str(tmp_path)!r}], lifecycle.Shutdown(),"
        " keep=bool, timeout_ms=10, yield_on_timeout=True)\n"
        "assert next(changes) == set()\n"
    )
    assert "watchfiles._rust_notify" in loaded
    assert not {"anyio", "watchfiles.main"} & loaded


def test_the_http_servers_load_uvicorn_without_its_command_line(blueplane_home) -> None:
    """click and the reload supervisors (watchfiles, anyio) come with ``uvicorn.main``."""
    loaded = _modules(
        "from blueplane_core import http_server\n"
        "config, server = http_server.uvicorn_classes()\n"
        "import uvicorn, uvicorn.protocols.http.h11_impl\n"
        "assert uvicorn.Server is server and uvicorn.Config is config\n"
    )
    assert "uvicorn.server" in loaded
    assert not {"click", "uvicorn.main", "watchfiles"} & loaded


def _modules(code: str) -> set[str]:
    done = subprocess.run(
        [PYTHON, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        timeout=60,
        env=python_env(),
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_the_transcript_monitor_draws_no_bar_into_its_log(redis_client, blueplane_home, tmp_path):
    """Under supervisord stderr is a log file: the backfill publishes its progress for
    ``blueplane up`` and draws no rich bar, so rich (~4 MB for the process's life) is never
    loaded. The real ``main`` backfills a real transcript with stderr not a terminal, then
    watches until SIGTERM, as under supervisord."""
    home = tmp_path / "user"
    project = home / ".claude" / "projects" / "-work-demo"
    project.mkdir(parents=True)
    (project / "s.jsonl").write_text('{"type":"summary","summary":"x"}\n')
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print(' '.join(sys.modules), file=sys.__stdout__))\n"
        "sys.argv = ['capture-claude']\n"
        "import runpy\n"
        "runpy.run_module('blueplane_capture.transcripts', run_name='__main__')\n"
    )
    proc = subprocess.Popen(
        [PYTHON, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=python_env({"HOME": str(home)}),
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # blocks until the backfill has logged its end
            if "backfill:" in line:
                break
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    loaded = set(out.split())
    assert "blueplane_core.backfill_progress" in loaded
    assert "rich" not in loaded and "rich.progress" not in loaded
