"""The executor contract, on the local executor (the app fixtures of tests/conftest.py)."""

from tests.executors.contract import *  # noqa: F403 (the contract's tests, run here)
