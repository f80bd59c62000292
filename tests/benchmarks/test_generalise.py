"""The generalisation experiment's split of ExpansionRx is fixed and balanced, pooled sources convert units
before they average, and the graph member learns each task on its stated scale."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.external.mapping import AS_IS
from benchmarks.generalise.graph import TASKS, training_table
from benchmarks.generalise.labels import (
    HALF_A,
    HALF_B,
    LOG10,
    LOG10_UNBOUND_FROM_BOUND,
    Part,
    expansionrx_half,
    pooled_labels,
)


def test_halves_are_fixed_by_name_and_about_even() -> None:
    names = [f"E-{i:07d}" for i in range(1, 4001)]
    halves = [expansionrx_half(name) for name in names]
    assert halves == [expansionrx_half(name) for name in reversed(names)][::-1]  # order plays no part
    assert set(halves) == {HALF_A, HALF_B}
    assert 0.46 < halves.count(HALF_A) / len(halves) < 0.54


def test_pooled_sources_convert_units_then_average_per_molecule() -> None:
    frames = {
        "PPBR_AZ": pd.DataFrame({"smiles": ["CCO", "CCN"], "y": [99.0, 100.0]}),  # % bound
        "Fraction_Unbound_PharmaBench": pd.DataFrame({"smiles": ["CCO", "CCC"], "y": [0.1, 0.5]}),
    }
    pooled = pooled_labels(
        (Part("PPBR_AZ", LOG10_UNBOUND_FROM_BOUND), Part("Fraction_Unbound_PharmaBench", LOG10)), frames
    )
    assert pooled["smiles"].tolist() == ["CCC", "CCN", "CCO"]
    # CCN: 100 % bound is fu 0 → clipped at 1e-3; CCO: mean of log10(0.01) and log10(0.1)
    np.testing.assert_allclose(pooled["y"], [np.log10(0.5), -3.0, -1.5])


def test_labels_without_a_finite_value_on_the_scale_are_left_out() -> None:
    frames = {"Clearance_Microsome_AZ": pd.DataFrame({"smiles": ["CCO", "CCN"], "y": [0.0, 10.0]})}
    assert pooled_labels((Part("Clearance_Microsome_AZ", LOG10),), frames)["smiles"].tolist() == ["CCN"]
    assert len(pooled_labels((Part("Clearance_Microsome_AZ", AS_IS),), frames)) == 2


def test_a_standardised_source_pools_as_z_scores() -> None:
    frames = {
        "Clearance_Microsome_Human_PharmaBench": pd.DataFrame({"smiles": ["A", "B"], "y": [10.0, 1000.0]}),
        "Clearance_Microsome_Mouse_PharmaBench": pd.DataFrame({"smiles": ["A", "C"], "y": [1.0, 10.0]}),
    }
    parts = tuple(Part(name, LOG10, standardised=True) for name in frames)
    pooled = pooled_labels(parts, frames)
    np.testing.assert_allclose(pooled["y"], [-1.0, 1.0, 1.0])  # A: mean of −1 (human) and −1 (mouse)


def test_the_graph_members_table_has_one_row_per_molecule_and_each_task_on_its_scale() -> None:
    frames = {task: pd.DataFrame({"smiles": pd.Series(dtype=str), "y": pd.Series(dtype=float)}) for task in TASKS}
    frames["PPBR_AZ"] = pd.DataFrame({"smiles": ["CCO", "CCN"], "y": [90.0, 99.0]})
    frames["Clearance_Microsome_AZ"] = pd.DataFrame({"smiles": ["CCO"], "y": [100.0]})
    table = training_table(frames)
    assert table["smiles"].tolist() == ["CCN", "CCO"]
    assert list(table.columns) == ["smiles", *TASKS]
    np.testing.assert_allclose(table["PPBR_AZ"], [-2.0, -1.0])  # log10 fraction unbound
    np.testing.assert_allclose(table["Clearance_Microsome_AZ"], [np.nan, 2.0])  # log10, NaN where unmeasured
    assert table["Lipophilicity_AstraZeneca"].isna().all()
