"""Slack-facing pieces of the bot: the app manifest and its check."""
