"""The one way capture processes put events on the bus: XADD field ``e`` = orjson bytes.

``emit`` checks the envelope and the privacy rules before anything leaves the process, and drops
events of a category switched off in the config. Hooks, which must not import redis-py, write the
same bytes through the small client (``blueplane_core.resp``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from blueplane_core import allowlist, events, privacy, streams


def encode(event: dict[str, Any]) -> bytes:
    """The wire form of an envelope: compact JSON bytes."""
    return orjson.dumps(event)


class Emitter:
    """Validates, sanitizes and XADDs events; pipelines a batch in one round trip."""

    def __init__(
        self,
        client: Any,
        disabled_categories: Iterable[str] = (),
        *,
        project_labels: bool = False,
    ) -> None:
        """``client``: redis-py's or the small one (``redis_conn.small_client``): both pipeline."""
        self._client = client
        self._disabled = frozenset(disabled_categories)
        # a project's folder name leaves the process only where the config keeps labels
        # (privacy.project_labels = "basename"); off unless the caller says so
        self._labels = project_labels
        self.emitted = 0
        self.dropped = 0

    def allowed(self, event: dict[str, Any]) -> bool:
        return events.CATEGORY.get(event.get("event_type", ""), "other") not in self._disabled

    def check(self, event: dict[str, Any]) -> bytes:
        """The event's bytes, after validation and the privacy check (raises on either).

        A payload or metadata that ``make_event`` cleaned for this event type and that cannot
        have changed since (``events.Checked``) is verified by that alone: its keys are on the
        allow-list (which names no ``privacy.FORBIDDEN_KEYS``) and its values of their kinds.
        Anything else (a plain dict: an event built by hand, a broken mapping) is checked in
        full, key by key and inside every nested value."""
        events.validate(event)
        event_type = event["event_type"]
        verified: tuple[str, ...] = ()
        for section, want in (("payload", event_type), ("metadata", "")):
            given = event[section]
            if type(given) is events.Checked and given.event_type == want:
                verified += (section,)
            else:
                privacy.check_sanitized(given, section)
        problem = allowlist.violation(event, verified)
        if problem:
            raise privacy.PrivacyViolation(problem)
        return encode(event)

    def emit(self, event: dict[str, Any]) -> bool:
        """Send one event; False if its category is switched off."""
        return self.emit_many([event]) == 1

    def emit_many(self, batch: Iterable[dict[str, Any]]) -> int:
        """Send events in one pipeline; returns how many were sent."""
        pipe = self._client.pipeline(transaction=False)
        sent = 0
        for event in batch:
            if not self.allowed(event):
                self.dropped += 1
                continue
            metadata = event.get("metadata", ())
            if not self._labels and "project_label" in metadata:
                if type(metadata) is events.Checked:
                    metadata = metadata.without("project_label")
                else:
                    metadata = dict(metadata)
                    del metadata["project_label"]
                event = {**event, "metadata": metadata}
            pipe.xadd(streams.EVENTS_STREAM, {streams.EVENT_FIELD: self.check(event)})
            sent += 1
        if sent:
            pipe.execute()
        self.emitted += sent
        return sent
