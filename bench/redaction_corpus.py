"""How well and how fast bot/redact.py redacts, on tests/redaction_corpus/.

Prints the corpus size (files, planted secrets), recall (planted secrets gone / planted) per
family and overall, and whether each was counted under its kind, false positives (redactions in
the clean corpus, redactions in the secret corpus that were not planted, and files changed among
the installed dependencies' source, .venv/lib/python3*/site-packages/**/*.py), and the time to
redact 200 KB of code (the corpus and this repository's own code, repeated) in ms and ms per kB,
plus the worst of a few pathological 200 KB inputs.

    .venv/bin/python bench/redaction_corpus.py [--runs 20] [--compare-detect-secrets]

--compare-detect-secrets runs detect-secrets (if installed: `pip install detect-secrets`) over
the same corpus with its default plugins and filters, for the record of why it is not used.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.redact import _secret_spans, redact  # the spans, to attribute each one

CORPUS = ROOT / "tests" / "redaction_corpus"
SIZE = 200_000


def fragments(value: str, pieces: list[str] | None = None) -> list[str]:
    """The value and its long lines: a PEM block in a diff or in JSON is not contiguous; and the
    pieces of a value written in several (`"abc" + "def"`)."""
    return [value] + [line for line in value.split("\n") if len(line) >= 16] + (pieces or [])


def load() -> tuple[dict[str, str], dict[str, str], dict[str, list[dict]]]:
    expected = json.loads((CORPUS / "expected.json").read_text())
    secret = {
        p.relative_to(CORPUS).as_posix(): p.read_text() for p in sorted((CORPUS / "secrets").rglob("*")) if p.is_file()
    }
    clean = {
        p.relative_to(CORPUS).as_posix(): p.read_text() for p in sorted((CORPUS / "clean").rglob("*")) if p.is_file()
    }
    return secret, clean, expected


def is_planted(found: str, planted: list[dict]) -> bool:
    return any(
        found in e["value"] or any(f in found for f in fragments(e["value"], e.get("fragments"))) for e in planted
    )


def sample(secret: dict[str, str], clean: dict[str, str]) -> str:
    code = [p.read_text() for p in sorted((ROOT / "bot").rglob("*.py"))]
    blob = "\n".join([*secret.values(), *clean.values(), *code])
    return (blob * (SIZE // len(blob) + 1))[:SIZE]


def timings(text: str, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        redact(text)
        out.append(time.perf_counter() - started)
    return out


def ours(secret: dict[str, str], clean: dict[str, str], expected: dict[str, list[dict]], runs: int) -> None:
    planted = sum(len(v) for v in expected.values())
    occurrences = sum(e.get("count", 1) for v in expected.values() for e in v)
    size = sum(map(len, secret.values())) + sum(map(len, clean.values()))
    print(
        f"corpus: {len(secret)} files with secrets + {len(clean)} clean files, {size:,} characters; "
        f"{planted} planted secrets ({occurrences} occurrences) of {len({e['kind'] for v in expected.values() for e in v})} kinds"
    )

    caught = right_kind = unplanted = 0
    misses, extras = [], []
    per_family: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for name, text in secret.items():
        result = redact(text)
        spans = _secret_spans(text)
        for entry in expected.get(name, []):
            per_family[entry.get("family", "?")][1] += 1
            if not any(f in result.text for f in fragments(entry["value"], entry.get("fragments"))):
                caught += 1
                per_family[entry.get("family", "?")][0] += 1
                if any(kind == entry["kind"] and is_planted(text[s:e], [entry]) for s, e, kind in spans):
                    right_kind += 1
                else:
                    misses.append(f"{name}: {entry['kind']} counted under another kind")
            else:
                misses.append(f"{name}: {entry['kind']} missed")
        for s, e, kind in spans:
            if not is_planted(text[s:e], expected.get(name, [])):
                unplanted += 1
                extras.append(f"{name}: {kind} {text[s:e][:30]!r}")
    clean_redactions = sum(sum(redact(text).counts.values()) for text in clean.values())
    print("recall per family:")
    for family, (got, total) in sorted(per_family.items()):
        print(f"    {family:<24} {got:>3}/{total:<3} {got / total:6.1%}")
    print(
        f"recall: {caught}/{planted} planted secrets gone ({caught / planted:.1%}); "
        f"{right_kind}/{planted} counted under the right kind"
    )
    print(
        f"false positives: {clean_redactions} redactions in the clean corpus; "
        f"{unplanted} redactions of unplanted text in the secret corpus"
    )
    for line in misses + extras:
        print("   ", line)

    text = sample(secret, clean)
    redact(text)  # warm up (regex compilation is at import, but caches and allocator are not)
    times = timings(text, runs)
    print(
        f"time to redact {len(text):,} characters ({len(_secret_spans(text))} redactions): "
        f"median {statistics.median(times) * 1000:.1f} ms ({statistics.median(times) * 1000 / (len(text) / 1000):.3f} "
        f"ms per kB), best {min(times) * 1000:.1f} ms, worst {max(times) * 1000:.1f} ms over {runs} runs"
    )
    worst = max(
        (timings((unit * (SIZE // len(unit) + 1))[:SIZE], 1)[0], unit.strip())
        for unit in (
            "password=",
            "-----BEGIN RSA PRIVATE KEY-----\n",
            "mysql -p",
            "name: X_TOKEN\n",
            '"password": "',
            "key=",
            "://u:p",
            "eyJhbGciOiJIUzI1NiJ9.",
            "mysql -p" + "Ab12cd34\n",
            "token: |",
            "secret = (",
            'X_KEY = "',
            "cookie: a=",
            "PuTTY-User-Key-File-2:",
            "sig=",
            "1234567:",
            "---- BEGIN SSH2 PRIVATE KEY ----\n",
            "secret access key,",
            "jdbc:oracle:thin:a/",
            "sk_test_",
        )
    )
    print(f"worst pathological 200 KB input: {worst[0] * 1000:.0f} ms ({worst[1]!r} repeated)")


def site_packages() -> None:
    """False positives on ordinary code: the installed dependencies' own .py files."""
    roots = sorted(ROOT.glob(".venv/lib/python3*/site-packages"))
    if not roots:
        print("site-packages: no .venv here (make install)")
        return
    changed, size, spent, files = [], 0, 0.0, 0
    for path in sorted(roots[0].rglob("*.py")):
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        files += 1
        size += len(text.encode())
        started = time.perf_counter()
        spans = _secret_spans(text)
        spent += time.perf_counter() - started
        if spans:
            s, e, kind = spans[0]
            changed.append(f"{path.relative_to(roots[0])}: {len(spans)} ({kind} {text[s:e][:24]!r})")
    print(
        f"false positives in the dependencies' source: {len(changed)} changed files of {files:,} "
        f"({size / 1e6:.1f} MB scanned, {spent * 1000 / (size / 1000):.3f} ms per kB)"
    )
    for line in changed:
        print("   ", line)


def detect_secrets(secret: dict[str, str], clean: dict[str, str], expected: dict[str, list[dict]]) -> None:
    try:
        from detect_secrets import SecretsCollection
        from detect_secrets.settings import default_settings
    except ImportError:
        print("detect-secrets is not installed (pip install detect-secrets)")
        return
    from importlib.metadata import version

    print(f"\ndetect-secrets {version('detect-secrets')}, default plugins and filters, scan_file per file:")
    planted = sum(len(v) for v in expected.values())
    with tempfile.TemporaryDirectory() as tmp, default_settings():

        def scan(name: str, text: str) -> list[tuple[str, str]]:
            path = Path(tmp) / name  # same name, so its file-type rules apply
            path.write_text(text)
            found = SecretsCollection()
            found.scan_file(str(path))
            return [(s.type, s.secret_value or "") for _, s in found]

        caught = unplanted = 0
        for name, text in secret.items():
            found = scan(name, text)
            for entry in expected.get(name, []):
                if any(
                    value and (value in entry["value"] or any(f in value for f in fragments(entry["value"])))
                    for _, value in found
                ):
                    caught += 1
            unplanted += sum(1 for _, value in found if not is_planted(value, expected.get(name, [])))
        clean_found = [(name, kind, value) for name, text in clean.items() for kind, value in scan(name, text)]
        print(
            f"recall: {caught}/{planted} planted secrets reported ({caught / planted:.1%}) "
            "(reported, not replaced: it gives values, not spans)"
        )
        print(f"false positives: {len(clean_found)} in the clean corpus, {unplanted} unplanted in the secret corpus")
        for name, kind, value in clean_found:
            print(f"    {name}: {kind} {value[:40]!r}")
        text = sample(secret, clean)
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            scan("sample.py", text)
            best = min(best, time.perf_counter() - started)
        print(f"time to scan {len(text):,} characters: best {best * 1000:.0f} ms of 3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--compare-detect-secrets", action="store_true")
    parser.add_argument("--no-site-packages", action="store_true", help="skip the scan of the dependencies")
    args = parser.parse_args()
    secret, clean, expected = load()
    ours(secret, clean, expected, args.runs)
    if not args.no_site_packages:
        site_packages()
    if args.compare_detect_secrets:
        detect_secrets(secret, clean, expected)


if __name__ == "__main__":
    main()
