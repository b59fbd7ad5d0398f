"""How a compared metric's series is kept (no database: the points go in as the query gives
them): whole when short, first/last/low/high of each stretch when long, a flat stretch
kept as one point or two, and points logged after the summary left out."""

from __future__ import annotations

from datetime import UTC, datetime

from plait.orchestration.compare import BUCKETS, MAX_POINTS, MetricSummary, Series

AT = datetime(2026, 3, 1, tzinfo=UTC)


def kept(
    values: list[float], steps: list[int | None] | None = None, count: int | None = None
) -> MetricSummary:
    summary = MetricSummary(values[-1], min(values), max(values), count or len(values))
    series = Series(summary)
    for i, value in enumerate(values):
        series.add(steps[i] if steps else i, value, AT)
    series.close()
    return summary


def test_a_short_series_is_whole_and_x_is_the_index_without_a_step() -> None:
    summary = kept([3.0, 1.0, 2.0], steps=[None, None, None])
    assert [(x, v) for x, v, _ in summary.series] == [(0, 3.0), (1, 1.0), (2, 2.0)]
    assert not summary.downsampled


def test_a_flat_long_series_keeps_two_points_a_stretch_at_most() -> None:
    summary = kept([1.0] * 10_000)
    assert len(summary.series) == 2 * BUCKETS  # each stretch's first and last, ties aside
    assert summary.downsampled and summary.series[-1][0] == 9_999


def test_points_logged_after_the_summary_are_left_out() -> None:
    summary = kept([float(i) for i in range(MAX_POINTS + 10)], count=MAX_POINTS)
    assert len(summary.series) == MAX_POINTS and summary.series[-1][1] == MAX_POINTS - 1
