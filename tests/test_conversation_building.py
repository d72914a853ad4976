"""Turns -> the messages Claude is sent: roles, names, merging, budget."""

from __future__ import annotations

from bot.conversation import THREAD_STARTS_WITH_BOT, Turn, build_messages, estimate_tokens


def test_people_are_named_and_consecutive_turns_of_one_role_merge():
    turns = [
        Turn("user", "q1", "Alice"),
        Turn("user", "me too", "Bob"),
        Turn("assistant", "a1"),
        Turn("user", "q2", "Alice"),
    ]
    assert build_messages(turns) == [
        {"role": "user", "content": "Alice: q1\n\nBob: me too"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "Alice: q2"},
    ]


def test_a_thread_started_by_the_bot_begins_with_a_user_turn():
    messages = build_messages([Turn("assistant", "Review of main.py"), Turn("user", "why?", "Alice")])
    assert messages[0] == {"role": "user", "content": THREAD_STARTS_WITH_BOT}
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]


def test_empty_turns_are_dropped_and_nothing_ends_on_the_bots_turn():
    assert build_messages([Turn("user", "  ", "Alice")]) == []
    assert build_messages([Turn("user", "q", "A"), Turn("assistant", "a")]) == [{"role": "user", "content": "A: q"}]


def test_over_budget_keeps_the_first_and_latest_with_a_note_between():
    turns = [Turn("user", f"message {n} " + "x" * 300, "Alice") for n in range(50)]
    messages = build_messages(turns, budget_tokens=1_500)
    content = messages[0]["content"]
    assert content.startswith("Alice: message 0 ")
    assert "earlier messages of this thread left out to fit the context budget]" in content
    assert "message 49 " in content and "message 1 " not in content
    assert estimate_tokens(content) <= 1_500


def test_under_budget_nothing_is_left_out():
    turns = [Turn("user", f"m{n}", "A") for n in range(10)]
    assert "left out" not in build_messages(turns, budget_tokens=1_000)[0]["content"]


def test_rendering_is_stable_so_each_request_prefixes_the_next():
    turns = [Turn("user", "q1", "Alice"), Turn("assistant", "a1")]
    first = build_messages([*turns[:1]])
    second = build_messages([*turns, Turn("user", "q2", "Alice")])
    assert second[: len(first)] == first


def test_over_budget_the_kept_start_stays_the_same_for_several_follow_ups():
    turns = [Turn("user" if n % 2 == 0 else "assistant", f"turn {n} " + "x" * 300, "Alice") for n in range(40)]
    first = build_messages(turns, budget_tokens=3_000)
    later = build_messages(turns + turns[:2], budget_tokens=3_000)  # one more exchange
    assert "left out" in first[0]["content"]
    assert later[: len(first) - 1] == first[:-1]  # same cached prefix; only the end moved on
