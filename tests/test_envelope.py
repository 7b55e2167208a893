"""The envelope contract: what validates, what does not and why, and how ids behave."""

from __future__ import annotations

import uuid

import pytest

from blueplane_core import events


def valid(**changes: object) -> dict:
    event = events.make_event(
        event_type="tool_result",
        platform="claude_code",
        source="hook",
        session_id="c7e99e72-66b7-4674-8960-b61a2f229596",
        hook_type="PostToolUse",
        payload={"tool_name": "Edit", "success": True, "duration_ms": 12},
    )
    event.update(changes)
    return event


def test_a_made_event_is_valid() -> None:
    assert events.validate(valid())["event_type"] == "tool_result"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"event_type": "bogus"}, "unknown event_type"),
        ({"source": "telepathy"}, "unknown source"),
        ({"schema": 2}, "unsupported schema"),
        ({"event_id": "not-a-uuid"}, "not a lowercase UUID"),
        ({"timestamp": "yesterday"}, "not ISO-8601"),
        ({"timestamp": "2026-11-22T10:00:00.000+02:00"}, "not UTC"),
        ({"platform": "Claude Code"}, "short lowercase name"),
        ({"session_id": ""}, "session_id"),
        ({"payload": []}, "JSON objects"),
        ({"hook_type": 3}, "hook_type"),
        ({"extra": 1}, "unexpected field"),
    ],
)
def test_invalid_envelopes_are_rejected_with_the_reason(change: dict, reason: str) -> None:
    with pytest.raises(events.InvalidEvent, match=reason):
        events.validate(valid(**change))


def test_missing_field_is_named() -> None:
    event = valid()
    del event["session_id"]
    with pytest.raises(events.InvalidEvent, match="missing field.*session_id"):
        events.validate(event)


def test_every_event_type_has_a_priority_and_a_category() -> None:
    assert set(events.PRIORITY) == set(events.EVENT_TYPES)
    assert set(events.CATEGORY) == set(events.EVENT_TYPES)
    assert all(1 <= p <= 5 for p in events.PRIORITY.values())


def test_new_ids_are_uuidv7_and_time_ordered() -> None:
    first = events.new_event_id(1_700_000_000_000)
    second = events.new_event_id(1_700_000_000_001)
    assert uuid.UUID(first).version == 7
    assert uuid.UUID(first).bytes < uuid.UUID(second).bytes


def test_derived_ids_are_deterministic_and_time_prefixed() -> None:
    a = events.derived_event_id("transcript", "msg_1:req_1", 1_700_000_000_000)
    assert a == events.derived_event_id("transcript", "msg_1:req_1", 1_700_000_000_000)
    assert a != events.derived_event_id("transcript", "msg_2:req_1", 1_700_000_000_000)
    later = events.derived_event_id("transcript", "msg_0", 1_700_000_000_500)
    assert uuid.UUID(a).bytes < uuid.UUID(later).bytes
    assert events.validate(valid(event_id=a))


def test_timestamps_are_utc_with_milliseconds() -> None:
    assert events.format_timestamp(1_700_000_000.1234) == "2023-11-14T22:13:20.123Z"
