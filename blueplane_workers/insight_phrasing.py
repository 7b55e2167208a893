"""Optional LLM phrasing of insights, from metadata alone; off by default.

``insights.llm_provider`` = ``off`` (default), ``local`` (an OpenAI-compatible endpoint at
``insights.llm_url``, e.g. a local llama.cpp / Ollama server), ``openai`` or ``anthropic`` (API
key from ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY``). The prompt holds only what
:func:`build_prompt` puts in it: the insight's kind, severity, title, evidence numbers and
suggestion — never content, paths or ids beyond the hashed subject. With the provider off, or
when a call fails, insights keep their rule-written text: phrasing never blocks a rule.
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Protocol

from blueplane_workers.insight_rules import Insight

if TYPE_CHECKING:
    import urllib.request

log = logging.getLogger("blueplane.workers.insights")

TIMEOUT_S = 20


def build_prompt(insight: Insight) -> str:
    """The whole prompt sent to a provider: metadata of one insight, nothing else."""
    facts = {
        "kind": insight.kind,
        "severity": insight.severity,
        "heuristic": insight.heuristic,
        "title": insight.title,
        "evidence": insight.evidence,
        "suggestion": insight.suggestion,
    }
    return (
        "Rewrite this developer-tool usage insight as two short, plain sentences for the "
        "developer: what the numbers show, then what to try. Use only these facts; do not invent "
        "numbers.\n" + json.dumps(facts, sort_keys=True)
    )


class Phraser(Protocol):
    def phrase(self, insight: Insight) -> str | None: ...


class Off:
    """The default: no phrasing, no network."""

    def phrase(self, insight: Insight) -> str | None:
        return None


class HttpPhraser:
    """One HTTP JSON call per insight (OpenAI-compatible chat, or Anthropic messages)."""

    def __init__(self, provider: str, model: str, url: str) -> None:
        self.provider = provider
        self.model = model
        self.url = url

    def request(self, prompt: str) -> urllib.request.Request:
        import urllib.request  # only when phrasing is configured: http.client, email, ssl

        if self.provider == "anthropic":
            body = {
                "model": self.model or "claude-haiku-4-5",
                "max_tokens": 200,
                "messages": [{"role": "user", "content": prompt}],
            }
            headers = {
                "x-api-key": os.environ.get("ANTHROPIC_API_KEY", ""),
                "anthropic-version": "2023-06-01",
            }
            url = self.url or "https://api.anthropic.com/v1/messages"
        else:
            body = {
                "model": self.model or "gpt-4o-mini",
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": 200,
            }
            headers = {}
            if self.provider == "openai":
                headers["authorization"] = "Bearer " + os.environ.get("OPENAI_API_KEY", "")
            url = self.url or "https://api.openai.com/v1/chat/completions"
        headers["content-type"] = "application/json"
        return urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")

    def phrase(self, insight: Insight) -> str | None:
        import urllib.request

        try:
            with urllib.request.urlopen(
                self.request(build_prompt(insight)), timeout=TIMEOUT_S
            ) as r:
                reply = json.loads(r.read())
        except (OSError, ValueError) as exc:
            log.warning("insight phrasing by %s failed: %s", self.provider, exc)
            return None
        if self.provider == "anthropic":
            parts = [b.get("text", "") for b in reply.get("content", []) if isinstance(b, dict)]
            return "".join(parts).strip() or None
        choices = reply.get("choices") or [{}]
        return (choices[0].get("message", {}).get("content") or "").strip() or None


def from_config(provider: str, model: str = "", url: str = "") -> Phraser:
    if provider == "off":
        return Off()
    return HttpPhraser(provider, model, url)
