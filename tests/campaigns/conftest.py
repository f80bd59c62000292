from pathlib import Path

import pandas as pd
import pytest

from tests.serve.conftest import api, serve_model_dir  # noqa: F401  (the running app, for the route tests)
from tests.tiny_model import endpoint_frame

POOL_SIZE = 24


@pytest.fixture(scope="session")
def pool_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small candidate pool of real molecules with ids, and a made-up potency for each."""
    frame = endpoint_frame("herg", rows=60).drop_duplicates("smiles").head(POOL_SIZE).reset_index(drop=True)
    pool = pd.DataFrame({"compound_id": [f"C{i:03d}" for i in range(len(frame))], "smiles": frame["smiles"]})
    pool["pIC50"] = [5 + (len(s) % 7) * 0.4 for s in pool["smiles"]]
    path = tmp_path_factory.mktemp("pool") / "pool.csv"
    pool.to_csv(path, index=False)
    return path
