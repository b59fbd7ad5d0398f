"""The executor contract, on the local executor (the app fixtures of tests/conftest.py)."""

from tests.executors.contract import (
    test_a_failure_is_retried_by_policy_then_fails_with_its_error,
    test_a_task_past_its_timeout_is_stopped_and_fails,
    test_cancel_stops_a_running_task,
    test_never_more_tasks_at_once_than_it_has_room_for,
    test_one_attempt_dispatched_twice_runs_once,
    test_records_reach_the_api_and_outputs_flow_downstream,
)

__all__ = [
    "test_a_failure_is_retried_by_policy_then_fails_with_its_error",
    "test_a_task_past_its_timeout_is_stopped_and_fails",
    "test_cancel_stops_a_running_task",
    "test_never_more_tasks_at_once_than_it_has_room_for",
    "test_one_attempt_dispatched_twice_runs_once",
    "test_records_reach_the_api_and_outputs_flow_downstream",
]
