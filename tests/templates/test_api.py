"""/api/v1/templates: the gallery's list, params checked against the schema, private
templates, who may change what, built-ins read-only, and save-as-template round trips."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from plait.db.models import Event
from tests.conftest import Account, workflow_doc
from tests.support.workflows import create_workflow
from tests.templates.conftest import instantiate

Accounts = dict[str, Account]
T = "/api/v1/templates"


def template_doc(name: str = "mine", **overrides: Any) -> dict[str, Any]:
    doc = {"name": name, "category": "evaluation", "spec": workflow_doc("ignored")}
    return {**doc, **overrides}


async def create(client: httpx.AsyncClient, who: Account, **doc: Any) -> dict[str, Any]:
    response = await client.post(T, json=template_doc(**doc), headers=who.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def plain(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items without their null fields (the API spells them out; stored specs leave them out)."""
    return [{k: v for k, v in item.items() if v is not None} for item in items]


def field_errors(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return {e["field"]: e["message"] for e in response.json()["errors"]}


async def test_the_gallery_lists_built_ins_first_then_saved_ones(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    ed = accounts["editor"]
    await create(client, ed, name="b-saved")
    await create(client, ed, name="a-saved", category="inference")
    page = (await client.get(T, headers=accounts["viewer"].headers)).json()
    ids = [t["id"] for t in page["items"]]
    assert ids[:4] == ["builtin:batch-inference", "builtin:csv-validation",
                       "builtin:hyperparameter-sweep", "builtin:sklearn-training"]  # fmt: skip
    assert [t["name"] for t in page["items"][4:]] == ["a-saved", "b-saved"]
    assert page["categories"] == ["data_pipeline", "evaluation", "inference", "ml_training"]
    sklearn = page["items"][3]
    assert sklearn["builtin"] and sklearn["author"] == "Plait" and sklearn["tasks"] == 4
    assert sklearn["params"]["n_estimators"]["default"] == 100

    only = (await client.get(T, params={"category": "inference"}, headers=ed.headers)).json()
    assert [t["name"] for t in only["items"]] == ["batch-inference", "a-saved"]
    found = (await client.get(T, params={"q": "CSV"}, headers=ed.headers)).json()
    assert {t["name"] for t in found["items"]} >= {"csv-validation", "batch-inference"}
    assert all("csv" in (t["name"] + t["description"]).lower() for t in found["items"])

    first = (await client.get(T, params={"limit": 1}, headers=ed.headers)).json()
    assert [t["name"] for t in first["items"]][-1] == "a-saved"
    rest = await client.get(T, params={"limit": 1, "cursor": first["next_cursor"]},
                            headers=ed.headers)  # fmt: skip
    assert [t["name"] for t in rest.json()["items"]] == ["b-saved"]  # no built-ins again
    assert rest.json()["next_cursor"] is None


async def test_instantiate_makes_a_workflow_whose_defaults_are_the_given_values(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    ed = accounts["editor"]
    made = await instantiate(client, ed, "builtin:sklearn-training", "forest", n_estimators=7)
    assert made.status_code == 201, made.text
    wf = made.json()
    assert made.headers["location"] == f"/api/v1/workflows/{wf['id']}"
    assert wf["name"] == "forest" and wf["owner"] == "ed"
    assert wf["params"]["n_estimators"]["default"] == 7
    assert wf["params"]["max_depth"]["default"] == 5  # not given: the template's default
    versions = (await client.get("/api/v1/workflows/forest/versions", headers=ed.headers)).json()
    assert versions["items"][0]["message"] == "created from template sklearn-training"
    again = await instantiate(client, ed, "sklearn-training", "forest")  # by name, too
    assert again.status_code == 409 and "forest" in again.json()["detail"]
    await instantiate(client, accounts["admin"], "builtin:sklearn-training", "forest-2")
    got = (await client.get(f"{T}/builtin:sklearn-training", headers=ed.headers)).json()
    assert got["usage_count"] == 2 and got["spec"]["tasks"][0]["key"] == "load"


async def test_params_outside_the_schema_are_refused_naming_the_field(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    ed = accounts["editor"]
    bad = await instantiate(client, ed, "builtin:sklearn-training", "forest",
                            n_estimator=10, max_depth=0, test_size="big")  # fmt: skip
    errors = field_errors(bad)
    assert "did you mean 'n_estimators'?" in errors["params.n_estimator"]
    assert errors["params.max_depth"] == "must be >= 1"
    assert errors["params.test_size"] == "expected number, got string"
    enum = await instantiate(client, ed, "builtin:csv-validation", "v", on_failure="explode")
    assert field_errors(enum) == {"params.on_failure": "must be one of ['fail', 'warn']"}
    name = await instantiate(client, ed, "builtin:csv-validation", "9lives")
    assert list(field_errors(name)) == ["name"]
    listed = (await client.get("/api/v1/workflows", headers=ed.headers)).json()
    assert listed["items"] == []  # nothing made


async def test_a_private_template_is_seen_by_its_owner_and_admins_only(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    mine = await create(client, accounts["editor"], name="secret", public=False)
    for who in ("editor", "admin"):
        listed = (await client.get(T, headers=accounts[who].headers)).json()
        assert "secret" in [t["name"] for t in listed["items"]], who
        got = await client.get(f"{T}/{mine['id']}", headers=accounts[who].headers)
        assert got.status_code == 200 and got.json()["public"] is False
    for who in ("other_editor", "viewer"):
        listed = (await client.get(T, headers=accounts[who].headers)).json()
        assert "secret" not in [t["name"] for t in listed["items"]], who
        assert "evaluation" not in listed["categories"]
        for ref in (mine["id"], "secret"):
            assert (
                await client.get(f"{T}/{ref}", headers=accounts[who].headers)
            ).status_code == 404
    stranger = await instantiate(client, accounts["other_editor"], mine["id"], "copy")
    assert stranger.status_code == 404
    taken = await client.post(
        T, json=template_doc("secret"), headers=accounts["other_editor"].headers
    )
    assert taken.status_code == 409  # names are unique, private or not


async def test_roles_and_ownership(client: httpx.AsyncClient, accounts: Accounts) -> None:
    viewer, ed, other = accounts["viewer"], accounts["editor"], accounts["other_editor"]
    assert (await client.post(T, json=template_doc(), headers=viewer.headers)).status_code == 403
    mine = await create(client, ed, name="mine")
    url = f"{T}/{mine['id']}"
    assert (await instantiate(client, viewer, mine["id"], "x")).status_code == 403
    for who in (viewer, other):
        patched = await client.patch(url, json={"public": False}, headers=who.headers)
        assert patched.status_code == 403, patched.text
        assert (await client.delete(url, headers=who.headers)).status_code == 403
    patched = await client.patch(url, json={"description": "better", "category": "inference"},
                                 headers=ed.headers)  # fmt: skip
    assert patched.status_code == 200, patched.text
    assert (patched.json()["description"], patched.json()["category"]) == ("better", "inference")
    assert (await instantiate(client, other, mine["id"], "used")).status_code == 201
    assert (await client.get(url, headers=ed.headers)).json()["usage_count"] == 1
    assert (await client.delete(url, headers=accounts["admin"].headers)).status_code == 204
    assert (await client.get(url, headers=ed.headers)).status_code == 404
    assert (await client.get("/api/v1/workflows/used", headers=ed.headers)).status_code == 200


async def test_built_in_templates_are_read_only(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    admin = accounts["admin"]
    url = f"{T}/builtin:csv-validation"
    for response in (
        await client.patch(url, json={"description": "mine now"}, headers=admin.headers),
        await client.delete(url, headers=admin.headers),
    ):
        assert response.status_code == 409, response.text
        assert "built-in template and cannot be changed" in response.json()["detail"]
    clash = await client.post(T, json=template_doc("csv-validation"), headers=admin.headers)
    assert clash.status_code == 409 and "built-in" in clash.json()["detail"]
    assert (await client.get(f"{T}/builtin:nope", headers=admin.headers)).status_code == 404


async def test_a_template_spec_is_validated_as_a_workflow(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    spec = workflow_doc("x", tasks=[{"key": "a", "kind": "python", "code": "def ("},
                                    {"key": "b", "kind": "shell", "command": "true",
                                     "depends_on": ["c"]}])  # fmt: skip
    bad = await client.post(T, json=template_doc(spec=spec), headers=accounts["editor"].headers)
    errors = field_errors(bad)
    assert set(errors) == {"spec.tasks.a.code", "spec.tasks.b.depends_on"}
    shape = await client.post(T, json=template_doc(spec={"tasks": "no"}),
                              headers=accounts["editor"].headers)  # fmt: skip
    assert list(field_errors(shape)) == ["spec.tasks"]
    category = await client.post(T, json=template_doc(category="ML Training"),
                                 headers=accounts["editor"].headers)  # fmt: skip
    assert list(field_errors(category)) == ["category"]


async def test_save_as_template_round_trip(
    app: FastAPI, client: httpx.AsyncClient, accounts: Accounts
) -> None:
    ed = accounts["editor"]
    wf = await create_workflow(client, ed)
    body = {"name": "train-tpl", "category": "ml_training", "public": False}
    saved = await client.post("/api/v1/workflows/train/save-as-template", json=body,
                              headers=accounts["other_editor"].headers)  # fmt: skip
    assert saved.status_code == 201, saved.text
    tpl = saved.json()
    assert (tpl["owner"], tpl["description"], tpl["builtin"]) == ("ed2", wf["description"], False)
    assert saved.headers["location"] == f"{T}/{tpl['id']}"
    assert tpl["spec"]["tasks"] == plain(wf["tasks"])
    assert plain([tpl["params"]["lr"]]) == plain([wf["params"]["lr"]])
    made = await instantiate(client, accounts["other_editor"], tpl["id"], "train-2", lr=0.5)
    assert made.status_code == 201, made.text
    assert made.json()["tasks"] == wf["tasks"]
    assert made.json()["params"]["lr"] == {**wf["params"]["lr"], "default": 0.5}
    again = await client.post("/api/v1/workflows/train/save-as-template", json=body,
                              headers=ed.headers)  # fmt: skip
    assert again.status_code == 409
    gone = await client.post("/api/v1/workflows/nope/save-as-template", json=body,
                             headers=ed.headers)  # fmt: skip
    assert gone.status_code == 404
    deleted = await client.delete(f"{T}/{tpl['id']}", headers=accounts["other_editor"].headers)
    assert deleted.status_code == 204
    async with app.state.plait.db.read() as session:
        types = list(
            await session.scalars(
                select(Event.type).where(Event.type.startswith("template.")).order_by(Event.id)
            )
        )
    assert types == ["template.created", "template.deleted"]
