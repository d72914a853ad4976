"""A Slack-like page on 127.0.0.1 that runs the real bot against a local emulation of Slack."""
