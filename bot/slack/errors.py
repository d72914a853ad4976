"""Slack API errors, said briefly."""

from slack_sdk.errors import SlackApiError


def slack_error_code(error: SlackApiError) -> str:
    """Slack's error code (`not_in_channel`…), or the HTTP status when the body was not JSON."""
    data = error.response.data
    return data.get("error", "unknown") if isinstance(data, dict) else f"http_{error.response.status_code}"
