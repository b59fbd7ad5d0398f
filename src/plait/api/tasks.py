"""/api/v1/workflows/{ref}/tasks: the tasks of the current definition, one at a time.

Each change saves the whole workflow again, so it is validated as a whole (a removed task
that others depend on is refused) and makes a new version like any other edit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Response, status
from pydantic import BaseModel

from plait.api.deps import Ctx, Editor, Viewer
from plait.api.schemas import etag, parse_if_match
from plait.api.workflows import Ref
from plait.auth.roles import Principal
from plait.errors import Conflict, NotFound
from plait.workflows import store
from plait.workflows.spec import NAME_PATTERN, TaskSpec, WorkflowSpec

router = APIRouter(prefix="/api/v1/workflows/{ref}/tasks", tags=["tasks"])
Key = Annotated[str, Path(max_length=100, pattern=NAME_PATTERN)]
IfMatch = Annotated[str | None, Header(max_length=100)]
Tasks = list[dict[str, Any]]


class TaskList(BaseModel):
    workflow_version: int
    items: list[TaskSpec]


def _find(tasks: Tasks, key: str) -> int:
    for i, task in enumerate(tasks):
        if task["key"] == key:
            return i
    raise NotFound(f"no task {key!r} in this workflow")


async def _edit(
    ctx: Ctx, who: Principal, ref: str, if_match: str | None, change: Callable[[Tasks], None]
) -> int:
    """Apply `change` to a copy of the task list and save it; returns the new version."""
    async with ctx.db.write() as session:
        wf = await store.get_for_edit(session, ref, who)
        tasks = [dict(t) for t in wf.spec["tasks"]]
        change(tasks)
        spec = WorkflowSpec.model_validate({**wf.spec, "tasks": tasks})
        await store.update(session, who, wf, spec, if_match=parse_if_match(if_match))
        return wf.current_version


@router.get("", response_model=TaskList)
async def list_tasks(ref: Ref, who: Viewer, ctx: Ctx) -> Any:
    async with ctx.db.read() as session:
        wf = await store.get(session, ref)
    return {"workflow_version": wf.current_version, "items": wf.spec["tasks"]}


@router.get("/{key}", response_model=TaskSpec)
async def get_task(ref: Ref, key: Key, who: Viewer, ctx: Ctx, response: Response) -> Any:
    async with ctx.db.read() as session:
        wf = await store.get(session, ref)
    response.headers.update(etag(wf.current_version))
    return wf.spec["tasks"][_find(wf.spec["tasks"], key)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TaskSpec)
async def add_task(
    ref: Ref, body: TaskSpec, who: Editor, ctx: Ctx, response: Response, if_match: IfMatch = None
) -> Any:
    def change(tasks: Tasks) -> None:
        if any(t["key"] == body.key for t in tasks):
            raise Conflict(f"task {body.key!r} exists already; PUT it to replace it")
        tasks.append(body.model_dump(exclude_none=True))

    response.headers.update(etag(await _edit(ctx, who, ref, if_match, change)))
    return body


@router.put("/{key}", response_model=TaskSpec)
async def replace_task(
    ref: Ref,
    key: Key,
    body: TaskSpec,
    who: Editor,
    ctx: Ctx,
    response: Response,
    if_match: IfMatch = None,
) -> Any:
    def change(tasks: Tasks) -> None:
        tasks[_find(tasks, key)] = body.model_dump(exclude_none=True)

    response.headers.update(etag(await _edit(ctx, who, ref, if_match, change)))
    return body


@router.delete("/{key}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_task(
    ref: Ref, key: Key, who: Editor, ctx: Ctx, response: Response, if_match: IfMatch = None
) -> None:
    def change(tasks: Tasks) -> None:
        del tasks[_find(tasks, key)]

    response.headers.update(etag(await _edit(ctx, who, ref, if_match, change)))
