from pathlib import Path

import pytest

from fedadmet.design.objective import Objective, parse_objective

TERFENADINE = "CC(C)(C)c1ccc(cc1)C(O)CCCN2CCC(CC2)C(O)(c3ccccc3)c4ccccc4"
ASTEMIZOLE = "COc1ccc(CCN2CCC(CC2)Nc3nc4ccccc4n3Cc5ccc(F)cc5)cc1"

OBJECTIVE_TOML = """
[[goal]]
endpoint = "hERG"
direction = "lower"
low = 0.2
high = 0.6
weight = 2.0

[[goal]]
endpoint = "Solubility_AqSolDB"
direction = "higher"
low = -6
high = -3

[similarity]
min_tanimoto = 0.2

[selection]
population = 4
batch = 8
"""


@pytest.fixture
def objective_file(tmp_path: Path) -> Path:
    path = tmp_path / "objective.toml"
    path.write_text(OBJECTIVE_TOML)
    return path


@pytest.fixture
def objective(objective_file: Path) -> Objective:
    import tomllib

    return parse_objective(tomllib.loads(objective_file.read_text()))
