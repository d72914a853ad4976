"""Does Slack take the tokens? One call each: auth.test for the bot token, apps.connections.open
for the app-level token (Socket Mode). Shared by `run` (at start-up) and `check`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import TokenRejected

CHECK_TIMEOUT_S = 10.0  # for each call to Slack (auth.test, apps.connections.open)
# Slack's answers (ok: false) that refuse the token itself: no retry will change them. For a bad
# app-level token apps.connections.open answers invalid_auth, or not_allowed_token_type when it
# is given another kind of token; auth.test the same for the bot token.
TOKEN_REFUSALS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "not_allowed_token_type",
        "missing_scope",
        "no_permission",
        "team_access_not_granted",
        "ekm_access_denied",
    }
)
NEW_TOKEN_AT = {
    "SLACK_BOT_TOKEN": "copy the Bot User OAuth Token from api.slack.com/apps -> your app -> OAuth & Permissions "
    "(reinstall the app to the workspace if it is gone)",
    "SLACK_APP_TOKEN": "generate an app-level token with the connections:write scope at api.slack.com/apps -> "
    "your app -> Basic Information -> App-Level Tokens",
}


async def check_bot_token(client: AsyncWebClient) -> None:
    """auth.test with the client's token: TokenRejected naming SLACK_BOT_TOKEN when Slack refuses it."""
    async with asyncio.timeout(CHECK_TIMEOUT_S):
        await _refused("SLACK_BOT_TOKEN", client.auth_test())


async def check_app_token(client: AsyncWebClient, app_token: str) -> None:
    """apps.connections.open with `app_token`: TokenRejected naming SLACK_APP_TOKEN when Slack refuses it."""
    async with asyncio.timeout(CHECK_TIMEOUT_S):
        await _refused("SLACK_APP_TOKEN", client.apps_connections_open(app_token=app_token))


async def check_tokens_once(client: AsyncWebClient, app_token: str | None) -> None:
    await check_bot_token(client)
    if app_token is not None:
        await check_app_token(client, app_token)


async def _refused(variable: str, call: Awaitable[Any]) -> None:
    try:
        await call
    except SlackApiError as error:
        code = str(error.response.get("error", ""))
        if code in TOKEN_REFUSALS:
            raise TokenRejected(
                f"Slack rejected {variable} ({code}); {NEW_TOKEN_AT[variable]}, then set {variable} in .env"
            ) from None
        raise


def describe(error: BaseException) -> str:
    """A failed call that was not a refusal, in a few words."""
    if isinstance(error, TimeoutError):
        return f"no answer within {CHECK_TIMEOUT_S:g} s"
    if isinstance(error, SlackApiError):
        return f"Slack answered {error.response.get('error')}"
    return f"{type(error).__name__}: {error}"[:300]
