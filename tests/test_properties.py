"""Property-based tests (hypothesis): the Markdown splitter and the agent-file loader.

The splitter is checked against the independent reading of its rules in tests/test_split.py
(`assert_valid`, `stream`): for any text, any limit and any way of cutting the text into
deltas, streaming gives the same messages as the whole text, every message fits and has
balanced code fences, and the messages are the text (modulo the fences closed and reopened at
a break and whitespace exactly at a break, as the module docstring promises).

Examples are derandomized (the same every run, no example database), so CI is deterministic.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_split import CLOSER, OPENER, assert_valid, open_fence, stream

from bot.agents import ModelChoices, load_agents, parse_agent
from bot.slack.split import split_markdown

PROPERTY = settings(
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- the splitter ---------------------------------------------------------------------------------

INDENT = st.sampled_from(["", "", " ", "  ", "   "])
# Markers of at most 4 characters: the splitter treats a marker longer than a tenth of the limit
# as no fence (documented), and the smallest limit is 40.
MARKER = st.sampled_from(["```", "```", "~~~", "````"])
INFO = st.sampled_from(["", "", "python", "sql", 'python title="app.py"', " go ", "js{1,3}"])
WORD = st.one_of(
    st.sampled_from(
        [
            "the",
            "a",
            "retry",
            "p99",
            "**bold**",
            "`inline`",
            "``double``",
            "```not`a fence```",
            "```x```",
            "~~~",
            "``",
            "~~",
            "é",
            "日本語",
            "🔴",
            "a\tb",
            "-",
            "#",
        ]
    ),
    st.text(alphabet="ab`~ \t.é😀", min_size=1, max_size=8),
    st.integers(20, 260).map(lambda n: "x" * n),  # a long word without spaces
)
PROSE = st.lists(WORD, min_size=1, max_size=40).flatmap(
    lambda ws: st.sampled_from([" ", "  ", "\t"]).map(lambda sep: sep.join(ws))
)
LINE = st.one_of(
    PROSE,
    PROSE,
    st.builds(lambda i, p: i + p, st.sampled_from(["\t", "    ", "- ", "1. ", "| "]), PROSE),
    st.builds(lambda i, m, info: i + m + info, INDENT, MARKER, INFO),  # opening (or closing) fence
    st.builds(lambda i, m: i + m, INDENT, MARKER),  # closing fence
    st.sampled_from(["", "", "   ", "\t", " \t "]),  # blank lines
)
TEXT = st.builds(
    lambda lines, end: "\n".join(lines) + end, st.lists(LINE, max_size=50), st.sampled_from(["", "\n", "\n\n", " "])
)


def documented_exception(text: str, limit: int) -> bool:
    """Code blocks the splitter does not promise to keep balanced (see its docstring): an opening
    fence whose marker is longer than a tenth of the limit, or whose line does not fit in a
    message together with its closing fence."""
    fence = None
    for line in text.split("\n"):
        if fence is None:
            m = OPENER.fullmatch(line)
            if m and not (m[2][0] == "`" and "`" in m[3]):
                if len(m[2]) > limit // 10 or len(line.rstrip()) + len(m[1]) + len(m[2]) + 1 > limit:
                    return True
                fence = m[2]
        else:
            m = CLOSER.fullmatch(line)
            if m and m[1][0] == fence[0] and len(m[1]) >= len(fence):
                fence = None
    return False


LIMIT = st.one_of(st.sampled_from([40, 41, 60, 80, 97]), st.integers(40, 600))
CHUNKS = st.lists(st.integers(1, 40), min_size=1, max_size=8)


@PROPERTY
@given(text=TEXT, limit=LIMIT, chunks=CHUNKS)
def test_any_text_any_limit_any_chunking(text, limit, chunks):
    assume(not documented_exception(text, limit))
    messages = split_markdown(text, limit)
    # Every message fits, is not blank, has balanced fences; nothing lost, changed or invented;
    # a message inside a code block reopens it with its fence (a long info string may be cut to
    # its first word or dropped: the reopening line is kept under a tenth of the limit).
    assert_valid(messages, text, limit, exact_info=False)
    # Streamed in any deltas: the same messages as the whole text.
    assert stream(text, chunks, limit) == messages
    # An answer that fits stays one message, byte for byte.
    if len(text) <= limit and open_fence(text) is None:
        assert messages == ([text] if text else [])


@PROPERTY
@given(text=TEXT, limit=LIMIT)
def test_one_character_at_a_time_gives_the_same_messages(text, limit):
    assert stream(text, [1], limit) == split_markdown(text, limit)


# -- the agent loader -----------------------------------------------------------------------------

MODELS = ModelChoices("claude-sonnet-5-5", {"sonnet": "claude-sonnet-5-5", "opus": "claude-opus-5-5"})
# (not a word YAML 1.1 reads as a boolean or null: `name: on` is True)
NAME = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True).filter(
    lambda n: n not in {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}
)
# Descriptions as people write them: sentences with colons, quotes, '#', line breaks.
DESCRIPTION_LINE = st.lists(
    st.sampled_from(
        ["Use", "this", "agent", "for", "queues.", "Context:", "it's", '"quoted"', "#1", "a: b", "x", "é", "-"]
    ),
    min_size=1,
    max_size=10,
).map(" ".join)
DESCRIPTION = st.lists(DESCRIPTION_LINE, min_size=1, max_size=4).map("\n".join)
TOOLS = st.lists(st.sampled_from(["Read", "Grep", "Bash", "Edit", "WebFetch"]), max_size=4, unique=True)
MODEL = st.sampled_from([None, "sonnet", "opus", "inherit", "claude-opus-5-5", "SONNET"])
EXPECTED_MODEL = {
    None: "claude-sonnet-5-5",
    "sonnet": "claude-sonnet-5-5",
    "SONNET": "claude-sonnet-5-5",
    "opus": "claude-opus-5-5",
    "inherit": "claude-sonnet-5-5",
    "claude-opus-5-5": "claude-opus-5-5",
}
# Keys only YAML reads right: a key with a space, and a quoted one ("display name: ..." is no
# `key:` line for the key-by-key fallback).
EXTRA = st.dictionaries(
    st.sampled_from(["memory", "permissionMode", "display name", "x.y", "maxTurns"]),
    st.one_of(st.integers(0, 99), st.sampled_from(["project", "plan", "two words", "a: b"])),
    max_size=3,
)


def _description_yaml(description: str, style: str) -> str:
    if style == "double":
        return yaml.safe_dump({"description": description}, default_style='"', width=10_000, allow_unicode=True)
    if style == "single" and "\n" not in description:
        return "description: '" + description.replace("'", "''") + "'\n"
    if style == "literal":
        return "description: |-\n" + "".join(f"  {line}\n" for line in description.split("\n"))
    return yaml.safe_dump({"description": description}, width=10_000, allow_unicode=True)  # plain or quoted


def _tools_yaml(tools: list[str], style: str) -> str:
    if not tools:
        return ""
    if style == "comma":
        return "tools: " + ", ".join(tools) + "\n"
    if style == "flow":
        return "tools: [" + ", ".join(tools) + "]\n"
    return "tools:\n" + "".join(f"  - {t}\n" for t in tools)


@st.composite
def agent_files(draw):
    name = draw(NAME)
    description = draw(DESCRIPTION)
    tools = draw(TOOLS)
    model = draw(MODEL)
    extra = draw(EXTRA)
    front = f"name: {name}\n" + _description_yaml(
        description, draw(st.sampled_from(["plain", "double", "single", "literal"]))
    )
    front += _tools_yaml(tools, draw(st.sampled_from(["comma", "flow", "block"])))
    if model is not None:
        front += f"model: {model}\n"
    if extra:
        front += yaml.safe_dump(extra, width=10_000, allow_unicode=True)
    body = draw(st.sampled_from(["You are an expert.", "You review code.\n\nStep 1: read.\n", "You --- help."]))
    text = f"---\n{front}---\n{body}"
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    if draw(st.booleans()):
        text = "\ufeff" + text
    expected = {"name": name, "description": description, "tools": tuple(tools), "model": EXPECTED_MODEL[model]}
    return text, expected, extra, body.strip()


@PROPERTY
@given(agent_files())
def test_agent_front_matter_round_trips(case):
    text, expected, extra, body = case
    agent, warnings = parse_agent(text, Path("agent.md"), MODELS)
    assert warnings == []
    description = expected["description"]
    assert (agent.name, agent.description, agent.tools, agent.model) == (
        expected["name"],
        description,
        expected["tools"],
        expected["model"],
    )
    assert dict(agent.extra) == extra
    assert agent.system_prompt == body


@PROPERTY
@given(st.lists(agent_files(), min_size=1, max_size=4), st.data())
def test_a_folder_loads_each_name_once_and_skips_readmes(tmp_path_factory, cases, data):
    folder = tmp_path_factory.mktemp("agents")
    first_file: dict[str, str] = {}
    for i, (text, expected, _, _) in enumerate(cases):
        file = f"{i:02d}-agent.md"
        (folder / file).write_text(text, encoding="utf-8", newline="")
        first_file.setdefault(expected["name"], file)
    # A README (any case) is documentation, never an agent nor a skipped file.
    readme = data.draw(st.sampled_from(["README.md", "readme.md", "ReadMe.md"]))
    (folder / readme).write_text(cases[0][0], encoding="utf-8", newline="")
    catalog = load_agents(folder, MODELS)
    assert {a.name: a.source.name for a in catalog.agents} == first_file
    assert [a.source.name for a in catalog.agents] == sorted(first_file.values())
    duplicates = sorted({f"{i:02d}-agent.md" for i in range(len(cases))} - set(first_file.values()))
    assert [s.source.name for s in catalog.skipped] == duplicates
    assert all("is already defined by" in s.reason and "first alphabetically" in s.reason for s in catalog.skipped)
