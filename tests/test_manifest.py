"""The Slack app manifest shipped at the repo root, and the check that guards it."""

from __future__ import annotations

import copy
import pathlib
from importlib import resources

import jsonschema
import pytest
import yaml

from bot.slack.manifest import (
    REQUIRED_BOT_EVENTS,
    REQUIRED_BOT_SCOPES,
    REVIEW_COMMAND,
    load_schema,
    manifest_problems,
)

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHIPPED_MANIFEST = REPO_ROOT / "manifest.yml"


@pytest.fixture
def shipped() -> dict:
    return yaml.safe_load(SHIPPED_MANIFEST.read_text(encoding="utf-8"))


def write_manifest(tmp_path: pathlib.Path, data: dict) -> pathlib.Path:
    path = tmp_path / "manifest.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# --- the shipped manifest ---------------------------------------------------------------


def test_shipped_manifest_is_valid_against_slacks_schema(shipped):
    schema = load_schema()
    jsonschema.validators.validator_for(schema)(schema).validate(shipped)


def test_shipped_manifest_has_no_problems():
    assert manifest_problems(SHIPPED_MANIFEST) == []


def test_shipped_manifest_declares_what_the_bot_needs(shipped):
    assert shipped["display_information"]["name"] == "backend-engineer"
    assert shipped["features"]["bot_user"]["display_name"] == "backend-engineer"
    assert set(shipped["oauth_config"]["scopes"]["bot"]) == set(REQUIRED_BOT_SCOPES)
    assert set(shipped["settings"]["event_subscriptions"]["bot_events"]) == set(REQUIRED_BOT_EVENTS)
    [command] = shipped["features"]["slash_commands"]
    assert command["command"] == REVIEW_COMMAND
    assert command["usage_hint"] and command["description"]
    assert command["should_escape"] is False


def test_shipped_manifest_runs_in_socket_mode_with_dms_open(shipped):
    settings = shipped["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["org_deploy_enabled"] is False
    app_home = shipped["features"]["app_home"]
    assert app_home["messages_tab_enabled"] is True
    assert app_home["messages_tab_read_only_enabled"] is False


def test_shipped_manifest_has_no_request_urls_so_it_validates_in_socket_mode(shipped):
    assert "request_url" not in shipped["settings"]["event_subscriptions"]
    assert "request_url" not in shipped["settings"]["interactivity"]
    assert all("url" not in command for command in shipped["features"]["slash_commands"])


def test_packaged_schema_and_license_are_copies_of_the_shared_ones():
    shared = pathlib.Path("/work/shared/slack")
    if not shared.is_dir():
        pytest.skip("shared Slack folder not present")
    package = resources.files("bot.slack")
    for name in ("manifest.schema.json", "LICENSE.manifest-schema"):
        assert package.joinpath(name).read_bytes() == (shared / name).read_bytes()


# --- the check: the bot's own needs ----------------------------------------------------


def test_missing_scope_is_named(tmp_path, shipped):
    data = copy.deepcopy(shipped)
    data["oauth_config"]["scopes"]["bot"].remove("reactions:write")

    problems = manifest_problems(write_manifest(tmp_path, data))

    assert len(problems) == 1
    assert "oauth_config.scopes.bot" in problems[0]
    assert "'reactions:write'" in problems[0]


def test_missing_event_is_named(tmp_path, shipped):
    data = copy.deepcopy(shipped)
    data["settings"]["event_subscriptions"]["bot_events"].remove("message.im")

    problems = manifest_problems(write_manifest(tmp_path, data))

    assert len(problems) == 1
    assert "settings.event_subscriptions.bot_events" in problems[0]
    assert "'message.im'" in problems[0]


def test_missing_review_command_is_named(tmp_path, shipped):
    data = copy.deepcopy(shipped)
    data["features"]["slash_commands"][0]["command"] = "/other"

    problems = manifest_problems(write_manifest(tmp_path, data))

    assert len(problems) == 1
    assert REVIEW_COMMAND in problems[0]


def test_interactivity_off_is_a_problem(tmp_path, shipped):
    data = copy.deepcopy(shipped)
    data["settings"]["interactivity"]["is_enabled"] = False

    problems = manifest_problems(write_manifest(tmp_path, data))

    assert problems == [p for p in problems if p.startswith("settings.interactivity.is_enabled")]
    assert len(problems) == 1


def test_http_mode_with_request_urls_is_fine(tmp_path, shipped):
    data = copy.deepcopy(shipped)
    url = "https://bot.example.com/slack/events"
    data["settings"]["socket_mode_enabled"] = False
    data["settings"]["event_subscriptions"]["request_url"] = url
    data["settings"]["interactivity"]["request_url"] = url
    data["features"]["slash_commands"][0]["url"] = url

    assert manifest_problems(write_manifest(tmp_path, data)) == []


def test_manifest_without_oauth_or_settings_names_every_need(tmp_path, shipped):
    data = {"display_information": shipped["display_information"]}

    problems = "\n".join(manifest_problems(write_manifest(tmp_path, data)))

    for needed in (*REQUIRED_BOT_SCOPES, *REQUIRED_BOT_EVENTS, REVIEW_COMMAND):
        assert f"'{needed}'" in problems
    assert "settings.interactivity.is_enabled" in problems


# --- the check: Slack's schema ---------------------------------------------------------


def test_wrong_type_is_reported_with_its_path(tmp_path, shipped):
    data = copy.deepcopy(shipped)
    data["features"]["slash_commands"][0]["should_escape"] = "no"

    problems = manifest_problems(write_manifest(tmp_path, data))

    assert problems == ["features.slash_commands[0].should_escape: 'no' is not of type 'boolean'"]


def test_command_without_slash_is_reported_with_its_path(tmp_path, shipped):
    data = copy.deepcopy(shipped)
    data["features"]["slash_commands"][0]["command"] = "backend-review"

    problems = manifest_problems(write_manifest(tmp_path, data))

    assert any(p.startswith("features.slash_commands[0].command: ") for p in problems)


def test_unknown_key_is_reported_with_its_path(tmp_path, shipped):
    data = copy.deepcopy(shipped)
    data["settings"]["socket_mode"] = True  # the real key is socket_mode_enabled

    problems = manifest_problems(write_manifest(tmp_path, data))

    assert len(problems) == 1
    assert problems[0].startswith("settings: ")
    assert "'socket_mode'" in problems[0]


def test_missing_required_field_is_reported_at_the_root(tmp_path, shipped):
    data = copy.deepcopy(shipped)
    del data["display_information"]

    problems = manifest_problems(write_manifest(tmp_path, data))

    assert problems == ["(root): 'display_information' is a required property"]


def test_too_short_long_description_reports_length_not_the_whole_text(tmp_path, shipped):
    data = copy.deepcopy(shipped)
    data["display_information"]["long_description"] = "Too short."

    problems = manifest_problems(write_manifest(tmp_path, data))

    assert problems == ["display_information.long_description: is 10 characters long, must be at least 175"]


# --- the check: files that are not manifests -------------------------------------------


def test_broken_yaml_is_a_problem_with_its_line_not_an_exception(tmp_path):
    path = tmp_path / "manifest.yml"
    path.write_text("display_information:\n  name: [backend-engineer\nfeatures: {}\n", encoding="utf-8")

    problems = manifest_problems(path)

    assert len(problems) == 1
    assert "YAML syntax error" in problems[0]
    assert "line " in problems[0]


def test_missing_file_is_a_problem(tmp_path):
    path = tmp_path / "nope.yml"

    problems = manifest_problems(path)

    assert len(problems) == 1
    assert "not found" in problems[0]
    assert str(path) in problems[0]


def test_empty_file_is_a_problem(tmp_path):
    path = tmp_path / "manifest.yml"
    path.write_text("# nothing here\n", encoding="utf-8")

    assert manifest_problems(path) == [f"{path}: manifest is empty"]


def test_yaml_that_is_not_a_mapping_is_a_problem_not_an_exception(tmp_path):
    path = tmp_path / "manifest.yml"
    path.write_text("- just\n- a list\n", encoding="utf-8")

    problems = manifest_problems(path)

    assert problems[0].startswith("(root): ")
    assert "is not of type 'object'" in problems[0]


def test_non_string_yaml_key_is_a_problem_not_an_exception(tmp_path, shipped):
    data = copy.deepcopy(shipped)
    data["types"] = {1: {"type": "string"}}
    path = write_manifest(tmp_path, data)

    problems = manifest_problems(path)

    assert "types: YAML key 1 is not a string" in problems
