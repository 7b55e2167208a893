"""The query side's Redis reader: ``blueplane_core.resp.Client`` (no redis-py: its ~200 ms of
imports alone would break the 300 ms budget of a ``bp-query`` command started as a fresh
process), whose connection failures become the query side's ``RedisUnavailable`` with a hint.

It offers the redis-py method names the readers use (``get``, ``mget``, ``hgetall``, ...);
replies are bytes, as with redis-py. The address is ``blueplane_core.redis_conn.redis_url``,
which may be a cluster URL: the client follows the cluster's redirects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from blueplane_core import resp
from blueplane_core.config import Config
from blueplane_core.redis_conn import redis_url
from blueplane_query.errors import RedisUnavailable

ReplyError = resp.ReplyError


class RedisReader(resp.Client):
    """A small client whose "Redis is not there" is a RedisUnavailable (a QueryError)."""

    @classmethod
    def from_config(cls, config: Config) -> RedisReader:
        # replies through hiredis: a live view reads a day of per-minute counters
        return resp.parses_in_c(
            cls(redis_url(config), min(float(config["redis.socket_timeout_s"]), 5.0))
        )

    def pipeline(  # type: ignore[override]
        self, commands: Sequence[Sequence[Any]] | bool = False, transaction: bool = False
    ) -> Any:
        """The reader's own form, ``pipeline([cmd, ...])`` -> replies (as ``execute_many``);
        without commands, a queued pipeline as on the core client."""
        if isinstance(commands, bool):
            return super().pipeline(transaction=commands or transaction)
        return self.execute_many(commands)

    def execute_many(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        try:
            return super().execute_many(commands)
        except resp.Unavailable as exc:
            raise RedisUnavailable(
                f"{exc}: is the pipeline running? (`blueplane up`, `blueplane status`)"
            ) from None


def _safe(url: str) -> str:
    """The URL without a password, for messages."""
    return resp.safe_url(url)
