"""How well and how fast bot/redact.py redacts, on tests/redaction_corpus/.

Prints the corpus size (files, planted secrets), recall (planted secrets gone / planted) and
whether each was counted under its kind, false positives (redactions in the clean corpus, and
redactions in the secret corpus that were not planted), and the time to redact 200 KB of code
(the corpus and this repository's own code, repeated), plus the worst of a few pathological
200 KB inputs.

    .venv/bin/python bench/redaction_corpus.py [--runs 20] [--compare-detect-secrets]

--compare-detect-secrets runs detect-secrets (if installed: `pip install detect-secrets`) over
the same corpus with its default plugins and filters, for the record of why it is not used.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.redact import _secret_spans, redact  # noqa: E402  # the spans, to attribute each one

CORPUS = ROOT / "tests" / "redaction_corpus"
SIZE = 200_000


def fragments(value: str) -> list[str]:
    """The value and its long lines: a PEM block in a diff or in JSON is not contiguous."""
    return [value] + [line for line in value.split("\n") if len(line) >= 16]


def load() -> tuple[dict[str, str], dict[str, str], dict[str, list[dict]]]:
    expected = json.loads((CORPUS / "expected.json").read_text())
    secret = {p.name: p.read_text() for p in sorted((CORPUS / "secrets").iterdir())}
    clean = {p.name: p.read_text() for p in sorted((CORPUS / "clean").iterdir())}
    return secret, clean, {Path(k).name: v for k, v in expected.items()}


def is_planted(found: str, planted: list[dict]) -> bool:
    return any(found in e["value"] or any(f in found for f in fragments(e["value"])) for e in planted)


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
    print(f"corpus: {len(secret)} files with secrets + {len(clean)} clean files, {size:,} characters; "
          f"{planted} planted secrets ({occurrences} occurrences) of {len({e['kind'] for v in expected.values() for e in v})} kinds")

    caught = right_kind = unplanted = 0
    misses, extras = [], []
    for name, text in secret.items():
        result = redact(text)
        spans = _secret_spans(text)
        for entry in expected.get(name, []):
            if not any(f in result.text for f in fragments(entry["value"])):
                caught += 1
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
    print(f"recall: {caught}/{planted} planted secrets gone ({caught / planted:.1%}); "
          f"{right_kind}/{planted} counted under the right kind")
    print(f"false positives: {clean_redactions} redactions in the clean corpus; "
          f"{unplanted} redactions of unplanted text in the secret corpus")
    for line in misses + extras:
        print("   ", line)

    text = sample(secret, clean)
    redact(text)  # warm up (regex compilation is at import, but caches and allocator are not)
    times = timings(text, runs)
    print(f"time to redact {len(text):,} characters ({len(_secret_spans(text))} redactions): "
          f"median {statistics.median(times) * 1000:.1f} ms, best {min(times) * 1000:.1f} ms, "
          f"worst {max(times) * 1000:.1f} ms over {runs} runs")
    worst = max((timings((unit * (SIZE // len(unit) + 1))[:SIZE], 1)[0], unit.strip()) for unit in
                ("password=", "-----BEGIN RSA PRIVATE KEY-----\n", "mysql -p", "name: X_TOKEN\n", '"password": "',
                 "key=", "://u:p", "eyJhbGciOiJIUzI1NiJ9.", "mysql -p" + "Ab12cd34\n"))
    print(f"worst pathological 200 KB input: {worst[0] * 1000:.0f} ms ({worst[1]!r} repeated)")


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
            path = Path(tmp) / name          # same name, so its file-type rules apply
            path.write_text(text)
            found = SecretsCollection()
            found.scan_file(str(path))
            return [(s.type, s.secret_value or "") for _, s in found]

        caught = unplanted = 0
        for name, text in secret.items():
            found = scan(name, text)
            for entry in expected.get(name, []):
                if any(value and (value in entry["value"] or any(f in value for f in fragments(entry["value"])))
                       for _, value in found):
                    caught += 1
            unplanted += sum(1 for _, value in found if not is_planted(value, expected.get(name, [])))
        clean_found = [(name, kind, value) for name, text in clean.items() for kind, value in scan(name, text)]
        print(f"recall: {caught}/{planted} planted secrets reported ({caught / planted:.1%}) "
              "(reported, not replaced: it gives values, not spans)")
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
    args = parser.parse_args()
    secret, clean, expected = load()
    ours(secret, clean, expected, args.runs)
    if args.compare_detect_secrets:
        detect_secrets(secret, clean, expected)


if __name__ == "__main__":
    main()
