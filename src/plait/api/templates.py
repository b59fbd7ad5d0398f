"""/api/v1/templates: the built-in catalog and users' templates; instantiate one into a
workflow, or save a workflow as one (/api/v1/workflows/{ref}/save-as-template)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from plait.api.deps import Ctx, Editor, Viewer
from plait.api.openapi import errors
from plait.api.schemas import Page, PatchBody
from plait.api.workflows import Ref, WorkflowOut, workflow_out
from plait.db import pagination
from plait.db.models import Template
from plait.templates import store
from plait.templates.catalog import Builtin
from plait.workflows import store as workflows
from plait.workflows.spec import Name, Text

router = APIRouter(tags=["templates"])
TemplateRef = Annotated[
    str,
    Path(
        max_length=110,
        pattern=r"^(?:[0-9]+|(?:builtin:)?[A-Za-z][A-Za-z0-9_-]*)$",
        description="A template's id: digits, or builtin:<name> for the catalog; or its name.",
    ),
]
Category = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=40),
    Field(description="e.g. ml_training, data_pipeline, evaluation, inference."),
]
Description = Annotated[Text, Field(max_length=10_000)]


class TemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = Field(
        default=None, description="Defaults to the spec's description."
    )
    category: Category
    public: StrictBool = True
    spec: dict[str, Any] = Field(
        description="A workflow document, as `plait export` writes it (its name is replaced "
        "by the template's); its `params` are the template's params schema."
    )


class TemplatePatch(PatchBody):
    name: Name | None = None
    description: Description | None = None
    category: Category | None = None
    public: StrictBool | None = None
    spec: dict[str, Any] | None = None


class Instantiate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="The new workflow's name.")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Values for the template's params: they become the workflow's defaults.",
    )
    description: Description | None = None


class SaveAsTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = Field(
        default=None, description="Defaults to the workflow's description."
    )
    category: Category = "other"
    public: StrictBool = True


class TemplateSummary(BaseModel):
    id: str = Field(description="Digits for a saved template, builtin:<name> for the catalog.")
    name: str
    description: str
    category: str
    author: str
    builtin: bool
    public: bool
    owner_id: int | None
    owner: str | None
    usage_count: int = Field(description="Workflows made from it.")
    params: dict[str, Any] = Field(description="Its params schema (the form to fill).")
    tasks: int
    created_at: datetime | None
    updated_at: datetime | None


class TemplateOut(TemplateSummary):
    spec: dict[str, Any]


class TemplatePage(Page[TemplateSummary]):
    categories: list[str] = Field(description="Every category of the templates you see.")


def _out(found: store.Found, owner: str | None, usage: int, full: bool) -> dict[str, Any]:
    row = found if isinstance(found, Template) else None
    data = {
        "id": store.template_id(found),
        "name": found.name,
        "description": found.description,
        "category": found.category,
        "author": found.author,
        "builtin": row is None,
        "public": row.public if row else True,
        "owner_id": row.owner_id if row else None,
        "owner": owner,
        "usage_count": row.usage_count if row else usage,
        "params": found.spec.get("params", {}),
        "tasks": len(found.spec.get("tasks", [])),
        "created_at": row.created_at if row else None,
        "updated_at": row.updated_at if row else None,
    }
    return {**data, "spec": found.spec} if full else data


async def _detail(session: AsyncSession, found: store.Found) -> dict[str, Any]:
    usage = 0
    if isinstance(found, Builtin):
        usage = (await store.builtin_usage(session)).get(found.id, 0)
    return _out(found, await store.owner_name(session, found), usage, full=True)


SORT = pagination.SortKey(Template.name, Template.id, False, str)


@router.get("/api/v1/templates", response_model=TemplatePage)
async def list_templates(
    who: Viewer,
    ctx: Ctx,
    q: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,
    category: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z][a-z0-9_]*$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Any:
    """The built-in templates first (on the first page), then saved ones by name: public
    ones and your own private ones (admins see all). `q` searches names and descriptions."""
    query = store.rows_query(who, q, category)
    if cursor is not None:
        query = query.where(pagination.after(SORT, *pagination.decode_cursor(cursor, "name", SORT)))
    async with ctx.db.read() as session:
        rows = (await session.execute(pagination.order(query, SORT).limit(limit + 1))).all()
        usage = await store.builtin_usage(session)
        kinds = await store.categories(session, who)
    first = [] if cursor else store.matching_builtins(q, category)
    items = [_out(b, None, usage.get(b.id, 0), full=False) for b in first]
    items += [_out(row, owner, 0, full=False) for row, owner in rows[:limit]]
    last = rows[limit - 1][0] if len(rows) > limit else None
    next_cursor = pagination.encode_cursor("name", last.name, last.id) if last else None
    return {"items": items, "next_cursor": next_cursor, "categories": kinds}


@router.post(
    "/api/v1/templates",
    status_code=status.HTTP_201_CREATED,
    response_model=TemplateOut,
    responses=errors(409, 422),
)
async def create_template(body: TemplateCreate, who: Editor, ctx: Ctx, response: Response) -> Any:
    """Save a workflow spec as a template (editors). 409 when the name is taken."""
    async with ctx.db.write() as session:
        row = await store.create(session, who, body.name, body.spec, category=body.category,
                                 description=body.description, public=body.public)  # fmt: skip
        out = await _detail(session, row)
    response.headers["Location"] = f"/api/v1/templates/{out['id']}"
    return out


@router.get("/api/v1/templates/{ref}", response_model=TemplateOut, responses=errors(404))
async def get_template(ref: TemplateRef, who: Viewer, ctx: Ctx) -> Any:
    async with ctx.db.read() as session:
        return await _detail(session, await store.get(session, ref, who))


@router.patch("/api/v1/templates/{ref}", response_model=TemplateOut, responses=errors(404, 409))
async def patch_template(ref: TemplateRef, body: TemplatePatch, who: Editor, ctx: Ctx) -> Any:
    """Change a template (its owner or an admin). Built-in templates are read-only: 409."""
    async with ctx.db.write() as session:
        row = store.editable(await store.get(session, ref, who), who)
        await store.change(session, who, row, body.model_dump(exclude_unset=True))
        return await _detail(session, row)


@router.delete(
    "/api/v1/templates/{ref}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(404, 409),
)
async def delete_template(ref: TemplateRef, who: Editor, ctx: Ctx) -> None:
    """Delete a template (its owner or an admin); workflows made from it stay. Built-in
    templates cannot be deleted: 409."""
    async with ctx.db.write() as session:
        await store.remove(session, who, store.editable(await store.get(session, ref, who), who))


@router.post(
    "/api/v1/templates/{ref}/instantiate",
    status_code=status.HTTP_201_CREATED,
    response_model=WorkflowOut,
    responses=errors(404, 409, 422),
)
async def instantiate_template(
    ref: TemplateRef, body: Instantiate, who: Editor, ctx: Ctx, response: Response
) -> Any:
    """A new workflow from the template, whose param defaults are the given `params`
    (checked against the template's params schema: 422 naming each field). 409 when a
    workflow has the name already."""
    async with ctx.db.write() as session:
        found = await store.get(session, ref, who)
        wf = await store.instantiate(session, who, found, body.name, body.params,
                                     body.description)  # fmt: skip
        out = await workflow_out(session, wf)
    response.headers["Location"] = f"/api/v1/workflows/{out.id}"
    return out


@router.post(
    "/api/v1/workflows/{ref}/save-as-template",
    status_code=status.HTTP_201_CREATED,
    response_model=TemplateOut,
    responses=errors(404, 409),
)
async def save_as_template(
    ref: Ref, body: SaveAsTemplate, who: Editor, ctx: Ctx, response: Response
) -> Any:
    """A template from the workflow's current definition (its params schema included)."""
    async with ctx.db.write() as session:
        wf = await workflows.get(session, ref)
        row = await store.save_workflow(
            session, who, wf, body.name,
            category=body.category, description=body.description, public=body.public,
        )  # fmt: skip
        out = await _detail(session, row)
    response.headers["Location"] = f"/api/v1/templates/{out['id']}"
    return out
