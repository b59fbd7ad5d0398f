"""Which server and tokens the CLI uses when nothing is given, and how the login file keeps
each server's tokens apart (the commands themselves are tested in test_daily_cli)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plait.cli.client import DEFAULT_URL, Login


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.json"
    monkeypatch.setenv("PLAIT_CLI_CONFIG", str(path))
    monkeypatch.delenv("PLAIT_URL", raising=False)
    monkeypatch.delenv("PLAIT_TOKEN", raising=False)
    return path


def test_with_no_login_and_no_url_it_is_the_default_server(config: Path) -> None:
    login = Login.load()
    assert (login.url, login.access_token) == (DEFAULT_URL, None)


def test_each_server_keeps_its_tokens_and_a_login_makes_it_current(config: Path) -> None:
    Login("https://a.example", "a-access", "a-refresh").save(current=True)
    Login("https://b.example/", "b-access", "b-refresh").save(current=False)
    assert Login.load().access_token == "a-access", "a refresh elsewhere changes no current"
    assert Login.load("https://b.example/").access_token == "b-access", "a trailing / is the same"
    Login("https://b.example", "b2", "b2-refresh").save(current=True)
    assert (Login.load().url, Login.load().access_token) == ("https://b.example", "b2")
    assert Login.load("https://a.example").refresh_token == "a-refresh"
    assert Login.load("https://c.example").access_token is None, "never another server's token"


def test_the_file_of_older_versions_reads_as_its_server(config: Path) -> None:
    old = {"url": "https://old.example", "access_token": "t", "refresh_token": "r"}
    config.write_text(json.dumps(old))
    login = Login.load()
    assert (login.url, login.access_token, login.refresh_token) == ("https://old.example", "t", "r")


def test_plait_url_beats_the_remembered_server(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Login("https://a.example", "a-access", "a-refresh").save(current=True)
    monkeypatch.setenv("PLAIT_URL", "https://b.example")
    assert Login.load().url == "https://b.example"
    assert Login.load("https://c.example").url == "https://c.example", "--url beats PLAIT_URL"
