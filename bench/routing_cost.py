"""What routing a new conversation costs: the size of the router's request for the shipped
agent alone and for a folder of real-world agent files, as input tokens (estimated at 4
characters a token, as the tests' fake Claude bills).

    .venv/bin/python bench/routing_cost.py [AGENTS_DIR ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.agents import ModelChoices, load_agents, shipped_agents_dir  # noqa: E402
from bot.config import DEFAULT_MODEL, DEFAULT_MODEL_ALIASES  # noqa: E402
from bot.router import Router  # noqa: E402

QUESTION = "Alice: Our p99 latency doubled after the deploy. Where do I start?"


def tokens(part: object) -> int:
    return len(json.dumps(part)) // 4


def main(folders: list[Path]) -> None:
    models = ModelChoices(DEFAULT_MODEL, DEFAULT_MODEL_ALIASES)
    print("agents  system+tool (cacheable)  question  output  total input")
    for folder in folders:
        agents = load_agents(folder, models).agents
        request = Router.request(agents, QUESTION, "claude-haiku-5-5")
        stable = tokens(request["system"]) + tokens(request["tools"])
        question = tokens(request["messages"])
        print(f"{len(agents):6d}  {stable:24d}  {question:8d}  {request['max_tokens']:6d}  {stable + question:11d}"
              f"   ({folder.name})")


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or [shipped_agents_dir(), ROOT / "tests" / "agent_fixtures"]
    main(paths)
