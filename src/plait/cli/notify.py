"""`plait channels ...` and `plait rules ...`: where notifications go (Slack, email, a
webhook) and which run events go there."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from plait.cli.client import Client
from plait.cli.common import Yes, api_command, connect, delete_confirmed, err, out, parse_pairs
from plait.cli.output import Format, Output, emit, print_table
from plait.cli.views import compact, timestamp

channels_app = typer.Typer(
    help="Notification channels: list, show, create, test, deliveries, enable, disable, delete.",
    no_args_is_help=True,
)
rules_app = typer.Typer(
    help="Notification rules (which events go to which channel): list, show, create, enable, "
    "disable, delete.",
    no_args_is_help=True,
)
CHANNELS, RULES = "/api/v1/channels", "/api/v1/rules"


class Kind(StrEnum):
    slack = "slack"
    email = "email"
    webhook = "webhook"


class Event(StrEnum):
    succeeded = "run.succeeded"
    failed = "run.failed"
    cancelled = "run.cancelled"
    retrying = "task.retrying"
    late = "run.duration_exceeded"


Channel = Annotated[str, typer.Argument(help="The channel's name (or id).")]
RuleId = Annotated[int, typer.Argument(min=1, help="The rule's id (plait rules list).")]


# channels --------------------------------------------------------------------------------------


@channels_app.command("list")
@api_command
def channels_list(output: Output = Format.table) -> None:
    """Every channel (secrets are never shown: `secret` says whether one is set)."""
    channels = connect().request("GET", CHANNELS)

    def table() -> None:
        rows = Table("id", "name", "kind", "enabled", "secret", "config")
        for c in channels:
            rows.add_row(
                str(c["id"]),
                Text(c["name"]),
                c["kind"],
                "yes" if c["enabled"] else "no",
                "set" if c["has_secret"] else "",
                Text(compact(c["config"])),
            )
        print_table(rows)

    emit(channels, output, table)


@channels_app.command("show")
@api_command
def channels_show(channel: Channel, output: Output = Format.table) -> None:
    """One channel and its config."""
    client = connect()
    found = client.request("GET", f"{CHANNELS}/{channel_id(client, channel)}")
    emit(found, output, lambda: _describe(found))


def _describe(c: dict[str, Any]) -> None:
    state = "enabled" if c["enabled"] else "disabled"
    secret = "a secret set" if c["has_secret"] else "no secret"
    out.print(Text(f"channel {c['id']} {c['name']}: {c['kind']}, {state}, {secret}"))
    out.print(Text(f"  config {compact(c['config'])}"))


@channels_app.command("create")
@api_command
def channels_create(
    name: Annotated[str, typer.Argument(help="The channel's name.")],
    kind: Annotated[Kind, typer.Option(help="Where messages go.")],
    config: Annotated[
        list[str] | None,
        typer.Option(
            "--config",
            "-c",
            metavar="KEY=VALUE",
            help="A config field (repeatable; VALUE is JSON when it parses): slack mode=bot "
            'channel=#ml; email host=... sender=... to=["a@b.org"]; webhook url=https://... '
            "(see docs/notifications.md).",
        ),
    ] = None,
    secret_stdin: Annotated[
        bool,
        typer.Option(
            help="Read the secret (Slack webhook URL or bot token, SMTP password, webhook "
            "signing key) from stdin: never an option, which `ps` would show."
        ),
    ] = False,
    disabled: Annotated[bool, typer.Option(help="Create it disabled.")] = False,
    output: Output = Format.table,
) -> None:
    """Create a channel (try it with `plait channels test NAME`)."""
    body: dict[str, Any] = {
        "name": name,
        "kind": kind.value,
        "config": parse_pairs(config or [], "'-c' / '--config'"),
        "enabled": not disabled,
    }
    if secret_stdin:
        body["secret"] = sys.stdin.readline().rstrip("\n")
    created = connect().request("POST", CHANNELS, json=body)
    emit(created, output, lambda: _describe(created))


@channels_app.command("test")
@api_command
def channels_test(channel: Channel, output: Output = Format.table) -> None:
    """Send a test message now; exit 1 if the channel did not take it."""
    client = connect()
    result = client.request("POST", f"{CHANNELS}/{channel_id(client, channel)}/test")

    def said() -> None:
        if result["ok"]:
            out.print(Text(f"sent (delivery {result['delivery_id']})"))
        else:
            err.print(
                Text(f"error: not sent (delivery {result['delivery_id']}): {result['error']}")
            )

    emit(result, output, said)
    if not result["ok"]:
        raise typer.Exit(1)


@channels_app.command("enable")
@api_command
def channels_enable(channel: Channel, output: Output = Format.table) -> None:
    """Send this channel's messages again."""
    _patch_channel(channel, {"enabled": True}, output)


@channels_app.command("disable")
@api_command
def channels_disable(channel: Channel, output: Output = Format.table) -> None:
    """Stop sending to this channel (its rules stay)."""
    _patch_channel(channel, {"enabled": False}, output)


def _patch_channel(channel: str, changes: dict[str, Any], output: Format) -> None:
    client = connect()
    found = client.request("PATCH", f"{CHANNELS}/{channel_id(client, channel)}", json=changes)
    emit(found, output, lambda: _describe(found))


@channels_app.command("delete")
@api_command
def channels_delete(channel: Channel, yes: Yes = False) -> None:
    """Delete a channel and its rules."""
    client = connect()
    delete_confirmed(client, f"{CHANNELS}/{channel_id(client, channel)}",
                     f"Delete channel {channel} and its rules?", f"deleted channel {channel}",
                     yes=yes)  # fmt: skip


@channels_app.command("deliveries")
@api_command
def channels_deliveries(
    channel: Annotated[str | None, typer.Option(help="Only this channel's.")] = None,
    status: Annotated[
        str | None, typer.Option(help="Only in this status: pending, sent, failed.")
    ] = None,
    run: Annotated[int | None, typer.Option(min=1, help="Only about this run.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    output: Output = Format.table,
) -> None:
    """What was sent (or is being tried), newest first: to check that a channel works."""
    client = connect()
    params: dict[str, Any] = {"limit": limit, "status": status, "run_id": run}
    if channel:
        params["channel_id"] = channel_id(client, channel)
    page = client.request(
        "GET", "/api/v1/deliveries", params={k: v for k, v in params.items() if v is not None}
    )

    def table() -> None:
        rows = Table("id", "channel", "event", "run", "status", "tries", "created (UTC)", "error")
        for d in page["items"]:
            rows.add_row(
                str(d["id"]),
                str(d["channel_id"]),
                d["event_type"],
                str(d["run_id"] or ""),
                d["status"],
                str(d["attempts"]),
                timestamp(d["created_at"]),
                Text(d["error"] or ""),
            )
        print_table(rows)

    emit(page, output, table)


def channel_id(client: Client, channel: str) -> int:
    """A channel given by id or name (the API takes ids; people know names)."""
    if channel.isdigit():
        return int(channel)
    for c in client.request("GET", CHANNELS):
        if c["name"] == channel:
            return int(c["id"])
    err.print(Text(f"error: no channel {channel!r} (plait channels list)"))
    raise typer.Exit(1)


# rules -----------------------------------------------------------------------------------------


@rules_app.command("list")
@api_command
def rules_list(
    channel: Annotated[str | None, typer.Option(help="Only this channel's rules.")] = None,
    output: Output = Format.table,
) -> None:
    """Every rule: which events of which workflows go to which channel."""
    client = connect()
    params = {"channel_id": channel_id(client, channel)} if channel else {}
    rules = client.request("GET", RULES, params=params)

    def table() -> None:
        rows = Table("id", "name", "channel", "scope", "events", "enabled")
        for r in rules:
            rows.add_row(
                str(r["id"]),
                Text(r["name"]),
                str(r["channel_id"]),
                Text(_scope(r)),
                ",".join(r["events"]),
                "yes" if r["enabled"] else "no",
            )
        print_table(rows)

    emit(rules, output, table)


def _scope(rule: dict[str, Any]) -> str:
    return "all" if rule["scope"] == "all" else f"{rule['scope']} {rule['scope_value']}"


@rules_app.command("show")
@api_command
def rules_show(rule_id: RuleId, output: Output = Format.table) -> None:
    """One rule."""
    rule = connect().request("GET", f"{RULES}/{rule_id}")
    emit(rule, output, lambda: _said_rule(rule))


def _said_rule(r: dict[str, Any]) -> None:
    state = "enabled" if r["enabled"] else "disabled"
    out.print(
        Text(
            f"rule {r['id']} {r['name']}: {', '.join(r['events'])} of {_scope(r)} "
            f"-> channel {r['channel_id']}, {state}"
        )
    )


@rules_app.command("create")
@api_command
def rules_create(
    name: Annotated[str, typer.Argument(help="The rule's name.")],
    channel: Annotated[str, typer.Option(help="Where to send: the channel's name or id.")],
    event: Annotated[
        list[Event], typer.Option("--event", "-e", help="An event to send (repeatable).")
    ],
    workflow: Annotated[str | None, typer.Option(help="Only this workflow's runs.")] = None,
    tag: Annotated[str | None, typer.Option(help="Only runs of workflows with this tag.")] = None,
    output: Output = Format.table,
) -> None:
    """Send these events (of every workflow, one workflow, or a tag's) to a channel."""
    if workflow and tag:
        raise typer.BadParameter("give --workflow or --tag, not both", param_hint="'--tag'")
    client = connect()
    scope, value = ("workflow", workflow) if workflow else ("tag", tag) if tag else ("all", None)
    body = {
        "name": name,
        "channel_id": channel_id(client, channel),
        "scope": scope,
        "scope_value": value,
        "events": [e.value for e in event],
    }
    rule = client.request("POST", RULES, json=body)
    emit(rule, output, lambda: _said_rule(rule))


@rules_app.command("enable")
@api_command
def rules_enable(rule_id: RuleId, output: Output = Format.table) -> None:
    """Send this rule's events again."""
    rule = connect().request("PATCH", f"{RULES}/{rule_id}", json={"enabled": True})
    emit(rule, output, lambda: _said_rule(rule))


@rules_app.command("disable")
@api_command
def rules_disable(rule_id: RuleId, output: Output = Format.table) -> None:
    """Stop sending this rule's events (it stays, to enable again)."""
    rule = connect().request("PATCH", f"{RULES}/{rule_id}", json={"enabled": False})
    emit(rule, output, lambda: _said_rule(rule))


@rules_app.command("delete")
@api_command
def rules_delete(rule_id: RuleId, yes: Yes = False) -> None:
    """Delete a rule."""
    delete_confirmed(connect(), f"{RULES}/{rule_id}", f"Delete rule {rule_id}?",
                     f"deleted rule {rule_id}", yes=yes)  # fmt: skip
