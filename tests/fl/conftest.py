from pathlib import Path

import pytest

from tests.fl.partners import prepare_partners


@pytest.fixture(scope="session")
def partner_dirs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three prepared partner folders, made once per session (tests must not modify them)."""
    return prepare_partners(tmp_path_factory.mktemp("partners"))
