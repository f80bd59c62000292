"""The GBM heads' regression loss: MAE fits the median, so a few gross outliers do not drag predictions."""

from __future__ import annotations

import numpy as np
import pytest

from fedadmet.models.config import GBMConfig
from fedadmet.models.gbm import fit_gbm, predict_gbm


@pytest.mark.parametrize(("loss", "expect_near_median"), [("MAE", True), ("RMSE", False)])
def test_regression_loss_decides_how_much_outliers_pull_the_prediction(loss: str, expect_near_median: bool) -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, 3)).astype(np.float32)
    targets = np.zeros(400)
    targets[::10] = 100.0  # 10 % gross outliers, unrelated to the features
    model = fit_gbm(features, targets, False, GBMConfig(iterations=60, depth=3, regression_loss=loss), seed=0, n_jobs=1)
    median_prediction = float(np.median(predict_gbm(model, features)))
    assert (abs(median_prediction) < 2.0) is expect_near_median
