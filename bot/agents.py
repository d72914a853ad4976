"""Agent files (Claude Code subagent format) -> `Agent`.

A file is YAML-ish front matter between `---` lines, then the system prompt. Many real
files, ours included, are not valid YAML (a one-line description holding `\\n` escapes and
`Context: …` text), so a file PyYAML rejects is read key by key, the way Claude Code reads
it, instead of being refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import yaml

from bot.errors import AgentFileError
from bot.models import EFFORTS, is_effort

if TYPE_CHECKING:
    from bot.config import Settings

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.DOTALL)
_KEY_LINE = re.compile(r"^([A-Za-z_][\w-]*)[ \t]*:(?:[ \t]|$)")


@dataclass(frozen=True)
class Agent:
    name: str
    description: str
    system_prompt: str
    model: str  # resolved model id, ready for the Messages API
    source: Path
    color: str | None = None
    tools: tuple[str, ...] = ()
    effort: str | None = None  # the file's own `effort:`, which wins over the bot's settings
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


def first_sentence(text: str) -> str:
    """The description's first sentence: enough to say what an agent is for."""
    line = text.strip().split("\n", 1)[0]
    match = re.search(r"^(.+?[.!?])(\s|$)", line)
    return (match.group(1) if match else line).strip()


COLOR_EMOJI = {
    "red": "🔴",
    "orange": "🟠",
    "yellow": "🟡",
    "green": "🟢",
    "blue": "🔵",
    "purple": "🟣",
    "brown": "🟤",
    "black": "⚫",
    "white": "⚪",
    "cyan": "🩵",
    "pink": "🩷",
    "gray": "🩶",
    "grey": "🩶",
}


def color_emoji(color: str | None) -> str:
    """The agent's colour as an emoji; colours outside the list get none."""
    return COLOR_EMOJI.get((color or "").strip().lower(), "")


@dataclass(frozen=True)
class SkippedFile:
    source: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass(frozen=True)
class AgentCatalog:
    agents: tuple[Agent, ...]
    skipped: tuple[SkippedFile, ...] = ()
    warnings: tuple[str, ...] = ()

    def get(self, name: str) -> Agent | None:
        return next((a for a in self.agents if a.name == name), None)


@dataclass(frozen=True)
class ModelChoices:
    """How `model:` values resolve: aliases, and the model for `inherit` or none."""

    default: str
    aliases: Mapping[str, str]

    def resolve(self, value: object) -> tuple[str, str | None]:
        """(model id, warning or None)."""
        text = str(value).strip() if value is not None else ""
        if not text or text.lower() == "inherit":
            return self.default, None
        if text.lower() in self.aliases:
            return self.aliases[text.lower()], None
        if text.startswith("claude-"):
            if text != self.default and text not in self.aliases.values():
                # Dated ids of older models get retired: Claude then answers 404.
                return text, (
                    f"model {text!r} is not one of the current models "
                    f"({', '.join(sorted(set(self.aliases.values())))}); if Claude no longer "
                    f"serves it, answers fall back to {self.default}"
                )
            return text, None
        return self.default, f"unknown model {text!r}, using {self.default}"


def shipped_agents_dir() -> Path:
    """The agents that come with the bot: inside an installed wheel, or the repo's `agents/`."""
    package = Path(__file__).resolve().parent
    installed = package / "_shipped_agents"
    return installed if installed.is_dir() else package.parent / "agents"


def parse_agent(text: str, source: Path, models: ModelChoices) -> tuple[Agent, list[str]]:
    """One agent file's text -> (Agent, warnings). Raises AgentFileError if unusable."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    match = _FRONT_MATTER.match(text)
    if not match:
        raise AgentFileError(f"{source}: no front matter (a '---' block with name and description)")
    try:
        meta = _read_front_matter(match.group(1))
    except AgentFileError as error:
        raise AgentFileError(f"{source}: {error}") from None
    system_prompt = text[match.end() :].strip()
    if not system_prompt:
        raise AgentFileError(f"{source}: the system prompt after the front matter is empty")

    description = meta.pop("description", None)
    if not isinstance(description, str) or not description.strip():
        raise AgentFileError(f"{source}: no description (routing and help need one)")
    name = meta.pop("name", None) or source.stem
    model, warning = models.resolve(meta.pop("model", None))
    warnings = [f"{source}: {warning}"] if warning else []
    effort = meta.pop("effort", None)
    if effort is not None and not is_effort(str(effort).strip().lower()):
        warnings.append(f"{source}: unknown effort {effort!r} (one of {', '.join(EFFORTS)}), using the bot's setting")
        effort = None
    color = meta.pop("color", None)
    agent = Agent(
        name=str(name).strip(),
        description=_decode_escapes(description).strip(),
        system_prompt=system_prompt,
        model=model,
        source=source,
        color=str(color).strip() if color else None,
        tools=_tool_list(meta.pop("tools", None)),
        effort=str(effort).strip().lower() if effort is not None else None,
        extra=MappingProxyType(meta),
    )
    return agent, warnings


def load_catalog(settings: Settings) -> AgentCatalog:
    """The agents the settings name (BOT_AGENTS_DIR, else the shipped ones), with their models."""
    return load_agents(
        settings.agents_dir or shipped_agents_dir(), ModelChoices(settings.default_model, settings.model_aliases)
    )


# The whole file is the system prompt of every answer: past this it crowds out the conversation
# (150,000 tokens of context hold about 450 KB), and is far past any agent's instructions.
AGENT_MAX_BYTES = 200 * 1024


def load_agents(directory: Path, models: ModelChoices) -> AgentCatalog:
    """Every usable `*.md` agent in `directory`; unusable files are skipped with a reason. Of
    two files defining one agent name, the first in alphabetical order is used."""
    agents: list[Agent] = []
    skipped: list[SkippedFile] = []
    warnings: list[str] = []
    if not directory.is_dir():
        return AgentCatalog((), (SkippedFile(directory, "no such folder of agent files"),))
    for path in sorted(directory.glob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        try:
            size = path.stat().st_size
            if size > AGENT_MAX_BYTES:
                skipped.append(
                    SkippedFile(
                        path,
                        f"{size // 1024:,} KB: agent files over {AGENT_MAX_BYTES // 1024} KB are skipped "
                        "(the whole file is the system prompt of every answer)",
                    )
                )
                continue
            agent, file_warnings = parse_agent(path.read_text(encoding="utf-8"), path, models)
        except UnicodeDecodeError:
            skipped.append(SkippedFile(path, "not UTF-8 text"))
            continue
        except AgentFileError as error:
            skipped.append(SkippedFile(path, str(error).removeprefix(f"{path}: ")))
            continue
        except OSError as error:  # a broken or looping link, no permission
            skipped.append(SkippedFile(path, f"cannot be read: {(error.strerror or str(error)).lower()}"))
            continue
        first = next((a for a in agents if a.name == agent.name), None)
        if first is not None:
            skipped.append(
                SkippedFile(
                    path,
                    f"agent {agent.name!r} is already defined by {first.source.name}, which comes first "
                    "alphabetically and is used",
                )
            )
            continue
        agents.append(agent)
        warnings += file_warnings
    return AgentCatalog(tuple(agents), tuple(skipped), tuple(warnings))


def _read_front_matter(block: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(block)
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict):
        return {str(k): v for k, v in data.items()}
    return _read_key_by_key(block)


def _read_key_by_key(block: str) -> dict[str, Any]:
    """Claude Code's lenient reading: each `key:` line starts a value; other lines continue it."""
    entries: list[tuple[str, list[str]]] = []
    for line in block.split("\n"):
        starts = _KEY_LINE.match(line)
        if starts:
            entries.append((starts.group(1), [line]))
        elif entries:
            entries[-1][1].append(line)
    meta: dict[str, Any] = {}
    for key, lines in entries:
        chunk = "\n".join(lines)
        try:
            parsed = yaml.safe_load(chunk)
            meta[key] = parsed[key] if isinstance(parsed, dict) and key in parsed else _raw_value(chunk)
        except yaml.YAMLError as error:
            raw = _raw_value(chunk)
            if key == "description" and raw[:1] in _OPENERS:  # never closed: not prose with colons
                problem = getattr(error, "problem", None) or "not valid YAML"
                raise AgentFileError(f"front matter: {key!r} opens with {raw[0]} and never closes it ({problem})")
            meta[key] = raw
    return meta


_OPENERS = frozenset("\"'[{")


def _raw_value(chunk: str) -> str:
    return chunk.split(":", 1)[1].strip()


def _decode_escapes(text: str) -> str:
    # Plain (unquoted) one-line descriptions carry literal "\n" that mean line breaks.
    return text.replace("\\n", "\n").replace("\\t", "\t")


def _tool_list(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else str(value).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())
