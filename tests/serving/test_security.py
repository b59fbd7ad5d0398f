"""A model file is task code: a pickle runs what its author wrote when it is loaded. What it
can see from inside the serving process must not include the server's secrets, its
environment, its database or other runs' files."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import SECRET, Account
from tests.serving.conftest import deploy, predict, wait_for
from tests.support.serving import add_version, rows, signature, train


class Crafted:
    def __init__(self, source: str) -> None:
        self.source = source

    def __reduce__(self) -> tuple[Any, ...]:
        return (eval, (self.source,))


def spy(paths: dict[str, str]) -> bytes:
    """A model whose loading looks around (environment, files) and predicts what it saw."""
    look = (
        "__import__('json').dumps({"
        "'env': {k: v for k, v in __import__('os').environ.items()}, "
        f"'exists': {{n: __import__('os').path.exists(p) for n, p in {paths!r}.items()}}, "
        f"'data': sorted(__import__('os').listdir({paths['data']!r})) "
        f"if __import__('os').path.isdir({paths['data']!r}) else None}})"
    )
    source = (
        f"type('Spy', (), {{'seen': {look}, 'predict': lambda self, x: [self.seen] * len(x)}})()"
    )
    return pickle.dumps(Crafted(source))


def real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def exists(path: str) -> bool:
    return os.path.exists(path)


async def test_a_pickled_model_sees_no_secret_no_database_and_no_other_run(
    app: FastAPI,
    client: httpx.AsyncClient,
    accounts: dict[str, Account],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    settings = app.state.plait.settings
    data = real(settings.data_dir)
    # The server's environment holds secrets: none of it may reach the model.
    monkeypatch.setenv("PLAIT_SECRET_KEY", SECRET)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-value")
    other = await add_version(app, train(), name="other")  # another run's model files
    assert other.run_id is not None
    database = str(settings.database_url).split("///")[-1]
    paths = {
        "data": str(data),
        "artifacts": str(data / "artifacts"),
        "other_model": str(data / "artifacts" / other.artifact_key),
        "database": database,
    }
    # Seen from the server, they are there.
    assert exists(paths["other_model"]) and (exists(database) or not database.startswith("/"))
    sig = signature(output="string")
    await add_version(app, spy(paths), flavor="pickle", sig=sig)
    await deploy(client, accounts["editor"], version=1)
    await wait_for(client, accounts["viewer"], "iris-api", "serving")
    response = await predict(client, accounts["viewer"], "iris-api", rows(1))
    assert response.status_code == 200, response.text
    seen = json.loads(response.json()["predictions"][0])
    env = seen["env"]
    assert not [k for k in env if k.startswith("PLAIT_")]
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert SECRET not in json.dumps(env)
    assert seen["exists"]["artifacts"] is False and seen["exists"]["other_model"] is False
    if database.startswith("/"):
        assert seen["exists"]["database"] is False
    # Of the data directory, only the model's own cached copy is there.
    assert seen["data"] in (["cache"], [])
    assert os.environ.get("PLAIT_SECRET_KEY") == SECRET  # the server's, untouched
