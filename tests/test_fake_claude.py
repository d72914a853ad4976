"""The fake Messages API refuses what the real one refuses on the 5.5 models, thinks as they
do, and answers structured-output requests with JSON that fits the schema: the real anthropic
SDK is pointed at it, so what passes here is what the real API takes."""

from __future__ import annotations

import json

import anthropic
import pytest
from fakes.claude_api import Reply

OK = {"model": "claude-sonnet-5-5", "max_tokens": 32_000, "messages": [{"role": "user", "content": "hi"}]}


def client(fake_claude) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=fake_claude.url, max_retries=0)


async def send(fake_claude, **body):
    """Streamed, as the bot sends answers (the SDK refuses max_tokens over 21,333 unstreamed)."""
    async with client(fake_claude) as api, api.messages.stream(**body) as stream:
        return await stream.get_final_message()


@pytest.mark.parametrize(
    "change, words",
    [
        ({"model": "claude-sonnet-4-20250514"}, "model: claude-sonnet-4-20250514"),  # retired: 404
        (
            {
                "tools": [{"name": "t", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "tool", "name": "t"},
            },
            'tool_choice: type "tool" and "any" are not supported',
        ),
        (
            {
                "model": "claude-opus-5-5",
                "tools": [{"name": "t", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "any"},
            },
            "not supported for this model",
        ),
        ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure"}]}, "prefill"),
        ({"thinking": {"type": "enabled", "budget_tokens": 2048}}, '"thinking.type.enabled" is not supported'),
        ({"thinking": {"type": "disabled"}}, '"thinking.type.disabled" is not supported'),  # Sonnet 5.5
        ({"model": "claude-opus-5-5", "thinking": {"type": "disabled"}}, '"thinking.type.disabled" is not supported'),
        (
            {"model": "claude-haiku-5-5", "thinking": {"type": "disabled"}, "output_config": {"effort": "max"}},
            "at this effort",
        ),
        ({"thinking": {"type": "between_tools"}, "output_config": {"effort": "xhigh"}}, "between_tools"),
        ({"model": "claude-haiku-5-5", "thinking": {"type": "between_tools"}}, "between_tools"),
        ({"output_config": {"effort": "extreme"}}, "output_config.effort"),
        ({"max_tokens": 200_000}, "max_tokens"),
        (
            {"output_config": {"format": {"type": "json_schema", "schema": {"type": "object", "properties": {}}}}},
            "additionalProperties",
        ),
    ],
)
async def test_requests_the_real_api_refuses_are_refused(fake_claude, change, words):
    fake_claude.expected_refusals = {400, 404}
    with pytest.raises(anthropic.APIStatusError) as refused:
        await send(fake_claude, **{**OK, **change})
    assert refused.value.status_code in (400, 404) and words in str(refused.value)
    assert len(fake_claude.refused) == 1


@pytest.mark.parametrize("extra", [{"temperature": 0.2}, {"top_p": 0.9}, {"top_k": 5}])
async def test_sampling_parameters_are_refused(fake_claude, extra):
    # SDK 2.15 no longer takes them as arguments; a gateway or an older client could still send them.
    fake_claude.expected_refusals = {400, 404}
    with pytest.raises(anthropic.BadRequestError):
        await send(fake_claude, **OK, extra_body=extra)


@pytest.mark.parametrize(
    "model, thinking", [("claude-haiku-5-5", {"type": "disabled"}), ("claude-sonnet-5-5", {"type": "between_tools"})]
)
async def test_the_least_thinking_each_model_allows_is_accepted_and_gives_text_only(fake_claude, model, thinking):
    message = await send(
        fake_claude, **{**OK, "model": model, "thinking": thinking, "output_config": {"effort": "low"}}
    )
    assert [block.type for block in message.content] == ["text"]


async def test_adaptive_thinking_comes_first_and_counts_toward_max_tokens(fake_claude):
    fake_claude.then(Reply(chunks=("x" * 4_000,)), Reply(chunks=("x" * 4_000,)))
    message = await send(fake_claude, **OK)  # Sonnet 5.5: effort high by default
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "" and message.content[0].signature  # display "omitted"
    assert message.usage.output_tokens_details.thinking_tokens == 4_000
    assert message.usage.output_tokens == 4_000 + 1_001 and message.stop_reason == "end_turn"
    # The same answer with max_tokens that thinking mostly uses up is cut short.
    cut = await send(fake_claude, **{**OK, "max_tokens": 4_500})
    assert cut.stop_reason == "max_tokens" and len(cut.content[1].text) == 2_000


async def test_structured_output_is_json_that_fits_the_schema_after_any_thinking(fake_claude):
    schema = {
        "type": "object",
        "properties": {"agent": {"type": "string", "enum": ["a", "b", "none"]}},
        "required": ["agent"],
        "additionalProperties": False,
    }
    fake_claude.default_route = "b"
    async with client(fake_claude) as api:
        message = await api.messages.create(
            **{
                **OK,
                "model": "claude-opus-5-5",
                "max_tokens": 2_000,
                "output_config": {"effort": "low", "format": {"type": "json_schema", "schema": schema}},
            }
        )
    assert [block.type for block in message.content] == ["thinking", "text"]  # Opus 5.5 always thinks
    assert json.loads(message.content[1].text) == {"agent": "b"}
