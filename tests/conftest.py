from collections.abc import Iterator
from pathlib import Path

import pytest

from fedadmet.config import get_settings


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test gets its own FEDADMET_HOME, no progress bars and servers that profile in a thread (the
    worker-process path has its own test); settings are re-read."""
    monkeypatch.setenv("FEDADMET_HOME", str(tmp_path / "fedadmet-home"))
    monkeypatch.setenv("FEDADMET_PROGRESS", "false")
    monkeypatch.setenv("FEDADMET_SERVE_PROCESSES", "0")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained once per test session on real bundled hERG and Caco-2 rows."""
    # Imported here so that the chemistry and data tests do not pay for importing torch.
    from tests.tiny_model import train_tiny_model

    return train_tiny_model(tmp_path_factory.mktemp("tiny-model"))
