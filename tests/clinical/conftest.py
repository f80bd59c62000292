from pathlib import Path

import pytest

from fedadmet.clinical import synthetic
from fedadmet.workflows import clinical

# Fixed stand-ins for the platform's predictions, so these tests do not depend on a trained model.
DRUG_SCORES = {
    drug.name: {"hERG": 0.1 + 0.05 * index, "DILI": 0.8 - 0.04 * index}
    for index, drug in enumerate(synthetic.DRUGS)
    if drug.name != "cisplatin"
}


@pytest.fixture(scope="session")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three small hospitals with a planted hERG effect on cardiotoxicity."""
    spec = synthetic.SyntheticSpec(n_patients=1500, n_hospitals=3, seed=3, drug_scores=DRUG_SCORES)
    return clinical.generate(tmp_path_factory.mktemp("consortium"), spec)
