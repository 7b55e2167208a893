"""Human output: each report dict as rich tables (and a bar chart) that fit 80 columns.

One function per report, named like the CLI command. Pure presentation: every number shown here
is in the report dict, and its provenance is shown next to it (``official`` / ``derived`` /
``estimated``), abbreviated ``off`` / ``der`` / ``est`` where space is short, with a legend line
saying what each means. Numbers are rounded here only; ``--json`` carries them unrounded. Times
are stored UTC and shown in the report's zone (``tz``: ``--tz``, config, or the machine's).
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

_SHORT = {"official": "off", "derived": "der", "estimated": "est"}

#: what the provenance labels mean, in plain words (also in docs/query.md).
LEGEND = (
    "source: off = official, the client's own figure (OpenTelemetry, vendor import); "
    "der = derived, counted here from hooks, transcripts and databases; "
    "est = estimated, computed from partial data (a price missing, a model guessed, gaps)"
)


#: one plain phrase per provenance label, where a label is spelt out.
_MEANING = {
    "official": "the client's own figure",
    "derived": "counted here from what was captured",
    "estimated": "computed from partial data",
}


def _zone(r: dict[str, Any]) -> Any:
    """The zone a report was made for (its ``tz``), to show its times in."""
    from blueplane_query.periods import zone

    name = r.get("tz") or (r.get("filter") or {}).get("tz") or "UTC"
    return zone(name)


def project_name(label: str | None, project_hash: str | None) -> str:
    """A project as people read it: its folder name, else the start of its hash."""
    if label:
        return label
    return project_hash[:10] if project_hash else "—"


def _legend() -> Text:
    return Text(LEGEND, style="dim")


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    if isinstance(value, int | float):
        return f"{value:,.0f}"
    return str(value)


def _usd(value: Any, unpriced: int = 0) -> str:
    if value is None:
        return "unpriced"
    text = f"${value:,.2f}"
    return f"{text} +{unpriced} unpriced" if unpriced else text


def _pct(value: Any) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _change(value: Any) -> Text:
    if value is None:
        return Text("—", style="dim")
    return Text(f"{value:+.1f}%", style="green" if value >= 0 else "red")


def _empty(what: str) -> Text:
    return Text(f"no {what} captured in this period yet", style="yellow")


def _chart(labels: list[str], values: list[float], title: str) -> Text:
    """A small horizontal bar chart (<= 78 columns) as rich Text: one line per label, the bar
    scaled to the largest value (drawn by hand: plotext cost ~60 ms to import and build)."""
    top = max(values, default=0.0)
    width = 78 - max((len(x) for x in labels), default=0) - 14
    lines = [title]
    for name, value in zip(labels, values, strict=True):
        bar = "█" * round(width * value / top) if top > 0 else ""
        lines.append(f"{name} {bar} {value:,.2f}")
    return Text("\n".join(lines))


def metrics(r: dict[str, Any]) -> Any:
    period = r["period"]
    tz = _zone(r)
    header = Text(
        f"{tz.show(period['since'])} → {tz.show(period['until'])} ({tz.name}) vs the period before"
    )
    if r["empty"]:
        parts: list[Any] = [header, _empty("sessions")]
    else:
        table = Table(box=None, pad_edge=False)
        for col, justify in (
            ("metric", "left"),
            ("value", "right"),
            ("previous", "right"),
            ("change", "right"),
            ("source", "left"),
        ):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for name, f in r["figures"].items():
            if name in ("acceptance_rate", "tool_error_rate", "api_error_rate"):
                value, previous = _pct(f["value"]), _pct(f["previous"])
            elif name == "cost_usd":
                value = _usd(f["value"], f.get("unpriced_requests", 0))
                previous = _usd(f["previous"])
            else:
                value, previous = _n(f["value"], 1), _n(f["previous"], 1)
            table.add_row(
                name.replace("_", " "),
                value,
                previous,
                _change(f["change_pct"]),
                _SHORT[f["provenance"]],
            )
        parts = [header, table]
        cost = r["figures"]["cost_usd"]
        if cost.get("official_usd") is not None:
            parts.append(
                Text(
                    f"cost reported by the client itself (OpenTelemetry cost_usd) for "
                    f"{_n(cost['official_requests'])} of {_n(cost['requests'])} requests: "
                    f"{_usd(cost['official_usd'])}",
                    style="dim",
                )
            )
        parts.append(_legend())
    copilot = r.get("copilot")
    if copilot:
        parts.append(
            Text(
                f"GitHub Copilot (its own daily reports, {copilot['days']} days): "
                f"{_n(copilot['suggestions'])} suggestions, {_n(copilot['acceptances'])} accepted "
                f"({_pct(copilot['acceptance_rate'])}), {_n(copilot['lines_accepted'])} lines "
                "accepted",
            )
        )
    live = r["live"]
    if live["available"]:
        today = live["today"]
        parts.append(
            Text(
                f"live today ({live['scope']}): {today['prompts']} prompts, {today['requests']} "
                f"requests, {today['tool_calls']} tool calls, "
                f"{_usd(today['cost_usd'], today['unpriced_requests'])}",
                style="cyan",
            )
        )
    else:
        parts.append(Text(f"live metrics unavailable: {live['error']}", style="dim"))
    return Group(*parts)


def sessions(r: dict[str, Any]) -> Any:
    if not r["sessions"]:
        return _empty("sessions")
    tz = _zone(r)
    table = Table(box=None, pad_edge=False, padding=(0, 1), collapse_padding=True)
    left = ("session", "project", "platform", "started")
    for col in ("session", "project", "platform", "started", "prompts", "tools", "accept", "cost"):
        table.add_column(
            col,
            justify="left" if col in left else "right",
            no_wrap=True,
            overflow="ellipsis",
            max_width=12 if col == "project" else None,
        )
    for s in r["sessions"]:
        table.add_row(
            s["session_id"][:8],
            project_name(s.get("project_label"), s.get("project_hash")),
            s["platform"][:11],
            tz.show(s["started_at"]),
            _n(s["prompts"]),
            _n(s["tool_calls"]),
            _pct(s["acceptance_rate"]),
            _usd(s["cost_usd"]),
        )
    pages = max(1, -(-r["total"] // r["limit"]))
    footer = Text(
        f"page {r['page']} of {pages} ({r['total']} sessions; --page N for more); "
        f"times in {tz.name}",
        style="dim",
    )
    return Group(table, footer)


def session(r: dict[str, Any]) -> Any:
    s = r["session"]
    tz = _zone(r)
    head = Table(box=None, show_header=False, pad_edge=False)
    head.add_column(style="bold")
    head.add_column()
    head.add_row("session", s["session_id"])
    head.add_row("platform", f"{s['platform']}  model {s['model'] or '—'}")
    head.add_row("project", project_name(s.get("project_label"), s.get("project_hash")))
    head.add_row(
        "time",
        f"{tz.show(s['started_at'], seconds=True)} → {tz.show(s['ended_at'], seconds=True)[11:]}"
        f" ({tz.name}; {_n((s['active_ms'] or 0) / 60000, 1)} active min, estimated)",
    )
    head.add_row(
        "size", f"{s['prompts']} prompts, {s['requests']} requests, {s['tool_calls']} tool calls"
    )
    head.add_row(
        "tokens",
        f"in {_n(s['input_tokens'])}  out {_n(s['output_tokens'])}  cache w "
        f"{_n(s['cache_write_tokens'])} r {_n(s['cache_read_tokens'])}",
    )
    head.add_row("cost", f"{_usd(s['cost_usd'], s['unpriced_requests'])} ({s['cost_provenance']})")
    head.add_row("errors", f"{s['tool_errors']} tool, {s['api_errors']} API")
    head.add_row(
        "edits",
        f"{r['edits']['changes']} changes, {r['edits']['accepted']} accepted, "
        f"{r['edits']['rejected']} rejected, +{s['lines_added']} −{s['lines_removed']} lines",
    )
    parts: list[Any] = [head]
    if r["timeline"]:
        table = Table(title="timeline", title_justify="left", box=None, pad_edge=False)
        for col in ("#", "kind", "start", "tools", "err", "tokens", "cost"):
            table.add_column(col, justify="left" if col in ("kind", "start") else "right")
        for t in r["timeline"][:40]:
            tokens = (
                t["input_tokens"]
                + t["output_tokens"]
                + t["cache_write_tokens"]
                + t["cache_read_tokens"]
            )
            table.add_row(
                str(t["turn_index"]),
                t["kind"],
                tz.show(t["started_at"], seconds=True)[11:],
                _n(t["tool_calls"]),
                _n(t["tool_errors"]),
                _n(tokens),
                _usd(t["cost_usd"]),
            )
        parts.append(table)
    if r["tools"]:
        parts.append(
            Text(
                "tools: "
                + ", ".join(
                    f"{t['tool']} {t['calls']}"
                    + (f" ({t['errors']} failed)" if t["errors"] else "")
                    for t in r["tools"][:12]
                )
            )
        )
    for i in r["insights"]:
        parts.append(Text(f"[{i['severity']}] {i['title']}", style="yellow"))
    return Group(*parts)


def tools(r: dict[str, Any]) -> Any:
    parts: list[Any] = [Text(n, style="dim") for n in r["notes"]]
    if not r["tools"]:
        return Group(*parts, _empty("tool calls"))
    table = Table(box=None, pad_edge=False)
    for col in ("tool", "calls", "errors", "error %", "P50 ms", "P95 ms"):
        table.add_column(col, justify="left" if col == "tool" else "right")
    for t in r["tools"]:
        table.add_row(
            t["tool"][:28],
            _n(t["calls"]),
            _n(t["errors"]),
            _pct(t["error_rate"]),
            _n(t["p50_ms"]),
            _n(t["p95_ms"]),
        )
    parts.append(table)
    parts.append(
        Text(f"source: {r['source']}; durations {r['provenance']['duration_ms']}", style="dim")
    )
    return Group(*parts)


#: the rows a human ``costs`` table shows: the costliest models/projects, the latest periods.
_COST_ROWS = 30


def costs(r: dict[str, Any]) -> Any:
    if not r["rows"]:
        return _empty("costs")
    parts: list[Any] = []
    if r["by"] == "block":
        tz = _zone(r)
        table = Table(box=None, pad_edge=False)
        start_col = f"block start ({tz.name})"[:26]
        for col in (start_col, "requests", "tokens", "cost", "$/h", "tok/min", ""):
            table.add_column(col, justify="left" if col == start_col else "right")
        for b in r["rows"][-30:]:
            burn = b["burn_rate"]
            table.add_row(
                tz.show(b["start"]),
                _n(b["requests"]),
                _n(b["total_tokens"]),
                _usd(b["cost_usd"], b["unpriced_requests"]),
                "—" if burn is None else f"{burn['cost_usd_per_hour']:.2f}",
                "—" if burn is None else _n(burn["tokens_per_minute"]),
                Text("ACTIVE", style="green") if b["active"] else "",
            )
        parts.append(table)
        active = [b for b in r["rows"] if b["active"] and b["projection"]]
        if active:
            p = active[-1]["projection"]
            parts.append(
                Text(
                    f"active block projected: {_usd(p['cost_usd'])}, "
                    f"{p['remaining_minutes']:.0f} min left (estimated)",
                    style="cyan",
                )
            )
    else:
        table = Table(box=None, pad_edge=False)
        cols = (r["by"], "sessions", "tokens", "cache read", "cost", "reported by client")
        for col in cols:
            table.add_column(col, justify="left" if col == r["by"] else "right")
        ranked = r["by"] in ("model", "project")  # costliest first: show the top
        shown = r["rows"][:_COST_ROWS] if ranked else r["rows"][-_COST_ROWS:]
        for row in shown:
            name = str(row["period"])
            if r["by"] == "project":
                name = project_name(row.get("label"), row["period"])
            table.add_row(
                name[:28],
                _n(row["sessions"]),
                _n(row["total_tokens"]),
                _n(row["cache_read_tokens"]),
                _usd(row["cost_usd"], row["unpriced_requests"]),
                _official(row),
            )
        parts.append(table)
        hidden = len(r["rows"]) - len(shown)
        if hidden:
            which = "cheaper" if ranked else "earlier"
            parts.append(Text(f"… and {_n(hidden)} more ({which}; --json has every row)"))
        if r["by"] in ("day", "week", "month") and len(r["rows"]) > 1:
            recent = r["rows"][-8:]
            parts.append(
                _chart(
                    [str(x["period"])[-5:] for x in recent],
                    [x["cost_usd"] for x in recent],
                    f"cost per {r['by']} (USD)",
                )
            )
    t = r["totals"]
    unpriced = t.get("unpriced_requests", 0)
    if t.get("official_cost_usd") is not None:
        parts.append(
            Text(
                f"reported by the client itself (OpenTelemetry cost_usd) for "
                f"{_n(t['official_requests'])} of {_n(t['requests'])} requests: "
                f"{_usd(t['official_cost_usd'])}",
                style="dim",
            )
        )
    parts.append(
        Text(
            f"total {_usd(t['cost_usd'], unpriced)}, {_n(t['total_tokens'])} tokens "
            f"(cost {r['provenance']['cost_usd']}: {_MEANING[r['provenance']['cost_usd']]})",
            style="bold",
        )
    )
    return Group(*parts)


def _official(row: dict[str, Any]) -> str:
    """The client's own cost beside the computed one ("—" where it reported none)."""
    if row.get("official_cost_usd") is None:
        return "—"
    partial = row["official_requests"] < row["requests"]
    return _usd(row["official_cost_usd"]) + (
        f" ({row['official_requests']} req)" if partial else ""
    )


def requests(r: dict[str, Any]) -> Any:
    if not r["requests"]:
        return _empty("requests")
    tz = _zone(r)
    table = Table(
        title=f"requests {r['page']} of {max(1, -(-r['total'] // r['limit']))} pages "
        f"(times in {tz.name})",
        title_justify="left",
        box=None,
        pad_edge=False,
        padding=(0, 1),
        collapse_padding=True,
    )
    for col in ("time", "session", "project", "model", "tokens", "cost", "official"):
        table.add_column(
            col,
            justify="right" if col in ("tokens", "cost", "official") else "left",
            no_wrap=True,
            overflow="ellipsis",
            max_width={"project": 12, "model": 14}.get(col),
        )
    for q in r["requests"]:
        table.add_row(
            tz.show(q["timestamp"], seconds=True),
            q["session_id"][:8],
            project_name(q.get("project_label"), q.get("project_hash")),
            (q["model"] or "?")[:20],
            _n(q["total_tokens"]),
            _usd(q["cost_usd"]),
            "—" if q["official_cost_usd"] is None else _usd(q["official_cost_usd"]),
        )
    return table


def commits(r: dict[str, Any]) -> Any:
    if not r["commits"]:
        return _empty("commits")
    return Text(
        f"{r['commits']} commits, {r['agent_assisted']} agent-assisted "
        f"({_pct(r['assisted_share'])}, estimated); +{r['lines_added']} −{r['lines_removed']} lines"
    )


def insights(r: dict[str, Any]) -> Any:
    if not r["insights"]:
        return _empty("insights")
    parts: list[Any] = []
    for i in r["insights"]:
        tag = " (heuristic)" if i["heuristic"] else ""
        style = {"critical": "red bold", "warning": "yellow"}.get(i["severity"], "")
        parts.append(Text(f"[{i['severity']}] {i['title']}{tag}", style=style))
        evidence = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in list(i["evidence"].items())[:6]
        )
        parts.append(Text(f"    {evidence}", style="dim"))
        parts.append(Text(f"    → {i['suggestion']}"))
    return Group(*parts)


def status(r: dict[str, Any]) -> Any:
    from blueplane_query.health import render

    return render(r)


def watch(snap: dict[str, Any]) -> Any:
    table = Table(
        title=f"live {snap['scope']} at {snap['at']} (Ctrl-C to stop)", title_justify="left"
    )
    for col in ("", "this hour", "today", "all time"):
        table.add_column(col, justify="left" if not col else "right")
    rows = (
        ("sessions", _n),
        ("prompts", _n),
        ("requests", _n),
        ("tool_calls", _n),
        ("tool_error_rate", _pct),
        ("acceptance_rate", _pct),
        ("output_tokens", _n),
        ("cache_read_tokens", _n),
        ("lines_added", _n),
    )
    for name, fmt in rows:
        table.add_row(
            name.replace("_", " "),
            fmt(snap["this_hour"][name]),
            fmt(snap["today"][name]),
            fmt(snap["total"][name]),
        )
    table.add_row(
        "cost",
        *(
            _usd(snap[p]["cost_usd"], snap[p]["unpriced_requests"])
            for p in ("this_hour", "today", "total")
        ),
    )
    table.caption = block_line(snap.get("block"))
    table.caption_justify = "left"
    return table


def block_line(block: dict[str, Any] | None) -> str:
    """The current 5-hour block in one line (watch and the dashboard's wording)."""
    if not block:
        return "no active 5-hour block"
    left = round(block["remaining_minutes"] or 0)
    projected = (block["projection"] or {}).get("cost_usd")
    burn = (block["burn_rate"] or {}).get("cost_usd_per_hour")
    return (
        f"block {block['start'][11:16]}-{block['end'][11:16]} UTC: {_usd(block['cost_usd'])}"
        + (f", {_usd(burn)}/h" if burn is not None else "")
        + f", {left // 60}h{left % 60:02d}m left"
        + (f", projected {_usd(projected)}" if projected is not None else "")
    )


def export(r: dict[str, Any]) -> Any:
    rows = ", ".join(f"{k} {v}" for k, v in r["rows"].items())
    tag = " (anonymized)" if r["anonymized"] else ""
    return Text(f"wrote {', '.join(r['files'])}{tag}: {rows}")


def team(r: dict[str, Any]) -> Any:
    t = r["totals"]
    head = Text(
        f"{r['members']} members, {t['sessions']} sessions, {_usd(t['cost_usd'])}, "
        f"acceptance {_pct(t['acceptance_rate'])}",
        style="bold",
    )
    table = Table(box=None, pad_edge=False)
    for col in ("member", "sessions", "prompts", "tokens", "cost", "accept"):
        table.add_column(col, justify="left" if col == "member" else "right")
    for m in r["by_member"]:
        table.add_row(
            m["member"],
            _n(m["sessions"]),
            _n(m["prompts"]),
            _n(m["tokens"]),
            _usd(m["cost_usd"]),
            _pct(m["acceptance_rate"]),
        )
    return Group(head, table)
