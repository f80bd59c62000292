import numpy as np
import pandas as pd

from fedadmet.data.catalogue import get_endpoint
from fedadmet.models.labels import per_molecule


def test_rows_of_one_parent_become_one_with_the_stated_aggregate() -> None:
    # The same parent as a salt, an ion and the free acid (public sets hold all three), plus a bound.
    frame = pd.DataFrame(
        {"smiles": ["A", "A", "A", "B", "B"], "y": [1.0, 100.0, 10.0, 5.0, 7.0], "relation": [0, 0, 0, 0, 1]}
    )
    half_life = per_molecule(frame, get_endpoint("Half_Life_Obach"))  # log-scaled: the geometric mean
    assert half_life["smiles"].tolist() == ["A", "B"]
    np.testing.assert_allclose(half_life["y"], [10.0, 5.0])
    logd = per_molecule(frame, get_endpoint("Lipophilicity_AstraZeneca"))
    np.testing.assert_allclose(logd["y"], [37.0, 5.0])


def test_classification_takes_the_majority_and_drops_a_tie() -> None:
    frame = pd.DataFrame({"smiles": ["A", "A", "A", "B", "B", "C"], "y": [1, 1, 0, 1, 0, 0]})
    clintox = per_molecule(frame, get_endpoint("ClinTox"))
    assert dict(zip(clintox["smiles"], clintox["y"], strict=True)) == {"A": 1.0, "C": 0.0}
