from __future__ import annotations

from pathlib import Path

import pytest

from plait.settings import Settings

LIMIT = 256 * 1024  # small enough to go over in a test


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    (tmp_path / "shared").mkdir()
    return settings.model_copy(
        update={
            "dataset_max_bytes": LIMIT,
            "dataset_file_roots": str(tmp_path / "shared"),
            "dataset_uri_prefixes": "s3://bucket/",
        }
    )
