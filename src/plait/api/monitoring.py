"""GET /metrics: the Prometheus text exposition, for an admin (Prometheus scrapes with an
admin's API token as its bearer token). Served only when PLAIT_METRICS_ENABLED (else no such
route: 404). See docs/operations.md."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from plait.api.deps import Admin, Ctx
from plait.monitoring.exposition import Exposition

router = APIRouter(tags=["monitoring"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "The metrics."}},
)
async def metrics(request: Request, ctx: Ctx, _admin: Admin) -> Response:
    """The server's metrics in Prometheus's text format (with PROMETHEUS_MULTIPROC_DIR set,
    those of every server process on this host, summed)."""
    exposition: Exposition = request.app.state.monitoring
    return Response(await exposition.scrape(ctx.db), media_type=CONTENT_TYPE_LATEST)
