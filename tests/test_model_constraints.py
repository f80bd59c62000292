"""`make install` holds the model libraries at the versions the bundled model was trained with."""

import json
from pathlib import Path

from fedadmet.inference import BUNDLED_MODEL

REPO = Path(__file__).resolve().parents[1]


def test_the_install_constraints_are_the_bundled_models_versions() -> None:
    pins = dict(
        line.split("==")
        for line in (REPO / "constraints-model.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    trained_with = json.loads((BUNDLED_MODEL / "model.json").read_text())["metadata"]["versions"]
    assert pins and {name: trained_with[name] for name in pins} == pins
