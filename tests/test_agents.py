"""Agent files: the shipped agent, model aliases, and files a naive parser would choke on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.agents import ModelChoices, load_agents, load_catalog, parse_agent, shipped_agents_dir
from bot.config import load_settings
from bot.errors import AgentFileError

ROOT = Path(__file__).resolve().parent.parent
SHARED_AGENT = ROOT.parent / "shared" / "agents" / "backend-senior-engineer.md"
MODELS = ModelChoices(
    "claude-sonnet-5-5", {"sonnet": "claude-sonnet-5-5", "opus": "claude-opus-5-5", "haiku": "claude-haiku-5-5"}
)


def test_shipped_agent_is_the_shared_file_byte_for_byte():
    if not SHARED_AGENT.exists():
        pytest.skip("shared/ is not beside this checkout")
    assert (ROOT / "agents" / "backend-senior-engineer.md").read_bytes() == SHARED_AGENT.read_bytes()


def test_shipped_agent_front_matter_is_not_valid_yaml_yet_loads():
    text = (ROOT / "agents" / "backend-senior-engineer.md").read_text()
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(text.split("---\n")[1])
    catalog = load_agents(shipped_agents_dir(), MODELS)
    assert catalog.skipped == ()
    agent = catalog.get("backend-senior-engineer")
    assert agent is not None
    assert agent.model == "claude-sonnet-5-5"
    assert agent.color == "purple"
    assert agent.description.startswith("Use this agent when working on backend architecture")
    assert "\n\n<example>\nContext: User is implementing" in agent.description  # \n escapes decoded
    assert "\\n" not in agent.description
    assert agent.system_prompt.startswith("You are a Senior Backend Engineer with 10+ years")
    assert agent.system_prompt == text.split("\n---\n", 1)[1].strip()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


@pytest.mark.parametrize(
    "model, expected",
    [
        ("sonnet", "claude-sonnet-5-5"),
        ("opus", "claude-opus-5-5"),
        ("haiku", "claude-haiku-5-5"),
        ("inherit", "claude-sonnet-5-5"),
        ("claude-haiku-5-5", "claude-haiku-5-5"),
    ],
)
def test_model_aliases_inherit_and_current_ids_resolve(tmp_path, model, expected):
    agent, warnings = parse_agent(
        f"---\nname: a\ndescription: d\nmodel: {model}\n---\nBody\n", tmp_path / "a.md", MODELS
    )
    assert agent.model == expected and warnings == []


@pytest.mark.parametrize("model", ["claude-sonnet-4-20250514", "claude-opus-4-1"])
def test_a_model_id_that_is_not_current_is_kept_with_a_warning(tmp_path, model):
    agent, warnings = parse_agent(
        f"---\nname: a\ndescription: d\nmodel: {model}\n---\nBody\n", tmp_path / "a.md", MODELS
    )
    assert agent.model == model  # Claude may still serve it; if not, answers fall back
    (warning,) = warnings
    assert f"model '{model}' is not one of the current models" in warning
    assert "fall back to claude-sonnet-5-5" in warning


@pytest.mark.parametrize(
    "value, effort, warned", [("high", "high", False), ("XHigh", "xhigh", False), ("extreme", None, True)]
)
def test_an_agent_files_effort_is_read_and_a_wrong_one_is_reported(tmp_path, value, effort, warned):
    agent, warnings = parse_agent(
        f"---\nname: a\ndescription: d\neffort: {value}\n---\nBody\n", tmp_path / "a.md", MODELS
    )
    assert agent.effort == effort and "effort" not in agent.extra
    assert bool(warnings) == warned and all("unknown effort 'extreme'" in w for w in warnings)


def test_no_model_means_the_default_model(tmp_path):
    agent, _ = parse_agent("---\nname: a\ndescription: d\n---\nBody\n", tmp_path / "a.md", MODELS)
    assert agent.model == "claude-sonnet-5-5"


def test_unknown_model_falls_back_to_default_with_a_warning(tmp_path):
    agent, warnings = parse_agent("---\nname: a\ndescription: d\nmodel: gpt-9\n---\nBody\n", tmp_path / "a.md", MODELS)
    assert agent.model == "claude-sonnet-5-5"
    assert "gpt-9" in warnings[0]


def test_alias_and_default_model_can_be_overridden_by_environment(tmp_path):
    settings = load_settings(
        {
            "BOT_MODEL_SONNET": "claude-sonnet-9",
            "BOT_DEFAULT_MODEL": "claude-haiku-5-5",
            "BOT_AGENTS_DIR": str(tmp_path),
        }
    )
    write(tmp_path, "a.md", "---\nname: a\ndescription: d\nmodel: sonnet\n---\nBody\n")
    write(tmp_path, "b.md", "---\nname: b\ndescription: d\nmodel: inherit\n---\nBody\n")
    catalog = load_catalog(settings)
    assert catalog.get("a").model == "claude-sonnet-9"
    assert catalog.get("b").model == "claude-haiku-5-5"


def test_crlf_bom_quoted_description_tools_list_and_extra_keys_load(tmp_path):
    text = (
        '\ufeff---\r\nname: reviewer\r\ndescription: "Reviews code.\\nUse it for PRs."\r\n'
        "tools: Read, Grep, Bash\r\nmemory: project\r\npermissionMode: plan\r\n---\r\nYou review.\r\n"
    )
    agent, _ = parse_agent(text, tmp_path / "reviewer.md", MODELS)
    assert agent.description == "Reviews code.\nUse it for PRs."
    assert agent.tools == ("Read", "Grep", "Bash")
    assert dict(agent.extra) == {"memory": "project", "permissionMode": "plan"}
    assert agent.system_prompt == "You review."


def test_missing_name_uses_the_file_name(tmp_path):
    agent, _ = parse_agent("---\ndescription: d\n---\nBody", tmp_path / "db-tuner.md", MODELS)
    assert agent.name == "db-tuner"


@pytest.mark.parametrize(
    "text, problem",
    [
        ("Just a prompt, no front matter.", "no front matter"),
        ("---\nname: a\ndescription: d\n---\n   \n", "system prompt"),
        ("---\nname: a\n---\nBody", "no description"),
        ("X---\nname: a\ndescription: d\n---\nBody", "no front matter"),  # text before the front matter
        ("---\nname: a\ndescription: d\nBody without a closing line", "no front matter"),
    ],
)
def test_unusable_files_give_a_message_naming_the_file_and_the_problem(tmp_path, text, problem):
    path = tmp_path / "broken.md"
    with pytest.raises(AgentFileError) as error:
        parse_agent(text, path, MODELS)
    assert str(path) in str(error.value) and problem in str(error.value)


def test_a_folder_with_broken_files_loads_the_good_ones_and_lists_the_rest(tmp_path):
    write(tmp_path, "good.md", "---\nname: good\ndescription: d\n---\nBody")
    write(tmp_path, "bad.md", "no front matter")
    (tmp_path / "binary.md").write_bytes(b"\xff\xfe\x00garbage")
    write(tmp_path, "z-copy.md", "---\nname: good\ndescription: d\n---\nBody")
    catalog = load_agents(tmp_path, MODELS)
    assert [a.name for a in catalog.agents] == ["good"]
    assert sorted(s.source.name for s in catalog.skipped) == ["bad.md", "binary.md", "z-copy.md"]


FIXTURES = ROOT / "tests" / "agent_fixtures"
EXPECTED = {  # file -> (agent name, resolved model, colour, description starts with)
    "one-line-escaped-description.md": ("backend-senior-engineer", "claude-sonnet-5-5", "purple", "Use this agent"),
    "quoted-description.md": ("api-designer", "claude-opus-5-5", "blue", "Designs REST and gRPC APIs.\n\nExamples:"),
    "single-quoted.md": ("sql-tuner", "claude-haiku-5-5", "green", "Tunes slow SQL queries and indexes. It's"),
    "block-scalar.md": ("incident-commander", "claude-sonnet-5-5", "red", "Runs incident response for outages.\nUse"),
    "folded-scalar.md": ("cost-analyst", "claude-sonnet-5-5", "yellow", "Analyses cloud bills and finds savings"),
    "tools-yaml-list.md": ("log-detective", "claude-sonnet-5-5", None, "Finds root causes in logs."),
    "tools-comma-list.md": ("test-writer", "claude-opus-4-1-20250805", "orange", "Writes tests"),
    "unknown-model.md": ("legacy-helper", "claude-sonnet-5-5", "teal", "Helps with legacy Java"),
    "extra-keys.md": ("security-reviewer", "claude-sonnet-5-5", "purple", "Reviews code for security"),
    "no-name-uses-file-name.md": ("no-name-uses-file-name", "claude-sonnet-5-5", None, "Plans database migrations"),
    "unquoted-colons-multiline.md": ("queue-expert", "claude-haiku-5-5", None, "Use for queues. Examples: Context:"),
    "windows-line-endings.md": ("cache-designer", "claude-sonnet-5-5", "cyan", "Designs caching layers."),
    "byte-order-mark.md": ("kafka-operator", "claude-sonnet-5-5", None, "Operates Kafka clusters."),
}


def test_real_world_agent_file_shapes_all_load_the_way_claude_code_reads_them():
    catalog = load_agents(FIXTURES, MODELS)
    assert catalog.skipped == ()
    loaded = {a.source.name: a for a in catalog.agents}
    assert set(loaded) == set(EXPECTED)
    for file, (name, model, color, description) in EXPECTED.items():
        agent = loaded[file]
        assert (agent.name, agent.model, agent.color) == (name, model, color), file
        assert agent.description.startswith(description), file
        assert agent.system_prompt.startswith("You "), file
    assert loaded["tools-yaml-list.md"].tools == ("Read", "Grep", "Bash")
    assert loaded["tools-comma-list.md"].tools == ("Read", "Write", "Edit", "Bash")
    assert dict(loaded["extra-keys.md"].extra)["permissionMode"] == "plan"
    assert [w for w in catalog.warnings if "gpt-4o" in w]  # unknown model: default, with a warning


def test_unusable_files_are_skipped_each_with_its_reason_and_never_stop_the_others():
    catalog = load_agents(FIXTURES / "unusable", MODELS)
    assert catalog.agents == ()
    reasons = {s.source.name: s.reason for s in catalog.skipped}
    assert reasons.keys() == {
        "no-front-matter.md",
        "empty-body.md",
        "no-description.md",
        "unterminated.md",
        "not-utf8.md",
    }
    assert "no front matter" in reasons["no-front-matter.md"]
    assert "empty" in reasons["empty-body.md"]
    assert "no description" in reasons["no-description.md"]
    assert "utf-8" in reasons["not-utf8.md"].lower()


# -- front matter that only a YAML reader gets right, line endings, READMEs and duplicates --------


def test_valid_yaml_front_matter_is_read_as_yaml_not_key_by_key(tmp_path):
    # Quoted keys, a key with a space and an alias are plain YAML, but no `key:` line each.
    text = (
        '---\n"name": reviewer\n"description": &d "Reviews code."\ndisplay name: Code Reviewer\n'
        "summary: *d\ntools: [Read, Grep]\n---\nYou review.\n"
    )
    agent, warnings = parse_agent(text, tmp_path / "x.md", MODELS)
    assert (agent.name, agent.description, agent.tools, warnings) == ("reviewer", "Reviews code.", ("Read", "Grep"), [])
    assert dict(agent.extra) == {"display name": "Code Reviewer", "summary": "Reviews code."}


def test_a_block_that_is_no_valid_yaml_is_read_key_by_key(tmp_path):
    # An unquoted ": " in the description makes the whole block invalid YAML. Each key is then
    # read on its own: its continuation lines belong to it, a value that is YAML on its own is
    # read as YAML (quotes, lists, `on` as a key), and one that is not keeps its raw text.
    text = (
        "---\ndescription: Use it: for queues.\\tFast.\n  Context: x\n"
        'name: "quoted"\ntools: [Read, Grep]\non: push\nmodel : [opus\n---\nBody\n'
    )
    agent, warnings = parse_agent(text, tmp_path / "a.md", MODELS)
    assert agent.description == "Use it: for queues.\tFast.\n  Context: x"  # raw: as written
    assert (agent.name, agent.tools, dict(agent.extra)) == ("quoted", ("Read", "Grep"), {"on": "push"})
    assert agent.model == "claude-sonnet-5-5"
    assert warnings == [f"{tmp_path / 'a.md'}: unknown model '[opus', using claude-sonnet-5-5"]


def test_empty_tool_names_are_dropped_and_warnings_list_the_choices(tmp_path):
    text = "---\nname: a\ndescription: d\ntools: Read, , Grep,\neffort: extreme\nmodel: claude-x-1\n---\nBody\n"
    agent, warnings = parse_agent(text, tmp_path / "a.md", MODELS)
    assert agent.tools == ("Read", "Grep")
    assert "(claude-haiku-5-5, claude-opus-5-5, claude-sonnet-5-5)" in warnings[0]
    assert "(one of low, medium, high, xhigh, max)" in warnings[1]


@pytest.mark.parametrize("newline", ["\r\n", "\r", "\n"])
@pytest.mark.parametrize("bom", ["\ufeff", ""])
def test_windows_and_old_mac_line_endings_and_a_byte_order_mark_read_like_plain_newlines(tmp_path, newline, bom):
    text = "---\nname: a\ndescription: |\n  Line one.\n  Line two.\n---\nStep 1.\n\nStep 2.\n"
    agent, _ = parse_agent(bom + text.replace("\n", newline), tmp_path / "a.md", MODELS)
    assert agent.name == "a"
    assert agent.description == "Line one.\nLine two."
    assert agent.system_prompt == "Step 1.\n\nStep 2."


def test_readmes_are_neither_agents_nor_skipped_and_the_first_file_of_a_name_wins(tmp_path):
    agent_file = "---\nname: {name}\ndescription: {d}\n---\nBody"
    write(tmp_path, "README.md", agent_file.format(name="readme", d="docs"))
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "readme.md", "no front matter")
    write(tmp_path, "Readme.md", "no front matter either")
    write(tmp_path, "b.md", agent_file.format(name="twin", d="first"))
    write(tmp_path, "a.md", agent_file.format(name="twin", d="sorted first"))
    write(tmp_path, "c.md", agent_file.format(name="other", d="d"))
    catalog = load_agents(tmp_path, MODELS)
    assert [(a.source.name, a.name, a.description) for a in catalog.agents] == [
        ("a.md", "twin", "sorted first"),
        ("c.md", "other", "d"),
    ]
    assert [str(s) for s in catalog.skipped] == [
        f"{tmp_path / 'b.md'}: agent 'twin' is already defined by a.md, which comes first alphabetically and is used"
    ]
    assert catalog.get("other") is catalog.agents[1] and catalog.get("readme") is None


def test_front_matter_with_a_quote_or_bracket_that_never_closes_is_skipped_not_read_as_garbage(tmp_path):
    write(tmp_path, "bracket.md", "---\nname: b\ndescription: [Designs APIs, reviews\n---\nbody")
    write(tmp_path, "quote.md", '---\nname: q\ndescription: "Designs APIs\n---\nbody')
    write(tmp_path, "colons.md", "---\nname: c\ndescription: Use it for: APIs. Example: x: y\n---\nbody")
    catalog = load_agents(tmp_path, MODELS)
    assert [a.name for a in catalog.agents] == ["c"]  # colons in prose: read leniently, as Claude Code does
    reasons = {s.source.name: s.reason for s in catalog.skipped}
    assert reasons["bracket.md"].startswith("front matter: 'description' opens with [ and never closes it")
    assert reasons["quote.md"].startswith("front matter: 'description' opens with \" and never closes it")


def test_each_unusable_file_is_skipped_with_its_reason_alone(tmp_path):
    write(tmp_path, "a.md", "no front matter")
    (tmp_path / "b.md").write_bytes(b"---\nname: b\ndescription: \xff\n---\nBody")
    catalog = load_agents(tmp_path, MODELS)
    assert [(s.source.name, s.reason) for s in catalog.skipped] == [
        ("a.md", "no front matter (a '---' block with name and description)"),
        ("b.md", "not UTF-8 text"),
    ]


def test_a_missing_folder_is_one_skipped_entry(tmp_path):
    catalog = load_agents(tmp_path / "nope", MODELS)
    assert catalog.agents == () and catalog.warnings == ()
    assert [(s.source, s.reason) for s in catalog.skipped] == [(tmp_path / "nope", "no such folder of agent files")]
