"""What the bot keeps on disk is the team's words: only its own user can read it, nothing
follows a planted link, and a finished job's Slack event does not stay forever."""

from __future__ import annotations

import stat

import pytest

from bot.errors import StoreInUse
from bot.store import JobOwner, Store


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_folder_and_database_are_readable_by_the_bots_user_alone(tmp_path):
    data = tmp_path / "data"
    Store.in_data_dir(data).close()
    assert mode(data) == 0o700 and mode(data / "bot.sqlite3") == 0o600


def test_a_symbolic_link_planted_at_the_lock_file_is_not_followed(tmp_path):
    data = tmp_path / "data"
    store = Store.in_data_dir(data)
    target = tmp_path / "elsewhere"
    (data / "bot.lock").symlink_to(target)
    with pytest.raises(StoreInUse, match="cannot be opened safely"):
        store.lock_exclusively()
    assert not target.exists()


def test_finished_jobs_go_after_the_retention_period_and_the_rest_stay(tmp_path):
    kept = Store.in_data_dir(tmp_path / "a", retention_days=7)
    purged = Store.in_data_dir(tmp_path / "b", retention_days=1e-9)
    for store in (kept, purged):
        owner = JobOwner("UALICE", "C1", None)
        first = store.enqueue({"kind": "message", "text": "secret question"}, owner)
        second = store.enqueue({"kind": "x"}, owner)
        job = store.claim_next()
        assert job is not None and job.id == first
        store.finish_job(first)
    assert kept.job_state(first) == "done"
    assert purged.job_state(first) is None and purged.job_state(second) == "queued"  # only finished ones go
