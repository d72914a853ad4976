"""The bot's exceptions, in one place: what can go wrong, and what each failure carries.

Imports nothing of the bot's at run time (the diff worker and `--help` load it too) and
nothing of Slack's: the core raises these, the edges catch them. Signals a module raises and
catches itself (answering's OffTopic, github's DiffTooLarge) stay in that module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.tokens import Usage

# -- settings and start-up -----------------------------------------------------------


class ConfigError(ValueError):
    """Settings present but unusable; the message names the variable. `problems` holds every one
    found (each with its fix), so an operator sees them all at once rather than one per run."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = problems or (message,)


class AgentFileError(ValueError):
    """The file cannot be used as an agent; the message names the file and the problem."""


class StoreInUse(RuntimeError):
    """The data folder is in use by another running bot."""


class OpsPortUnavailable(Exception):
    """BOT_OPS_HOST:BOT_OPS_PORT can't be listened on."""


class PortUnavailable(Exception):
    """The playground page's port could not be listened on (taken, or not allowed)."""


class TokenRejected(Exception):
    """Slack refused SLACK_BOT_TOKEN or SLACK_APP_TOKEN at start-up; the message names which one,
    why, and where to get a new one."""


# -- answering ---------------------------------------------------------------------


class ClaudeError(Exception):
    """A call that produced no complete answer, with words fit for the user."""

    def __init__(self, kind: str, user_message: str, request_id: str | None = None, detail: str = ""):
        super().__init__(f"{kind}: {detail or user_message}")
        self.kind = kind
        self.user_message = user_message
        self.request_id = request_id


class RoutingError(Exception):
    """The router gave no usable answer; the caller falls back to the default agent. `usage`:
    what a call that did answer (unusably) was billed."""

    def __init__(self, message: str, usage: Usage | None = None, model: str = ""):
        super().__init__(message)
        self.usage = usage
        self.model = model


class ConversationUnavailable(Exception):
    """The conversation could not be read (e.g. Slack refused); says so in words for the user."""

    def __init__(self, user_message: str):
        super().__init__(user_message)
        self.user_message = user_message


# -- reviews -------------------------------------------------------------------------


class ReviewMaterialError(Exception):
    """The material could not be fetched; the message is for the user."""


class DiffWorkerFailed(Exception):
    """The worker died or took too long; the message says which, for the user."""
