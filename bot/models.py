"""What the Claude models take: effort levels, how far thinking can be turned down, output
limits. Facts from Anthropic's model pages (checked 2026-12): "What's new in Claude Sonnet 5.5",
the Haiku 5.5 and Opus 5.5 migration guides, and the effort page
(platform.claude.com/docs/en/build-with-claude/effort).

The 5.5 models think adaptively by default and thinking tokens count toward `max_tokens`, so
the output limit is chosen with the effort, never on its own.
"""

from __future__ import annotations

import re
from typing import Any

EFFORTS = ("low", "medium", "high", "xhigh", "max")  # output_config.effort, lowest first
CURRENT_MODELS = ("claude-sonnet-5-5", "claude-opus-5-5", "claude-haiku-5-5")
MAX_OUTPUT_TOKENS = 128_000  # every 5.5 model (model overview pages)

# Room for thinking plus a long answer, by effort. Thinking is billed as output only when it
# happens, so a generous limit costs nothing; a tight one cuts answers short. Opus 5.5's guide:
# "at xhigh or max effort ... start at 64k tokens"; the effort page sets 128k for agentic coding.
MAX_TOKENS_BY_EFFORT = {"low": 16_000, "medium": 32_000, "high": 64_000, "xhigh": 96_000, "max": 128_000}


# The effort parameter is documented for the Claude 5 generation (effort page); an older model
# that is still served is sent none and thinks at its own default.
_TAKES_EFFORT = re.compile(r"^claude-[a-z]+-5(-|$)")


def takes_effort(model: str) -> bool:
    return bool(_TAKES_EFFORT.match(model))


def is_effort(value: object) -> bool:
    return isinstance(value, str) and value in EFFORTS


def max_tokens_for(effort: str, limit: int | None = None) -> int:
    """The operator's `limit`, else an output limit with room for the thinking `effort` brings
    and the answer after it."""
    return limit or MAX_TOKENS_BY_EFFORT.get(effort, MAX_OUTPUT_TOKENS)


def least_thinking(model: str, effort: str) -> dict[str, Any] | None:
    """The `thinking` setting that thinks least on `model` (None: leave the field out).

    Haiku 5.5 accepts `disabled` at low/medium/high effort. Sonnet 5.5 refuses `disabled` and
    names `between_tools` ("the lowest thinking setting ... without tools, the response contains
    only text"), also at low/medium/high only. Opus 5.5 thinks always: low effort is the least.
    """
    if effort not in ("low", "medium", "high"):
        return None
    if model.startswith("claude-sonnet-5-5"):
        return {"type": "between_tools"}
    if model.startswith(("claude-opus-5-5", "claude-fable")):
        return None
    return {"type": "disabled"}  # Haiku 5.5, and the models before adaptive thinking
