"""Fitted trees kept by the digest of their inputs: the same inputs read them back, any change fits again."""

from __future__ import annotations

import numpy as np
import pytest
from catboost import CatBoostRegressor

from fedadmet.models.config import GBMConfig
from fedadmet.models.gbm import fit_gbm, predict_gbm

CONFIG = GBMConfig(iterations=20, depth=3)


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    return x, x[:, 0] * 2 + rng.normal(scale=0.1, size=60)


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts CatBoost fits."""
    calls: list[int] = []
    original = CatBoostRegressor.fit

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CatBoostRegressor, "fit", counted)
    return calls


def test_same_inputs_read_the_kept_trees(tmp_path, data, fits) -> None:
    x, y = data
    first = fit_gbm(x, y, False, CONFIG, 0, 1, tmp_path)
    again = fit_gbm(x, y, False, CONFIG, 0, 1, tmp_path)
    assert len(fits) == 1
    assert np.array_equal(predict_gbm(first, x, 1), predict_gbm(again, x, 1))
    assert len(list(tmp_path.glob("*.cbm"))) == 1


@pytest.mark.parametrize("change", ["targets", "features", "seed", "config"])
def test_any_changed_input_fits_again(tmp_path, data, fits, change: str) -> None:
    x, y = data
    fit_gbm(x, y, False, CONFIG, 0, 1, tmp_path)
    changed = {
        "targets": (x, y + 1, CONFIG, 0),
        "features": (x * 2, y, CONFIG, 0),
        "seed": (x, y, CONFIG, 1),
        "config": (x, y, GBMConfig(iterations=21, depth=3), 0),
    }[change]
    fit_gbm(changed[0], changed[1], False, changed[2], changed[3], 1, tmp_path)
    assert len(fits) == 2
    assert len(list(tmp_path.glob("*.cbm"))) == 2


def test_damaged_file_is_fitted_again(tmp_path, data, fits) -> None:
    x, y = data
    fit_gbm(x, y, False, CONFIG, 0, 1, tmp_path)
    (kept,) = tmp_path.glob("*.cbm")
    kept.write_bytes(b"not a model")
    model = fit_gbm(x, y, False, CONFIG, 0, 1, tmp_path)
    assert len(fits) == 2
    assert model.tree_count_ == CONFIG.iterations
    assert kept.read_bytes() != b"not a model"


def test_without_a_folder_nothing_is_kept(tmp_path, data, fits) -> None:
    x, y = data
    fit_gbm(x, y, False, CONFIG, 0, 1)
    fit_gbm(x, y, False, CONFIG, 0, 1)
    assert len(fits) == 2
