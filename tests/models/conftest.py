from __future__ import annotations

import httpx
import pytest

from tests.conftest import Account
from tests.support.workflows import create_workflow


@pytest.fixture
async def workflow(client: httpx.AsyncClient, accounts: dict[str, Account]) -> str:
    """The workflow whose (finished) runs keep the models."""
    await create_workflow(client, accounts["editor"], name="train")
    return "train"
