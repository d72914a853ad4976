"""An installed (non-editable) bot still finds the agent it ships."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_the_shipped_agent_and_finds_it_outside_the_repo(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        check=True,
    )
    wheel = next((tmp_path / "dist").glob("backend_engineer-*.whl"))
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    shipped = unpacked / "bot" / "_shipped_agents" / "backend-senior-engineer.md"
    assert shipped.read_bytes() == (ROOT / "agents" / "backend-senior-engineer.md").read_bytes()
    assert (unpacked / "bot" / "slack" / "manifest.schema.json").exists()
    for page in ("index.html", "playground.js", "playground.css"):  # the playground works from a wheel too
        assert (unpacked / "bot" / "playground" / "static" / page).exists()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        f"import sys; sys.path.insert(0, {str(unpacked)!r}); import bot.agents as a; from bot.agents import *; "
        "c = load_agents(shipped_agents_dir(), ModelChoices('m', {})); "
        "print(a.__file__); print(shipped_agents_dir()); print([x.name for x in c.agents])"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    module_file, agents_dir, names = out.stdout.splitlines()
    assert module_file.startswith(str(unpacked))
    assert agents_dir.startswith(str(unpacked))
    assert names == "['backend-senior-engineer']"
