"""Which time-series backend the metrics worker writes: RedisTimeSeries when loaded, else plain.

``workers.timeseries`` = ``auto`` (default) uses RedisTimeSeries if ``MODULE LIST`` shows the
``timeseries`` module, else plain hashes (``metric_keys.series_chunk_key``); ``plain`` and
``redistimeseries`` force one (forcing the module when it is absent is a configuration error).
The choice is written to ``{bp}:metrics:meta`` so readers know which keys to read.
"""

from __future__ import annotations

import redis

from blueplane_core import metric_keys as mk

PLAIN = "plain"
REDISTIMESERIES = "redistimeseries"


def module_loaded(client: redis.Redis) -> bool:
    """True when the server has the RedisTimeSeries module."""
    try:
        modules = client.execute_command("MODULE", "LIST")
    except redis.ResponseError:
        return False
    for module in modules or []:
        if isinstance(module, dict):
            name = module.get(b"name") or module.get("name")
        else:  # RESP2: flat [b"name", b"timeseries", b"ver", ...]
            pairs = dict(zip(module[::2], module[1::2], strict=False))
            name = pairs.get(b"name") or pairs.get("name")
        if isinstance(name, bytes):
            name = name.decode()
        if name and name.lower() == "timeseries":
            return True
    return False


def choose(client: redis.Redis, setting: str) -> str:
    if setting == PLAIN:
        return PLAIN
    loaded = module_loaded(client)
    if setting == REDISTIMESERIES and not loaded:
        raise ValueError(
            "workers.timeseries = redistimeseries but the server has no timeseries module"
        )
    return REDISTIMESERIES if loaded else PLAIN


def record_backend(client: redis.Redis, setting: str, pricing_version: str) -> str:
    """Choose the backend and publish it (with the layout and pricing versions) in the meta key."""
    backend = choose(client, setting)
    client.hset(
        mk.META_KEY,
        mapping={
            "layout_version": mk.LAYOUT_VERSION,
            "timeseries": backend,
            "pricing_version": pricing_version,
        },
    )
    return backend
