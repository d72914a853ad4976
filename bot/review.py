"""Review input: what `/backend-review` (or "@backend-engineer review this") was given, the
material to review (code, a file, a pull-request diff within budget), and the request
Claude is sent. Pure: the fetching lives in github.py and the Slack edge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_FINDINGS = 7
# A diff larger than this (characters) is cut to its most relevant hunks.
DIFF_BUDGET_CHARS = 120_000

_PULL = re.compile(r"https?://([^\s/>|]+)/([\w.-]+)/([\w.-]+)/pull/(\d+)\S*")
_COMMIT = re.compile(r"https?://([^\s/>|]+)/([\w.-]+)/([\w.-]+)/(?:pull/\d+/)?commits?/([0-9a-fA-F]{7,40})\b\S*")
_SLACK_FILE = re.compile(r"https?://[\w.-]*slack\.com/files/[A-Z0-9]+/(F[A-Z0-9]+)\S*")
# A fence's info string is one token (```python); anything else after ``` is code that
# starts on the fence line, as Slack's own code blocks send it (```def take(q):).
_FENCE = re.compile(r"```(?:([\w+#.-]*)[ \t]*\n)?(.*?)(?:\n?```|\Z)", re.DOTALL)
_CODE_HINT = re.compile(
    r"[{}();=\[\]<>]|^\s{2,}\S|^\s*(def|class|func|package|import|from|SELECT|INSERT|"
    r"CREATE|UPDATE|DELETE|const|let|var|return|if|for|while|public|private|#include)\b",
    re.MULTILINE | re.IGNORECASE,
)
_ASKS_FOR_REVIEW = re.compile(r"\b(review|code review|look over|check (this|my) code)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Help:
    """No material: show usage."""


@dataclass(frozen=True)
class PullRequestRef:
    owner: str
    repo: str
    number: int
    question: str
    host: str = "github.com"  # where the link points: only GitHub's own host is fetched


@dataclass(frozen=True)
class CommitRef:
    owner: str
    repo: str
    sha: str
    question: str
    host: str = "github.com"


@dataclass(frozen=True)
class SlackFileRef:
    file_id: str
    question: str


@dataclass(frozen=True)
class Snippet:
    code: str
    language: str  # "" when unknown
    question: str


ReviewInput = Help | PullRequestRef | CommitRef | SlackFileRef | Snippet


@dataclass(frozen=True)
class Material:
    """What is being reviewed, ready for the prompt and for a one-line preview in Slack."""

    kind: str  # "snippet", "file", "pull request", "commit"
    title: str  # e.g. "python, 42 lines", "acme/api#12: Add caching", "worker.py"
    body: str  # code or diff, as Claude will see it
    language: str = ""
    left_out: tuple[str, ...] = ()  # files of a diff that did not fit
    not_seen: tuple[str, ...] = ()  # files whose changes GitHub left out (binary, or too large to show)


def parse_review_text(text: str) -> ReviewInput:
    """What the command's text asks to review. Links win over pasted code."""
    text = _unwrap_slack_links(text).strip()
    if not text or text.lower() in ("help", "-h", "--help", "?"):
        return Help()
    if match := _COMMIT.search(text):  # first: a commit inside a pull request is that commit
        return CommitRef(match[2], match[3], match[4].lower(), _without(text, match), match[1].lower())
    if match := _PULL.search(text):
        return PullRequestRef(match[2], match[3], int(match[4]), _without(text, match), match[1].lower())
    if match := _SLACK_FILE.search(text):
        return SlackFileRef(match[1], _without(text, match))
    return split_code_and_question(text)


def split_code_and_question(text: str) -> Snippet:
    """Fenced code is the code and the rest the question; without fences, leading prose lines
    (a question) are the question and the rest is the code."""
    blocks = [b for b in _FENCE.finditer(text) if b[2].strip()]
    if blocks:
        code = "\n\n".join(b[2].strip("\n") for b in blocks)
        question = _FENCE.sub(" ", text)
        language = next((b[1] for b in blocks if b[1]), "") or guess_language(code)
        return Snippet(code, language, " ".join(question.split()))
    lines = text.split("\n")
    prose = 0
    while prose < len(lines) - 1 and _is_prose(lines[prose]):
        prose += 1
    question, code = " ".join(lines[:prose]).strip(), "\n".join(lines[prose:]).strip("\n")
    return Snippet(code, guess_language(code), question)


def wants_review(text: str, has_files: bool) -> bool:
    """A message that asks for a review and carries something to review (a file or code)."""
    if not _ASKS_FOR_REVIEW.search(text):
        return False
    code_lines = [line for line in text.split("\n")[1:] if _CODE_HINT.search(line)]
    return has_files or bool(_FENCE.search(text)) or len(code_lines) >= 2


def snippet_material(snippet: Snippet) -> Material:
    lines = snippet.code.count("\n") + 1
    what = f"{snippet.language}, " if snippet.language else ""
    return Material("snippet", f"{what}{lines} line{'s' if lines != 1 else ''}", snippet.code, snippet.language)


def guess_language(code: str) -> str:
    checks = [
        ("python", r"^\s*(def |class \w+.*:|import \w|from \w+ import|async def )"),
        ("go", r"^\s*(package \w+|func \w*\(|import \()"),
        ("sql", r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER)\b"),
        ("typescript", r":\s*(string|number|boolean)\b|^\s*(interface|type) \w+"),
        ("javascript", r"^\s*(const|let|function|export|import .* from)\b|=>"),
        ("java", r"^\s*(public|private|protected) (static )?(class|void|[A-Z]\w*)"),
        ("rust", r"^\s*(fn |let mut |impl |use \w+::)"),
        ("ruby", r"^\s*(def \w+|end$|require ')"),
        ("yaml", r"^[\w-]+:\s*$"),
    ]
    for language, pattern in checks:
        if re.search(pattern, code, re.MULTILINE | (re.IGNORECASE if language == "sql" else 0)):
            return language
    return ""


def review_request(material: Material, question: str, description: str = "") -> str:
    """The user turn for Claude: the agent's own Code Review Standards, shaped for Slack."""
    what = {
        "snippet": "this code",
        "file": f"the file {material.title}",
        "pull request": f"pull request {material.title}",
        "commit": f"commit {material.title}",
    }[material.kind]
    asked = f"\n\nThe person asking adds: {question}" if question else ""
    if description:
        asked += f"\n\nThe author's description of the change:\n\n{description}"
    left_out = ""
    if material.left_out:
        left_out = (
            "\n\nNot all of the diff could be sent (too large, or key material); these files are left out "
            "wholly or in part: " + ", ".join(material.left_out) + ". Say so if it limits the review."
        )
    if material.not_seen:
        left_out += (
            "\n\nGitHub did not send the changes of these files (binary, or too large for it to show), so "
            "you cannot see them: " + ", ".join(material.not_seen) + ". Name them in the review as not seen."
        )
    fence = "````" if "```" in material.body else "```"
    return (
        f"Please review {what} following your Code Review Standards "
        "(correctness, performance, security, error handling, testability, maintainability, "
        f"scalability, cost).{asked}{left_out}\n\n"
        "Shape the review for Slack:\n"
        "1. One line first: the verdict (e.g. *Ship it*, *Ship after fixing 2 issues*, *Needs rework*).\n"
        f"2. Findings ordered by severity, at most {MAX_FINDINGS}, each starting with its marker: "
        "🔴 **Critical**, 🟠 **Major** or 🟡 **Minor**. For each: where it is (file and line or function), "
        "why it matters (what breaks, for whom, under what load), and a concrete fix as a short code block.\n"
        "3. *What's good*: two or three short bullets.\n"
        "Skip nitpicks a linter or formatter would catch. If there are no significant issues, say "
        '"No significant issues found." plainly instead of inventing some.\n\n'
        f"{fence}{material.language}\n{material.body}\n{fence}"
    )


# -- diffs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Hunk:
    file: str
    header: str  # the file's "diff --git" … "+++" lines, repeated for each kept hunk's file
    text: str
    added: int
    removed: int


# Key material in a diff is dropped whole: a rotated key's lines carry no BEGIN/END to redact by.
_KEY_FILES = re.compile(r"(^|/)(id_(rsa|dsa|ecdsa|ed25519)[^/]*|[^/]*\.(pem|key|p12|pfx|jks|keystore))$", re.IGNORECASE)
_GENERATED = re.compile(
    r"(^|/)(package-lock\.json|yarn\.lock|poetry\.lock|Cargo\.lock|go\.sum|"
    r"pnpm-lock\.yaml|.*\.min\.(js|css)|.*\.snap|vendor/.*|dist/.*)$"
)
_TESTS = re.compile(r"(^|/)(tests?|spec|__tests__)/|_test\.\w+$|\.test\.\w+$|test_\w+\.py$")


def parse_diff(diff: str) -> list[Hunk]:
    hunks: list[Hunk] = []
    for file_part in re.split(r"(?m)^(?=diff --git )", diff):
        if not file_part.strip():
            continue
        pieces = re.split(r"(?m)^(?=@@ )", file_part)
        header, bodies = pieces[0], pieces[1:]
        name = re.search(r"^\+\+\+ (?:b/)?(.+)$", header, re.MULTILINE) or re.search(
            r"^diff --git a/\S+ b/(.+)$", header, re.MULTILINE
        )
        file = name[1].strip() if name else "?"
        if file == "/dev/null":
            old = re.search(r"^--- (?:a/)?(.+)$", header, re.MULTILINE)
            file = old[1].strip() if old else file
        if not bodies:  # binary files, renames, mode changes
            hunks.append(Hunk(file, header, "", 0, 0))
        for body in bodies:
            lines = body.split("\n")
            added = sum(1 for ln in lines[1:] if ln.startswith("+"))
            removed = sum(1 for ln in lines[1:] if ln.startswith("-"))
            hunks.append(Hunk(file, header, body, added, removed))
    return hunks


def fit_diff(diff: str, budget: int = DIFF_BUDGET_CHARS) -> tuple[str, tuple[str, ...]]:
    """The diff within `budget` characters, and the files left out (wholly or in part).

    Key files (*.pem, id_rsa…) are always left out. Over budget, whole hunks are kept by
    relevance: hunks that add code first (source, then tests, then lockfiles and generated
    files; more added lines first), deletion-only hunks last, as room allows. A single hunk
    larger than the whole budget is cut at a line boundary rather than dropped. Kept hunks
    stay in their original order, each under its file's header.
    """
    hunks = parse_diff(diff)
    keys = {h.file for h in hunks if _KEY_FILES.search(h.file)}
    if not keys and len(diff) <= budget:
        return diff, ()
    hunks = [h for h in hunks if h.file not in keys]

    def relevance(index: int) -> tuple[int, int, int]:
        hunk = hunks[index]
        tier = 0 if hunk.added == 0 else 1 if _GENERATED.search(hunk.file) else 2 if _TESTS.search(hunk.file) else 3
        return (tier, hunk.added, -index)

    kept: dict[int, str] = {}  # index -> the hunk's text as sent
    used = 0
    files_with_header: set[str] = set()
    for index in sorted(range(len(hunks)), key=relevance, reverse=True):
        hunk = hunks[index]
        header_cost = 0 if hunk.file in files_with_header else len(hunk.header)
        text = hunk.text
        if used + header_cost + len(text) > budget:
            if kept or hunk.added == 0:
                continue  # it does not fit; smaller ones further down the list may
            cut = text[: budget - header_cost - 80].rsplit("\n", 1)[0]
            text = cut + "\n… [hunk cut here: it alone is larger than the review budget]\n"
        kept[index] = text
        used += header_cost + len(text)
        files_with_header.add(hunk.file)
    parts: list[str] = []
    last_file = None
    for index in sorted(kept):
        hunk = hunks[index]
        if hunk.file != last_file:
            parts.append(hunk.header)
            last_file = hunk.file
        parts.append(kept[index])
    partly = {h.file for i, h in enumerate(hunks) if i not in kept or kept[i] != h.text}
    left_out = tuple(f for f in dict.fromkeys([*(h.file for h in parse_diff(diff))]) if f in partly or f in keys)
    return "".join(parts), left_out


# -- helpers -------------------------------------------------------------------------


def _unwrap_slack_links(text: str) -> str:
    # Escaped commands and mentions carry links as <url|label> or <url>, and &, <, > as entities.
    text = re.sub(r"<(https?://[^|>]+)(?:\|[^>]*)?>", r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _without(text: str, match: re.Match[str]) -> str:
    return " ".join((text[: match.start()] + " " + text[match.end() :]).split())


def _is_prose(line: str) -> bool:
    stripped = line.strip()
    if not stripped:
        return True
    if stripped.startswith(("#", "//", "--", "/*", "*", "<!--")) or _CODE_HINT.search(line):
        return False  # comments and keywords belong to the code
    words = stripped.split()
    return (len(words) >= 3 and stripped[-1] in "?:.!") or (stripped.endswith("?") and len(words) >= 2)


def has_code(snippet: Snippet) -> bool:
    """Is there something to review (not just a question)?"""
    return bool(snippet.code.strip()) and (
        bool(snippet.language) or any(_CODE_HINT.search(line) for line in snippet.code.split("\n"))
    )
