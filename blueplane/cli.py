"""The ``blueplane`` command: start, stop and inspect the pipeline; each stage's own commands.

A thin layer: every command calls a library function and prints its result. Errors reach the
user as one line on stderr with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from blueplane_capture.cli import import_app, install_app, uninstall_app
from blueplane_core import config, paths, redis_conn
from blueplane_query.install import install_mcp_command, uninstall_mcp_command
from blueplane_workers.cli import rebuild_app

# The MCP server belongs to the query side; its installer joins the other integrations here.
install_app.command("mcp")(install_mcp_command)
uninstall_app.command("mcp")(uninstall_mcp_command)

app = typer.Typer(
    help="Blueplane: local, private telemetry for AI-assisted coding.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(install_app, name="install")
app.add_typer(uninstall_app, name="uninstall")
app.add_typer(import_app, name="import")
app.add_typer(rebuild_app, name="rebuild")
dlq_app = typer.Typer(help="Inspect, retry or drop dead letters.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
privacy_app = typer.Typer(
    help="What this database keeps: every key of every event type, and every event in full."
)
app.add_typer(privacy_app, name="privacy")

out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def load_config() -> config.Config:
    try:
        return config.load()
    except config.ConfigError as exc:
        raise fail(str(exc), config.EXIT_CONFIG) from None


@app.command()
def up(
    wait: Annotated[float, typer.Option(help="seconds to wait for the processes")] = 30.0,
    follow: Annotated[
        bool, typer.Option(help="on a first start, show the history's backfill until it is done")
    ] = True,
) -> None:
    """Start supervisord and every Blueplane process (idempotent).

    On a first start (capture has never read the Claude Code history) a bar follows the backfill
    of the existing history, with MB/s, until it is done (on a terminal; Ctrl-C stops watching,
    not the backfill)."""
    from blueplane import supervisor
    from blueplane_capture.transcripts import STATE_NAME

    cfg = load_config()
    first_start = not (paths.state_dir() / f"{STATE_NAME}.json").exists()
    try:
        supervisor.start(cfg, timeout=wait)
    except supervisor.SupervisorError as exc:
        raise fail(str(exc)) from None
    client = _wait_for_redis(cfg, wait)
    not_running = supervisor.wait_running(cfg, timeout=wait)
    if not_running:
        _print_processes()
        raise fail(
            "not every process is running:\n  "
            + "\n  ".join(not_running)
            + f"\n(logs in {paths.log_dir()})"
        )
    out.print(f"[green]Blueplane is up[/green] (data in {paths.home()})")
    _print_processes()
    if first_start and follow and out.is_terminal:
        _follow_backfill(client, wait)
    elif first_start:
        out.print("reading your Claude Code history in the background (`blueplane status`)")


def _follow_backfill(client: Any, wait: float) -> None:
    from blueplane import backfill_bar

    out.print("reading your Claude Code history (numbers grow until this is done):")
    try:
        done = backfill_bar.follow(client, out, appear_within_s=wait)
    except KeyboardInterrupt:
        out.print("the backfill goes on in the background; `blueplane status` shows it")
        return
    if done is None:
        out.print("no backfill progress reported; `blueplane status` shows each process")
    else:
        out.print(backfill_bar.describe(done))


def _wait_for_redis(cfg: config.Config, wait: float) -> Any:
    """A client of the Redis supervisord just started, once it answers (else one-line fail)."""
    import time

    client = redis_conn.connect(cfg)
    deadline = time.monotonic() + wait
    while True:
        try:
            client.ping()
            return client
        except redis_conn.errors() as exc:
            if time.monotonic() > deadline:
                raise fail(f"Redis at {redis_conn.redis_url(cfg)} does not answer: {exc}") from None
            time.sleep(0.1)  # waiting for a process just started, with a deadline


@app.command()
def down() -> None:
    """Stop every process (each finishes its batch) and supervisord."""
    from blueplane import supervisor

    try:
        stopped = supervisor.stop()
    except supervisor.SupervisorError as exc:
        raise fail(str(exc)) from None
    out.print("stopped" if stopped else "Blueplane was not running")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def ctl(ctx: typer.Context) -> None:
    """Run supervisorctl on Blueplane's supervisord (e.g. ``blueplane ctl status``)."""
    from blueplane import supervisor

    result = supervisor.ctl(load_config(), *ctx.args)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    raise typer.Exit(result.returncode)


def _print_processes() -> None:
    from blueplane import supervisor

    table = Table("process", "state", "pid", title="processes")
    for proc in supervisor.processes():
        state = proc["statename"]
        color = (
            "green" if state == "RUNNING" else "red" if state in {"FATAL", "BACKOFF"} else "yellow"
        )
        table.add_row(
            f"{proc['group']}:{proc['name']}", f"[{color}]{state}[/{color}]", str(proc["pid"] or "")
        )
    out.print(table)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Each process's state, streams and lag, dead letters, rows stored, integrations.

    Exits 3 when anything is unhealthy (each problem is named), 0 when all is well."""
    from blueplane import status as status_module
    from blueplane_query.health import EXIT_UNHEALTHY, render

    report = status_module.collect(load_config())
    if as_json:
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        if not report["supervisor"]:
            out.print("[yellow]supervisord is not running[/yellow] (start it with `blueplane up`)")
        out.print(render(report))
        _print_backfill(report["backfill"])
        for name, state in report["integrations"].items():
            out.print(f"{name}: {state}")
    if not report["healthy"]:
        raise typer.Exit(EXIT_UNHEALTHY)


def _print_backfill(records: dict[str, dict[str, Any]]) -> None:
    from blueplane import backfill_bar
    from blueplane_core.backfill_progress import BackfillProgress

    for name, record in records.items():
        fields = {k: v for k, v in record.items() if k != "mb_per_s"}
        out.print(f"{name}: {backfill_bar.describe(BackfillProgress(**fields))}")


@app.command("open")
def open_dashboard(
    no_browser: Annotated[bool, typer.Option("--no-browser", help="only print the URL")] = False,
) -> None:
    """Print the dashboard's URL and open it in a browser where one exists."""
    import webbrowser

    from blueplane_core import supervision

    cfg = load_config()
    host, port = str(cfg["query.host"]), int(cfg["query.port"])
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}/"
    out.print(url, highlight=False, soft_wrap=True)
    if not supervision.listening(shown, port):
        err.print(
            f"[yellow]nothing answers at {url} yet[/yellow]: start it with `blueplane up` "
            "(`blueplane status` shows the query program)",
            highlight=False,
        )
        raise typer.Exit(1)
    if no_browser:
        return
    import os

    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return  # no graphical session (a server, SSH): a text browser would take the terminal
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return  # no browser on this machine (a server, SSH): the URL above is the answer
    if not browser.open(url):
        err.print("could not start a browser; open the URL above", highlight=False)


@app.command("config")
def show_config(
    markdown: Annotated[bool, typer.Option("--markdown", help="the reference table")] = False,
) -> None:
    """Every configuration key with its value and where the value came from."""
    if markdown:
        sys.stdout.write(config.reference_markdown())
        return
    cfg = load_config()
    table = Table("key", "value", "from", title=f"configuration ({cfg.file})")
    for key in config.KEYS:
        table.add_row(key.name, repr(cfg[key.name]), cfg.origins[key.name])
    out.print(table)


@app.command()
def demo(
    events: Annotated[int, typer.Option("--events", "-n", help="synthetic events to push")] = 5000,
    seed: Annotated[int | None, typer.Option(help="random seed (default: time)")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for storage")] = 120.0,
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="leave the demo's pipeline running after")
    ] = False,
    clean: Annotated[
        bool, typer.Option("--clean", help="stop the demo's pipeline and delete its data")
    ] = False,
) -> None:
    """Push realistic synthetic sessions through a pipeline of the demo's own, in its own data
    folder (~/.blueplane-demo): your own data and pipeline are never touched."""
    from rich.progress import Progress

    from blueplane import demo as demo_module
    from blueplane import supervisor

    real = paths.home()
    try:
        home = demo_module.use_demo_home(create=not clean)
    except demo_module.DemoError as exc:
        raise fail(str(exc)) from None
    cfg = load_config()
    if clean:
        try:
            stopped = supervisor.stop()
            removed = demo_module.remove(home)
        except (supervisor.SupervisorError, demo_module.DemoError) as exc:
            raise fail(str(exc)) from None
        out.print(
            f"removed the demo data in {home}" + (" (its pipeline stopped)" if stopped else "")
            if removed
            else f"no demo data in {home}"
        )
        return
    try:
        supervisor.start(cfg, timeout=30.0, capture=False)
    except supervisor.SupervisorError as exc:
        raise fail(str(exc)) from None
    client = _wait_for_redis(cfg, 30.0)
    try:
        with Progress(console=out, transient=True) as progress:
            task = progress.add_task("ingesting", total=events)
            result = demo_module.run(
                client,
                events,
                seed=seed,
                timeout=timeout,
                progress=lambda stored: progress.update(task, completed=stored),
            )
        rate = result.stored / result.seconds if result.seconds else 0
        out.print(
            f"sent {result.sent:,} events, stored {result.stored:,} in {result.seconds:.2f}s"
            f" ({rate:,.0f} events/s end to end)"
        )
        if result.stored < result.sent:
            raise fail(
                "not every event was stored in time: see the logs in "
                f"{paths.log_dir()} (`blueplane demo --keep-running` leaves the pipeline up)"
            )
        if not demo_module.wait_processed(client, timeout):
            raise fail(f"the demo's workers did not catch up in time: see {paths.log_dir()}")
    finally:
        client.close()
        if not keep_running:
            try:
                supervisor.stop()
            except supervisor.SupervisorError as exc:
                err.print(f"[yellow]the demo's pipeline did not stop:[/yellow] {exc}")
    out.print(
        f"The demo's data is in {home}, apart from yours ({real} is untouched).\n"
        "See it with `bp-query --demo metrics` (or costs, sessions, tools ...); "
        "remove it with `blueplane demo --clean`."
    )


@privacy_app.callback(invoke_without_command=True)
def privacy_summary(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """For each event type stored, the payload and metadata keys present and their value kinds."""
    if ctx.invoked_subcommand is not None:
        return
    from blueplane import privacy_report

    try:
        conn = privacy_report.open_database()
    except FileNotFoundError:
        raise fail(f"no database at {paths.database()} (nothing stored yet)") from None
    try:
        report = privacy_report.summary(conn)
    finally:
        conn.close()
    if as_json:
        data = privacy_report.as_json(report)
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    if not report:
        out.print("No events stored.")
        return
    for event_type, entry in sorted(report.items()):
        table = Table("key", "kind of value", "events", title=f"{event_type} ({entry['events']})")
        for key, use in sorted(entry["keys"].items()):
            table.add_row(key, ", ".join(sorted(use.kinds)), str(use.events))
        out.print(table)


@privacy_app.command("dump")
def privacy_dump(
    output: Annotated[
        str, typer.Option("--output", "-o", help="file to write (default: standard output)")
    ] = "-",
) -> None:
    """Write every stored event (raw and archived), decoded, as JSON lines."""
    from blueplane import privacy_report

    try:
        conn = privacy_report.open_database()
    except FileNotFoundError:
        raise fail(f"no database at {paths.database()} (nothing stored yet)") from None
    try:
        if output == "-":
            privacy_report.dump(conn, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            count = privacy_report.dump(conn, handle)
    finally:
        conn.close()
    err.print(f"{count} events written to {output}")


@dlq_app.command("list")
def dlq_list(
    count: Annotated[int, typer.Option(help="letters to show")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show dead letters with their reasons."""
    from blueplane_ingest import dlq

    letters = dlq.list_letters(redis_conn.connect(load_config()), count)
    if as_json:
        rows = [
            {
                "id": x.id,
                "reason": x.reason,
                "deliveries": x.deliveries,
                "source_id": x.source_id,
                "consumer": x.consumer,
                "original_bytes": len(x.original),
            }
            for x in letters
        ]
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    table = Table("id", "reason", "deliveries", "bytes", title="dead letters")
    for x in letters:
        table.add_row(x.id, x.reason, str(x.deliveries), str(len(x.original)))
    out.print(table)


def _letter_ids(ids: list[str], all_: bool) -> list[str]:
    from blueplane_ingest import dlq

    if all_:
        return [x.id for x in dlq.list_letters(redis_conn.connect(load_config()), 10_000_000)]
    if not ids:
        raise fail("name the letters' ids, or pass --all")
    return ids


@dlq_app.command("retry")
def dlq_retry(
    ids: Annotated[list[str] | None, typer.Argument(help="dead letter ids")] = None,
    all_: Annotated[bool, typer.Option("--all", help="every letter")] = False,
) -> None:
    """Put dead letters back on the events stream."""
    from blueplane_ingest import dlq

    done = dlq.retry(redis_conn.connect(load_config()), _letter_ids(ids or [], all_))
    out.print(f"retried {done}")


@dlq_app.command("drop")
def dlq_drop(
    ids: Annotated[list[str] | None, typer.Argument(help="dead letter ids")] = None,
    all_: Annotated[bool, typer.Option("--all", help="every letter")] = False,
) -> None:
    """Delete dead letters for good."""
    from blueplane_ingest import dlq

    done = dlq.drop(redis_conn.connect(load_config()), _letter_ids(ids or [], all_))
    out.print(f"dropped {done}")


def main() -> None:
    """Entry point: every command's unexpected failure becomes one line and its exit code
    (``blueplane.errors``); usage errors and ``typer.Exit`` keep their own."""
    import os

    from blueplane import errors

    paths.restrict_umask()  # supervisord, Redis and every process inherit it
    try:
        # outside standalone mode click returns a command's exit code instead of exiting
        returned = app(standalone_mode=False)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        sys.exit(errors.EXIT_INTERRUPTED)
    except Exception as exc:
        usage_code = getattr(exc, "exit_code", None)
        if hasattr(exc, "show") and isinstance(usage_code, int):
            exc.show()  # a usage error (typer's click): its own message and code 2
            sys.exit(usage_code)
        if os.environ.get("BLUEPLANE_DEBUG"):
            raise
        code, line = errors.explain(exc, _redis_url_for_messages())
        err.print(f"[red]error:[/red] {line}", highlight=False)
        sys.exit(code)
    except KeyboardInterrupt:
        sys.exit(errors.EXIT_INTERRUPTED)
    sys.exit(returned if isinstance(returned, int) else 0)


def _redis_url_for_messages() -> str:
    try:
        return redis_conn.redis_url(config.load())
    except Exception:
        return ""


if __name__ == "__main__":
    main()
