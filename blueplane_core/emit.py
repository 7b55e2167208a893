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
        """The event's bytes, after validation and the privacy check (raises on either)."""
        events.validate(event)
        privacy.check_sanitized(event["payload"], "payload")
        privacy.check_sanitized(event["metadata"], "metadata")
        problem = allowlist.violation(event)
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
            if not self._labels and "project_label" in event.get("metadata", ()):
                event = {**event, "metadata": dict(event["metadata"])}
                del event["metadata"]["project_label"]
            pipe.xadd(streams.EVENTS_STREAM, {streams.EVENT_FIELD: self.check(event)})
            sent += 1
        if sent:
            pipe.execute()
        self.emitted += sent
        return sent
