"""/api/v1/workflows/{ref}/tasks: the tasks of the current definition, one at a time.

Each change saves the whole workflow again, so it is validated as a whole (a removed task
that others depend on is refused) and makes a new version like any other edit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel

from plait.api.deps import Ctx, Editor, Viewer
from plait.api.inputs import IfMatch
from plait.api.openapi import errors
from plait.api.schemas import etag
from plait.api.workflows import Ref, save
from plait.auth.roles import Principal
from plait.errors import Conflict, NotFound, did_you_mean
from plait.workflows import store
from plait.workflows.spec import Name, TaskSpec, WorkflowSpec, parse

router = APIRouter(prefix="/api/v1/workflows/{ref}/tasks", tags=["tasks"])
Key = Annotated[Name, Path(description="A task key.")]
Tasks = list[dict[str, Any]]


class TaskList(BaseModel):
    workflow_version: int
    items: list[TaskSpec]


def _find(tasks: Tasks, key: str) -> int:
    for i, task in enumerate(tasks):
        if task["key"] == key:
            return i
    hint = did_you_mean(key, [t["key"] for t in tasks])
    raise NotFound(f"no task {key!r} in this workflow{hint}")


async def _edit(
    ctx: Ctx,
    who: Principal,
    ref: str,
    if_match: str | None,
    response: Response,
    change: Callable[[Tasks], None],
) -> None:
    """Apply `change` to a copy of the task list and save the workflow with it."""

    def changed(current: dict[str, Any]) -> WorkflowSpec:
        tasks = [dict(t) for t in current["tasks"]]
        change(tasks)
        return parse({**current, "tasks": tasks})

    await save(ctx, who, ref, if_match, response, changed)


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


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=TaskSpec, responses=errors(409)
)
async def add_task(
    ref: Ref, body: TaskSpec, who: Editor, ctx: Ctx, response: Response, if_match: IfMatch = None
) -> Any:
    def change(tasks: Tasks) -> None:
        if any(t["key"] == body.key for t in tasks):
            raise Conflict(f"task {body.key!r} exists already; PUT it to replace it")
        tasks.append(body.model_dump(exclude_none=True))

    await _edit(ctx, who, ref, if_match, response, change)
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

    await _edit(ctx, who, ref, if_match, response, change)
    return body


@router.delete("/{key}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_task(
    ref: Ref, key: Key, who: Editor, ctx: Ctx, response: Response, if_match: IfMatch = None
) -> None:
    def change(tasks: Tasks) -> None:
        del tasks[_find(tasks, key)]

    await _edit(ctx, who, ref, if_match, response, change)
