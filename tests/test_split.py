"""Splitting long Markdown answers into Slack messages (bot/slack/split.py)."""

from __future__ import annotations

import itertools
import random
import re
from functools import cache

import pytest

from bot.slack.split import (
    SLACK_MARKDOWN_LIMIT,
    Append,
    MarkdownSplitter,
    NextMessage,
    split_markdown,
)

# -- an independent reading of the rules, to check the splitter against ---------------------------

OPENER = re.compile(r"( {0,3})(`{3,}|~{3,})(.*)")
CLOSER = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*")
FENCE_LINE_AT_START = re.compile(r" {0,3}(?:`{3,}|~{3,})[^\n]*\n")
FENCE_AT_END = re.compile(r" {0,3}(?:`{3,}|~{3,})\Z")


def open_fence(text: str) -> tuple[str, str] | None:
    """(marker, info) of the code block still open at the end of `text`, by CommonMark's rules."""
    fence = None
    for line in text.split("\n"):
        if fence is None:
            m = OPENER.fullmatch(line)
            if m and not (m[2][0] == "`" and "`" in m[3]):
                fence = (m[2], m[3].strip())
        else:
            m = CLOSER.fullmatch(line)
            if m and m[1][0] == fence[0][0] and len(m[1]) >= len(fence[0]):
                fence = None
    return fence


def decompose(messages: list[str], original: str) -> list[tuple[str, int, int]] | None:
    """Read each message as [added reopening line] + a slice of the original + [added closing fence].

    Between messages, whitespace of the original may be skipped; nothing else. A reopening line
    counts as added only where the original is inside a code block. Returns
    (reopening line or "", start, end) per message, or None if the messages lose or invent text.
    """

    @cache
    def match(i: int, p: int) -> tuple | None:
        if i == len(messages):
            return () if not original[p:].strip() else None
        message = messages[i]
        heads = [("", message)]
        m = FENCE_LINE_AT_START.match(message)
        if m and i > 0:
            heads.append((m.group(), message[m.end() :]))
        for reopen, body in heads:
            bodies = [body]
            c = FENCE_AT_END.search(body)
            if c:
                bodies.append(body[: c.start()])
                if body[: c.start()].endswith("\n"):
                    bodies.append(body[: c.start() - 1])
            for body in bodies:
                if not body.strip():
                    continue
                q = p
                while True:
                    # A reopening line is added exactly where the original is inside a code block.
                    inside = open_fence(original[: original.rfind("\n", 0, q) + 1]) is not None
                    if inside == bool(reopen) and original.startswith(body, q):
                        tail = match(i + 1, q + len(body))
                        if tail is not None:
                            return ((reopen, q, q + len(body)),) + tail
                    if i == 0 or q >= len(original) or not original[q].isspace():
                        break
                    q += 1
        return None

    found = match(0, 0)
    return list(found) if found is not None else None


def assert_valid(messages: list[str], original: str, limit: int, exact_info: bool = True) -> None:
    """Each message fits, is not blank, has balanced fences; together they are the original."""
    for message in messages:
        assert 0 < len(message) <= limit
        assert message.strip() or messages == [original]  # only a blank answer gives a blank message
        assert open_fence(message) is None, f"unbalanced fences in {message!r}"
    if messages == [original]:
        return
    parts = decompose(messages, original)
    assert parts is not None, "text lost, changed or invented"
    for reopen, start, _ in parts:
        # The code block open where this message's text starts in the original must be reopened
        # with the same fence and info string, and only then.
        expected = open_fence(original[: original.rfind("\n", 0, start) + 1])
        if expected is None:
            assert not reopen
            continue
        assert reopen, f"message starting at {start} is inside a code block but does not reopen it"
        m = OPENER.fullmatch(reopen.rstrip("\n"))
        assert m and m[2] == expected[0]
        if exact_info:
            assert m[3].strip() == expected[1]
        else:  # tiny limits may shorten a long info string to its language, or drop it
            assert m[3].strip() in (expected[1], (expected[1].split() or [""])[0], "")


def ops_to_messages(ops: list[Append | NextMessage]) -> list[str]:
    messages: list[str] = []
    for op in ops:
        if isinstance(op, NextMessage):
            assert messages, "NextMessage with no message before it"
            assert messages[-1], "NextMessage right after NextMessage"
            messages.append("")
        else:
            assert op.text, "empty Append"
            if not messages:
                messages.append("")
            messages[-1] += op.text
    assert not messages or messages[-1], "trailing empty message"
    return messages


def stream(text: str, chunk_sizes, limit: int = SLACK_MARKDOWN_LIMIT) -> list[str]:
    """Feed `text` in chunks of the given sizes (cycled); check the shape of every returned list."""
    splitter = MarkdownSplitter(limit)
    ops: list[Append | NextMessage] = []
    i, k = 0, 0
    while i < len(text):
        size = chunk_sizes[k % len(chunk_sizes)]
        k += 1
        batch = splitter.feed(text[i : i + size])
        i += size
        for a, b in itertools.pairwise(batch):
            assert not (isinstance(a, Append) and isinstance(b, Append)), "two Appends in a row"
        ops += batch
    last = splitter.finish()
    for a, b in itertools.pairwise(last):
        assert not (isinstance(a, Append) and isinstance(b, Append)), "two Appends in a row"
    return ops_to_messages(ops + last)


# -- generated answers ----------------------------------------------------------------------------

WORDS = [
    "the",
    "a",
    "service",
    "latency",
    "p99",
    "retry",
    "queue",
    "worker",
    "idempotent",
    "schema",
    "migration",
    "cache",
    "shard",
    "replica",
    "**bold**",
    "`inline`",
    "_it_",
    "``double``",
    "postgres",
    "kafka",
    "timeout",
    "backoff",
    "deadline",
    "lock",
    "index",
    "vacuum",
]
LANGS = ["python", "sql", "bash", "", "go", "json", "typescript", 'python title="app.py"']


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def code_block(rng: random.Random, lines: int, unclosed: bool = False) -> str:
    marker = rng.choice(["```", "```", "```", "~~~", "````"])
    indent = rng.choice(["", "", "", "  ", "   "])
    body = []
    for _ in range(lines):
        kind = rng.random()
        if kind < 0.1:
            body.append("")
        elif kind < 0.15 and marker != "```":
            body.append("```")  # an inner fence that does not close a ~~~ or ```` block
        elif kind < 0.2:
            body.append("x" * rng.randint(20, 400))  # a long line without spaces
        else:
            body.append(indent + "    " * rng.randint(0, 3) + words(rng, rng.randint(1, 12)))
    text = f"{indent}{marker}{rng.choice(LANGS)}\n" + "".join(line + "\n" for line in body)
    return text if unclosed else text + indent + marker + "\n"


def random_answer(rng: random.Random, size: int) -> str:
    parts: list[str] = []
    while sum(map(len, parts)) < size:
        kind = rng.choice(["para", "para", "list", "table", "code", "blank", "long", "odd"])
        if kind == "para":
            parts.append(words(rng, rng.randint(3, 120)) + "\n\n")
        elif kind == "list":
            parts.append("".join(f"- {words(rng, rng.randint(2, 20))}\n" for _ in range(rng.randint(1, 8))))
        elif kind == "table":
            rows = ["| key | value |", "| --- | --- |"]
            rows += [f"| {words(rng, 2)} | {words(rng, rng.randint(1, 8))} |" for _ in range(rng.randint(1, 10))]
            parts.append("\n".join(rows) + "\n\n")
        elif kind == "code":
            parts.append(code_block(rng, rng.randint(0, 60)))
        elif kind == "blank":
            parts.append(rng.choice(["\n", "\n\n\n", "   \n", "\t\n\n"]))
        elif kind == "long":
            parts.append(rng.choice(["y" * rng.randint(50, 3000), words(rng, rng.randint(50, 400))]) + "\n")
        else:  # things that look like fences but are not, and trailing spaces
            parts.append(rng.choice(["``\n", "```not`a fence```\n", "    ```indented code\n", "word   \n"]))
    if rng.random() < 0.2:
        parts.append(code_block(rng, rng.randint(1, 30), unclosed=True))
    text = "".join(parts)
    return text if rng.random() < 0.5 else text.rstrip("\n")


def long_mixed_answer() -> str:
    """~30,000 characters like a real answer: prose, a list, a table, several long code blocks."""
    rng = random.Random(7)
    out = ["## Why the queue backs up\n\n", words(rng, 150), "\n\n"]
    out += [f"{i}. {words(rng, 25)}\n" for i in range(1, 9)]
    out += ["\n| metric | before | after |\n| --- | --- | --- |\n"]
    out += [f"| {words(rng, 2)} | {i * 7} ms | {i * 3} ms |\n" for i in range(12)]
    out += ["\nThe worker:\n\n```python\n"]
    out += [f"def handler_{i}(event):\n    return process(event, retries={i})  # {words(rng, 6)}\n" for i in range(125)]
    out += ["```\n\n", words(rng, 200), "\n\nThe migration:\n\n```sql\n"]
    out += [f"ALTER TABLE jobs_{i} ADD COLUMN attempt_{i} integer NOT NULL DEFAULT 0;\n" for i in range(50)]
    out += ["```\n\n", words(rng, 120), "\n\n~~~bash\n"]
    out += [f"kubectl scale deployment/worker-{i} --replicas={i % 7 + 1}\n" for i in range(60)]
    out += ["~~~\n\n", words(rng, 100), "\n\n```go\n"]
    out += [f"func step{i}(ctx context.Context) error {{ return run(ctx, {i}) }}\n" for i in range(70)]
    out += ["```\n\nThat is all.\n"]
    return "".join(out)


# -- tests ----------------------------------------------------------------------------------------


def test_short_text_is_one_message_identical_to_the_input():
    for text in [
        "Hello",
        "Use an index:\n\n```sql\nCREATE INDEX ON jobs (state);\n```\n",
        "\n\n  leading and trailing whitespace stays  \n\n",
        "a\n\n" * 3000,  # 9,000 characters with blank lines past 80% of the limit: still one message
        "x" * SLACK_MARKDOWN_LIMIT,
        "```python\n" + "print(1)\n" * 1330 + "```",  # exactly 11,983 characters of code
    ]:
        assert split_markdown(text) == [text]


def test_empty_text_gives_no_messages():
    assert split_markdown("") == []
    splitter = MarkdownSplitter()
    assert splitter.feed("") == [] and splitter.finish() == []


def test_long_mixed_answer_splits_into_valid_messages():
    text = long_mixed_answer()
    assert 29_000 < len(text) < 33_000
    messages = split_markdown(text)
    assert len(messages) >= 3
    assert_valid(messages, text, SLACK_MARKDOWN_LIMIT)
    # The python block (> 12,000 characters) spans messages: closed, then reopened as python.
    assert any(m.endswith("\n```") and open_fence(m[: -len("```")]) == ("```", "python") for m in messages)
    assert any(m.startswith("```python\n") for m in messages[1:])


def test_messages_end_at_the_last_paragraph_boundary_that_fits():
    rng = random.Random(11)
    paragraphs = [
        f"Paragraph {i}.\n" + "".join(words(rng, rng.randint(3, 12)) + "\n" for _ in range(rng.randint(1, 8))) + "end."
        for i in range(400)
    ]
    text = "\n\n".join(paragraphs)
    messages = split_markdown(text)
    assert len(messages) > 3
    assert_valid(messages, text, SLACK_MARKDOWN_LIMIT)
    for message, following in itertools.pairwise(messages):
        # Whole paragraphs (no break at a mere line boundary), as many as fit.
        assert message.startswith("Paragraph ") and following.startswith("Paragraph ")
        assert message.rstrip("\n").endswith("end.")
        next_paragraph = following.split("\n\n")[0]
        # (+ 1: the answer goes on, so that paragraph's last newline would have to fit as well)
        assert len(message.rstrip("\n")) + 2 + len(next_paragraph) + 1 > SLACK_MARKDOWN_LIMIT


def test_messages_end_at_a_line_boundary_when_there_is_no_paragraph_break():
    lines = [f"- item {i}: " + "detail " * (i % 30) for i in range(2000)]
    text = "\n".join(lines) + "\n"
    messages = split_markdown(text, limit=3000)
    assert len(messages) > 5
    assert_valid(messages, text, 3000)
    for message in messages:  # whole lines (trailing whitespace at the boundary may go)
        assert message.startswith("- item ")
        assert message.rstrip().endswith(("detail", ":"))


def test_one_line_of_30000_characters_without_spaces_is_cut_hard():
    text = "z" * 30_000
    messages = split_markdown(text)
    assert [len(m) for m in messages] == [12_000, 12_000, 6_000]
    assert "".join(messages) == text


def test_one_long_line_with_spaces_is_cut_after_a_space():
    text = " ".join(f"w{i:05d}" for i in range(5000))  # 35,000 characters, one line
    messages = split_markdown(text)
    assert_valid(messages, text, SLACK_MARKDOWN_LIMIT)
    for message in messages[:-1]:
        assert message.endswith(" ") and len(message) > 0.8 * SLACK_MARKDOWN_LIMIT
    assert "".join(messages) == text


@pytest.mark.parametrize(
    "space_at, first_length",
    [
        (11_700, 12_000),  # a space far from the end of the message: a hard cut
        (11_799, 12_000),
        (11_800, 11_801),  # the first place a space counts (the last fifth of what was left)
        (11_850, 11_851),
        (11_999, 12_000),  # the message's last character
        (12_000, 12_000),  # just past the message: a hard cut, the space starts the next one
    ],
)
def test_an_over_long_line_is_cut_after_a_space_only_near_the_end_of_the_message(space_at, first_length):
    text = "a" * space_at + " " + "b" * 400
    messages = split_markdown(text)
    assert [len(m) for m in messages] == [first_length, len(text) - first_length]
    assert "".join(messages) == text
    assert stream(text, [7]) == messages


def test_an_over_long_line_is_cut_after_a_tab_as_after_a_space_whichever_comes_last():
    assert split_markdown("a" * 11_850 + "\t" + "b" * 400)[0] == "a" * 11_850 + "\t"
    assert split_markdown("a" * 11_850 + "\t" + "b" * 50 + " " + "c" * 400)[0].endswith("\t" + "b" * 50 + " ")
    assert split_markdown("a" * 11_850 + " " + "b" * 50 + "\t" + "c" * 400)[0].endswith(" " + "b" * 50 + "\t")
    text = "\tindented\twith\ttabs\n" * 1000  # tabs are text: nothing trimmed inside a message
    messages = split_markdown(text)
    assert_valid(messages, text, SLACK_MARKDOWN_LIMIT)
    assert all(m.startswith("\tindented") for m in messages)


def test_a_message_filled_exactly_to_the_limit():
    assert split_markdown("x" * 12_000) == ["x" * 12_000]
    assert split_markdown("x" * 12_001) == ["x" * 12_000, "x"]
    # The closing fence added to an unclosed block counts: 4 + 11,993 + 3 characters fit exactly.
    assert split_markdown("```\n" + "c" * 11_992 + "\n") == ["```\n" + "c" * 11_992 + "\n```"]
    assert split_markdown("```\n" + "c" * 11_993 + "\n") == ["```\n" + "c" * 11_992 + "\n```", "```\nc\n```"]
    # A line ending exactly at the limit keeps its newline; the next line starts the next message.
    assert split_markdown("a" * 11_999 + "\nb") == ["a" * 11_999 + "\n", "b"]
    assert split_markdown("a" * 12_000 + "\nb") == ["a" * 12_000, "b"]
    for limit in (40, 97):  # the smallest limit and an odd one, in one piece and streamed
        assert split_markdown("y" * limit, limit) == ["y" * limit] == stream("y" * limit, [1], limit)
        assert split_markdown("y" * (limit + 1), limit) == ["y" * limit, "y"] == stream("y" * (limit + 1), [3], limit)


def test_the_rest_of_a_cut_line_never_starts_the_next_message_with_a_fence():
    # Regression: "x…x```more" was cut right before the backticks; the next message then began
    # with "```more", an opening fence that nothing closes. The cut moves back one character.
    text = "x" * 40 + "```more\n"
    assert split_markdown(text, 40) == ["x" * 39, "x```more\n"]
    # The generated answer where the test oracle first saw it (limit 80): "```not`a fence```" was
    # emitted up to its closing backticks, which then opened a block in the next message.
    rng = random.Random(422)
    text = random_answer(rng, rng.randint(100, 2500))
    assert "```not`a fence```" in text
    messages = split_markdown(text, 80)
    assert_valid(messages, text, 80, exact_info=False)
    assert stream(text, [1], 80) == messages


def test_the_head_of_a_cut_line_is_no_fence_where_the_whole_line_is_none():
    # Regression: "```sh … `x`" is not a fence (a backtick in the info string); its head
    # "```sh word …" alone would open a block that nothing closes. It is cut inside the marker.
    text = "```sh " + "word " * 12 + "`x`\nafter\n"
    messages = split_markdown(text, 40)
    assert messages[0] == "``"
    assert_valid(messages, text, 40, exact_info=False)
    # Inside a block, "```" + spaces + "x" does not close it, but its head "```   " would.
    text = "```\n```" + " " * 40 + "x\n```\n"
    messages = split_markdown(text, 40)
    assert messages[:2] == ["```\n```", "```\n``\n```"]
    assert_valid(messages, text, 40, exact_info=False)
    assert stream(text, [1], 40) == messages


def test_an_over_long_line_is_cut_after_the_last_space_or_tab_in_reach():
    assert split_markdown("a" * 11_850 + " " + "b" * 50 + " " + "c" * 400)[0].endswith("b" * 50 + " ")
    assert split_markdown("a" * 11_850 + "\t" + "b" * 50 + "\t" + "c" * 400)[0].endswith("b" * 50 + "\t")
    # A tab (like a space) before the last fifth of what was left does not count: a hard cut.
    assert [len(m) for m in split_markdown("a" * 11_100 + "\t" + "b" * 1_000)] == [12_000, 101]


def test_the_rest_of_a_cut_line_does_not_start_with_an_indented_fence_either():
    # The cut moves back past spaces and backticks until the rest cannot start a fence line.
    assert split_markdown("y" * 37 + "ab ```x tail", 40) == ["y" * 37 + "a", "b ```x tail"]
    assert split_markdown("y" * 37 + "ab````x tail", 40) == ["y" * 37 + "a", "b````x tail"]
    # A run of backticks longer than a message cannot be cut well, but is cut: nothing lost.
    text = "x" + "`" * 100
    messages = split_markdown(text, 40)
    assert "".join(messages) == text and [len(m) for m in messages] == [38, 38, 25]


def test_an_opening_fence_line_too_long_for_a_message_is_cut_and_its_block_closed():
    # Documented: the rest of its info string goes into the reopened block.
    text = "```sh " + "word " * 12 + "\necho hi\n```\n"
    assert split_markdown(text, 40) == [
        "```sh word word word word word word \n```",
        "```\nword word word word word word \n```",
        "```\necho hi\n```\n",
    ]


def test_a_fence_followed_by_a_no_break_space_does_not_close_the_block():
    text = "```\n" + "echo\n```\u00a0\n" * 8 + "```\n"
    messages = split_markdown(text, 40)
    assert len(messages) == 3 and all(m.startswith("```\necho\n") for m in messages[1:])
    assert_valid(messages, text, 40)


def test_the_info_string_is_reopened_exactly_and_a_marker_of_a_tenth_of_the_limit_is_a_fence():
    text = "```TeX\n" + "x = y\n" * 30 + "```\n"
    messages = split_markdown(text, 100)
    assert all(m.startswith("```TeX\n") for m in messages) and len(messages) > 1
    text = "````\n" + "print(1)\n" * 8 + "````\n"  # 4 backticks, limit 40
    messages = split_markdown(text, 40)
    assert len(messages) == 3 and all(m.startswith("````\nprint") and m.rstrip().endswith("````") for m in messages)
    assert_valid(messages, text, 40)


def test_limits_80_and_97_keep_every_rule_whole_and_streamed():
    # The limits at which mutation testing found rules the other seeds did not check.
    for seed in range(40):
        rng = random.Random(seed)
        limit = (80, 97)[seed % 2]
        text = random_answer(rng, rng.randint(100, 1500))
        messages = split_markdown(text, limit)
        assert_valid(messages, text, limit, exact_info=False)
        assert stream(text, [1], limit) == messages
        assert stream(text, [rng.randint(2, 30) for _ in range(5)], limit) == messages


def test_code_block_split_is_closed_and_reopened_with_its_language():
    text = "Run this:\n\n```python\n" + "".join(f"value_{i} = compute({i})\n" for i in range(2000)) + "```\n\nDone.\n"
    messages = split_markdown(text)
    assert len(messages) >= 4
    assert_valid(messages, text, SLACK_MARKDOWN_LIMIT)
    for message in messages[1:-1]:
        assert message.startswith("```python\nvalue_")
    for message in messages[:-1]:
        assert message.endswith("\n```")


def test_tilde_fences_are_closed_and_reopened_with_tildes():
    text = "~~~bash\n" + "echo 'no ``` here closes it'\n" * 100 + "~~~\n"
    messages = split_markdown(text, limit=300)
    assert_valid(messages, text, 300)
    for message in messages[1:]:
        assert message.startswith("~~~bash\n")
    for message in messages[:-1]:
        assert message.endswith("\n~~~")


def test_four_backtick_fence_is_closed_and_reopened_with_four_backticks():
    inner = "```python\nprint('inside')\n```\n"
    text = "````markdown\n" + inner * 40 + "````\n"
    messages = split_markdown(text, limit=200)
    assert_valid(messages, text, 200)
    for message in messages[1:]:
        assert message.startswith("````markdown\n")
    for message in messages[:-1]:
        assert message.endswith("\n````")


def test_a_tilde_fence_whose_info_starts_with_a_tilde_is_reopened_with_the_same_marker():
    # Regression (found by tests/test_properties.py): "~~~ ~x" was reopened as "~~~~x", a
    # four-tilde fence that the closing "~~~" does not close.
    text = "~~~ ~x\n" + "echo step\n" * 40 + "~~~\n"
    messages = split_markdown(text, limit=100)
    assert_valid(messages, text, 100)
    assert all(m.startswith("~~~ ~x\n") for m in messages)
    assert stream(text, [1], 100) == messages


def test_indented_fence_in_a_list_is_reopened_with_its_indentation():
    text = "1. Install:\n\n   ```bash\n" + "   pip install package-number-x\n" * 30 + "   ```\n"
    messages = split_markdown(text, limit=200)
    assert_valid(messages, text, 200)
    assert all(m.startswith("   ```bash\n") for m in messages[1:])


def test_unclosed_fence_at_the_end_is_closed():
    assert split_markdown("Try:\n```python\nprint(1)\n") == ["Try:\n```python\nprint(1)\n```"]
    assert split_markdown("```python\nprint(1)") == ["```python\nprint(1)\n```"]
    text = "```sql\n" + "SELECT 1;\n" * 50
    messages = split_markdown(text, limit=200)
    assert len(messages) > 1
    assert_valid(messages, text, 200)


def test_limit_200_with_code_blocks_keeps_every_rule():
    rng = random.Random(200)
    for _ in range(150):
        text = random_answer(rng, rng.randint(100, 2500))
        assert_valid(split_markdown(text, limit=200), text, 200, exact_info=False)


def test_generated_answers_keep_every_rule_at_many_limits():
    rng = random.Random(1234)
    for _ in range(200):
        limit = rng.choice([60, 97, 150, 500, 1000, 4000])
        text = random_answer(rng, rng.randint(0, 6 * limit))
        messages = split_markdown(text, limit=limit)
        assert_valid(messages, text, limit, exact_info=limit >= 500)
        if len(text) <= limit and open_fence(text) is None:
            assert messages == ([text] if text else [])


def test_char_by_char_feeding_gives_the_same_messages_as_the_whole_text():
    text = long_mixed_answer()
    assert stream(text, [1]) == split_markdown(text)
    rng = random.Random(99)
    for _ in range(40):
        limit = rng.choice([60, 200, 1000])
        text = random_answer(rng, rng.randint(0, 5 * limit))
        assert stream(text, [1], limit) == split_markdown(text, limit)


def test_random_delta_sizes_give_the_same_messages_as_the_whole_text():
    rng = random.Random(5)
    for _ in range(60):
        limit = rng.choice([60, 200, 1000, 3000])
        text = random_answer(rng, rng.randint(0, 5 * limit))
        sizes = [rng.randint(1, 80) for _ in range(20)]
        assert stream(text, sizes, limit) == split_markdown(text, limit)


def test_lines_that_start_like_a_fence_stream_the_same_near_the_limit():
    # Whether such a line may be emitted early is decided on its prefix: "`" could still become
    # a closing fence, "`i" cannot. Landing it at every position near the end of a message
    # checks that the decision never depends on how the line arrived.
    for k in range(45):
        for line in ["`inline` more words here", "``x and more", "~~ not a fence", "   `` spaced"]:
            for text in ["```\n" + "a" * k + "\n" + line + "\n```\n", "b" * k + "\n" + line + "\nend\n"]:
                assert stream(text, [1], 45) == split_markdown(text, 45)


def test_fence_marker_split_across_deltas_is_recognised():
    splitter = MarkdownSplitter(limit=100)
    ops = []
    for delta in ["Intro\n", "``", "`py", "thon\n", "x = 1\n" * 30, "``", "`\n", "after\n"]:
        ops += splitter.feed(delta)
    ops += splitter.finish()
    messages = ops_to_messages(ops)
    text = "Intro\n```python\n" + "x = 1\n" * 30 + "```\nafter\n"
    assert messages == split_markdown(text, limit=100)
    assert_valid(messages, text, 100)
    assert messages[1].startswith("```python\n")


def test_feed_returns_text_promptly():
    text = long_mixed_answer()
    splitter = MarkdownSplitter()
    fed = returned = 0
    worst = 0
    for i in range(0, len(text), 7):
        delta = text[i : i + 7]
        fed += len(delta)
        returned += sum(len(op.text) for op in splitter.feed(delta) if isinstance(op, Append))
        worst = max(worst, fed - returned)
    # Held back: at most the end of a message after a paragraph break (20%) plus a partial line.
    assert worst < 0.25 * SLACK_MARKDOWN_LIMIT
    first = MarkdownSplitter().feed("Hello, ")
    assert first == [Append("Hello, ")]


def test_a_long_unfinished_line_is_returned_while_it_streams():
    # An answer that is one long line (no newline yet) must not be held back until it ends.
    for text in ("word " * 6_000, "```\n" + "word " * 6_000):
        splitter = MarkdownSplitter()
        fed = returned = worst = 0
        for i in range(0, len(text), 7):
            fed += len(text[i : i + 7])
            returned += sum(len(op.text) for op in splitter.feed(text[i : i + 7]) if isinstance(op, Append))
            worst = max(worst, fed - returned)
        assert worst < 0.25 * SLACK_MARKDOWN_LIMIT


def test_a_paragraph_break_exactly_at_four_fifths_of_the_limit_counts():
    # limit 100: a blank line after 80 characters is in "the last 20%", so the message ends there.
    assert split_markdown("a" * 79 + "\n\n" + "b" * 30, 100) == ["a" * 79 + "\n", "b" * 30]
    # One character earlier it is not: the next line fills the message instead.
    assert [len(m) for m in split_markdown("a" * 78 + "\n\n" + "b" * 30, 100)] == [100, 10]
    # limit 97: four fifths is 77 (rounded down).
    assert split_markdown("a" * 76 + "\n\n" + "b" * 30, 97) == ["a" * 76 + "\n", "b" * 30]


def test_a_line_that_fills_a_message_without_its_trailing_spaces_still_ends_there():
    # The spaces are dropped at the break; the fence on the next line is still read as one.
    text = "a" * 40 + "   \n```python\n" + "code = 1\n" * 10 + "```\nafter\n"
    messages = split_markdown(text, 40)
    assert messages[:2] == ["a" * 40, "```python\ncode = 1\ncode = 1\ncode = 1\n```"]
    assert_valid(messages, text, 40, exact_info=False)
    assert stream(text, [1], 40) == messages


def test_operations_never_make_an_empty_or_trailing_message():
    rng = random.Random(3)
    for _ in range(50):
        text = random_answer(rng, rng.randint(0, 1500)) + rng.choice(["", "\n\n\n", "   \n \n"])
        splitter = MarkdownSplitter(limit=120)
        fed, finished = splitter.feed(text), splitter.finish()
        ops = fed + finished
        if ops:
            assert isinstance(ops[0], Append) and isinstance(ops[-1], Append)
        for a, b in itertools.pairwise(ops):
            assert not (isinstance(a, NextMessage) and isinstance(b, NextMessage))
        for batch in (fed, finished):  # within one list: Appends coalesced
            for a, b in itertools.pairwise(batch):
                assert type(a) is not type(b)


def test_limit_too_small_for_any_code_block_is_rejected():
    with pytest.raises(ValueError, match="limit must be at least 40 characters, got 10"):
        MarkdownSplitter(limit=10)
    MarkdownSplitter(limit=40)
