"""What messages say, what channel configs must hold, and the signature recipe: no database."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import pytest

from plait.errors import InvalidInput
from plait.notifications.channels import (
    Target,
    scrub,
    signature,
    slack_text,
    verify_signature,
)
from plait.notifications.config import validate
from plait.notifications.messages import duration, last_line, render

FAILED = {
    "event": "run.failed",
    "workflow": "train",
    "workflow_id": 3,
    "run_id": 42,
    "status": "failed",
    "duration_seconds": 125.2,
    "task": "fit",
    "attempt": 2,
    "error": "ValueError: lr must be positive",
    "other_failed_tasks": ["report"],
}


def test_a_failure_names_workflow_run_status_duration_task_error_and_link() -> None:
    message = render("run.failed", FAILED, "https://plait.example.com/")
    assert message.title == "train run #42 failed after 2 min 5 s"
    assert message.lines == [
        "Failed task: fit (attempt 2)",
        "Error: ValueError: lr must be positive",
        "Also failed: report",
    ]
    assert message.link == "https://plait.example.com/runs/42"
    assert message.text().endswith("\nhttps://plait.example.com/runs/42")


@pytest.mark.parametrize(
    ("event", "extra", "title"),
    [
        ("run.succeeded", {"duration_seconds": 3.25}, "train run #42 succeeded in 3.2 s"),
        (
            "run.cancelled",
            {"duration_seconds": 7260},
            "train run #42 was cancelled after 2 h 1 min",
        ),
        (
            "task.retrying",
            {"task": "fit", "attempt": 1},
            "train run #42: task fit failed on attempt 1 and will be retried",
        ),
        (
            "run.duration_exceeded",
            {"duration_seconds": 3700, "sla_seconds": 3600},
            "train run #42 has been running for 1 h 1 min, over its limit of 1 h",
        ),
    ],
)
def test_titles(event: str, extra: dict[str, Any], title: str) -> None:
    facts = {"workflow": "train", "run_id": 42, **extra}
    assert render(event, facts, "http://x").title == title


def test_durations_read_at_a_glance() -> None:
    assert [duration(s) for s in (0.25, 12, 60, 61, 3600, 3660, None)] == [
        "0.2 s",
        "12 s",
        "1 min",
        "1 min 1 s",
        "1 h",
        "1 h 1 min",
        "an unknown time",
    ]


def test_the_last_line_of_a_traceback_is_the_error() -> None:
    tb = "Traceback (most recent call last):\n  File \"x\", line 1\nKeyError: 'lr'\n\n"
    assert last_line(tb) == "KeyError: 'lr'"
    assert last_line(None) is None and last_line(" \n") is None
    assert len(last_line("x" * 5000) or "") == 300


def test_slack_text_escapes_what_slack_would_read_as_markup() -> None:
    facts = {**FAILED, "error": "AssertionError: <nope> & more"}
    text = slack_text(render("run.failed", facts, "https://p.example"))
    assert "&lt;nope&gt; &amp; more" in text
    assert text.startswith(":x: *train run #42 failed after 2 min 5 s*")
    assert text.endswith("<https://p.example/runs/42|Open run #42>")


# --- channel configs -------------------------------------------------------------------------


def fields(kind: str, config: dict[str, Any], secret: str | None) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        validate(kind, config, secret)
    return {e.field: e.msg for e in caught.value.errors}


def test_each_kind_says_what_is_missing_by_field() -> None:
    assert "webhook URL" in fields("slack", {}, None)["secret"]
    assert "channel" in fields("slack", {"mode": "bot"}, "xoxb-1")["config.channel"]
    assert "https://" in fields("slack", {}, "not a url")["secret"]
    email = fields("email", {"host": "smtp.example.com"}, None)
    assert set(email) == {"config.sender", "config.to"}
    assert (
        "username"
        in fields("email", {"host": "h", "sender": "a@b.c", "to": ["d@e.f"]}, "pw")["secret"]
    )
    injected = {"host": "h", "sender": "a@b.c", "to": ["x@y.z\r\nBcc: evil@x.y"]}
    assert "config.to[0]" in fields("email", injected, None)
    assert "http" in fields("webhook", {"url": "ftp://x"}, "k" * 16)["config.url"]
    assert "16" in fields("webhook", {"url": "https://x.example"}, "short")["secret"]
    assert "config.extra" in fields("webhook", {"url": "https://x.example", "extra": 1}, "k" * 16)


def test_valid_configs_are_kept_without_empty_fields() -> None:
    assert validate("slack", {}, "https://hooks.slack.com/services/T/B/X") == {"mode": "webhook"}
    email = {"host": "smtp.example.com", "sender": "plait@example.com", "to": ["ml@example.com"]}
    assert validate("email", email, None) == {**email, "security": "starttls"}


# --- the webhook signature ---------------------------------------------------------------------


def test_signature_recipe_and_verification() -> None:
    secret, body, ts = "s3cret-signing-key", b'{"event":"run.failed"}', str(int(time.time()))
    expected = (
        "sha256=" + hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    )
    assert signature(secret, ts, body) == expected
    assert verify_signature(secret, body, ts, expected)
    assert not verify_signature("other-key-000000", body, ts, expected)
    assert not verify_signature(secret, body + b" ", ts, expected)
    assert not verify_signature(
        secret, body, str(int(ts) - 301), signature(secret, str(int(ts) - 301), body)
    )
    assert not verify_signature(secret, body, "soon", expected)


def test_errors_never_carry_the_secret() -> None:
    url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    text = f"cannot reach {url} (also /services/T000/B000/XXXXSECRET)"
    assert "XXXXSECRET" not in scrub(text, url)


def test_a_target_never_shows_its_secret_in_a_repr() -> None:
    target = Target(1, "ops", "webhook", {"url": "https://x.example"}, "whsec-do-not-print")
    assert "do-not-print" not in repr(target)
