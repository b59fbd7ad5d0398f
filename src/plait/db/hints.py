"""Hints for the query planner, written once for both databases."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import String


class unindexed(FunctionElement[str]):
    """A column the planner must not look up by its own index (SQLite's unary `+`; a no-op
    elsewhere). For a filter that matches most rows, where SQLite, without ANALYZE statistics,
    would read them all through that index and sort them instead of walking the index that
    serves the query's order or range."""

    type = String()
    inherit_cache = True


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return f"+{compiler.process(element.clauses, **kw)}"


@compiles(unindexed)
def _unindexed_default(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)
