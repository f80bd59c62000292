"""The fair protocol's summary and report from (arm, seed) results: the keys issue 24 names, paired
differences over seeds, the better pooled arm, and the targets' verdicts."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks.federated.run import ARMS, summarise, write

ATTACK = {
    "auc": {"mean": 0.52, "ci95": [0.5, 0.54], "n": 200},
    "tpr_at_fpr": {"0.1%": {"mean": 0.001, "ci95": None, "n": 1}, "1%": {"mean": 0.012, "ci95": None, "n": 1}},
    "members": 100,
    "non_members": 50,
}
OFFSET = {  # each arm's score above the local MLP's
    "local_mlp": 0.0,
    "local_best": 0.05,
    "federated_refit": 0.06,
    "federated_kept": 0.08,
    "pooled_partner_heads": 0.07,
    "pooled_shared_heads": 0.09,
    "joined": 0.08,  # after joining: the local best averaged with the kept model
    "local_pair": 0.05,  # the control: the local best averaged with the local MLP
}


def _partner(score: float, steps: int) -> dict:
    return {
        "endpoints": {
            "AMES": {"auc_pr": score, "roc_auc": score + 0.1, "n": 40},
            "LogD": {"r2": score, "spearman": score + 0.05, "n": 120},
        },
        "score": score,
        "valid": score,
        "efficiency": {"AMES": score},
        "steps": steps,
        "sample_passes": 3.0,
        "local_share": 0.5,
    }


def _arm(arm: str, seed: int) -> dict:
    base = 0.5 + 0.01 * seed
    record = {
        "partners": {name: _partner(base + OFFSET[arm] + 0.01 * i, 10) for i, name in enumerate(("a", "b"))},
        "chosen": "lr=0.001",
        "seconds": 1.0,
    }
    if arm.startswith("federated"):
        record |= {
            "secagg": True,
            "rounds_run": 3,
            "valid_curve": [0.3, 0.5, 0.52],
            "rounds_to_95pct": 2,
            "bytes_per_partner_per_round": 1000.0,
            "membership_attack": ATTACK,
        }
    return record


def _dp(seed: int) -> dict:
    return {
        "seed": seed,
        "partners": {
            name: _partner(0.4 + 0.01 * seed, 0) | {"network_score": 0.2, "joined_score": 0.5 + 0.01 * seed}
            for name in ("a", "b")
        },
        "target_epsilon": 8.0,
        "epsilon_spent": 7.9,
        "delta": 1e-5,
        "membership_attack": ATTACK,
    }


def test_summary_has_the_issue_keys_and_paired_intervals(tmp_path: Path) -> None:
    partners = [SimpleNamespace(name=name, tasks=["AMES", "LogD"]) for name in ("a", "b")]
    protocol = SimpleNamespace(partners=partners, seeds=[0, 1, 2], rounds=3, budget=1)
    arms = {arm: [_arm(arm, seed) for seed in protocol.seeds] for arm in ARMS}
    # DP ran for seeds 1 and 2 only: it is judged against the local best of those same seeds
    summary = summarise(protocol, arms, {8.0: [_dp(1), _dp(2)]})

    assert summary["protocol"] == "fair-v2" and summary["secagg"] is True
    assert summary["details"]["pooled_arm"] == "pooled_shared_heads"  # the better pooled arm
    assert summary["partners"]["a"]["local_best"] == pytest.approx(0.56)  # 0.5 + mean(0, .01, .02) + 0.05
    assert summary["partners"]["b"]["federated"] == pytest.approx(0.6)
    assert summary["partners"]["b"]["pooled"] == pytest.approx(0.61)
    paired = summary["partners"]["a"]["federated_minus_local_best"]
    assert paired["mean"] == pytest.approx(0.03) and paired["ci95"] == pytest.approx([0.03, 0.03])
    assert summary["partners"]["a"]["joined_minus_local_pair"]["mean"] == pytest.approx(0.03)  # the control
    assert summary["details"]["paired"]["joined_minus_local_pair_macro"]["mean"] == pytest.approx(0.03)
    assert summary["macro"]["federated"] - summary["macro"]["pooled"] == pytest.approx(-0.01)
    assert summary["dp"] == {
        "epsilon": pytest.approx(7.9),
        "delta": 1e-5,
        "macro": pytest.approx(0.515),  # after joining: 0.5 + mean(.01, .02)
        "kept_macro": pytest.approx(0.415),  # the kept models alone: 0.4 + mean(.01, .02)
        "network_macro": pytest.approx(0.2),
        "local_best_macro_same_seeds": pytest.approx(0.57),  # 0.5 + 0.05 + mean(.01, .02) + mean(0, .01)
        "seeds": [1, 2],
    }
    # like for like: the federated network (0.575) over the better pooled network (0.605)
    assert summary["details"]["paired"]["federated_refit_over_pooled_macro"] == pytest.approx(0.575 / 0.605)
    endpoint = summary["details"]["per_endpoint"]["a"]["AMES"]
    assert endpoint["few_labels"] is True and summary["details"]["per_endpoint"]["a"]["LogD"]["few_labels"] is False
    assert summary["details"]["macro_by_metric"]["local_best"]["roc_auc"] == pytest.approx(0.665)
    # (0.59 - 0.56) / (1 - 0.56) for partner a, (0.60 - 0.57) / (1 - 0.57) for b: median of both
    assert summary["details"]["improve_to_perfect_auc_pr"]["median"] == pytest.approx((0.03 / 0.44 + 0.03 / 0.43) / 2)

    summary["details"] |= {
        "machine": "test",
        "command": "python -m benchmarks.federated.run",
        "total_minutes": 0.1,
        "compute_minutes": 0.1,
        "cached_only": False,
        "partner_sizes": {name: {"compounds": 10, "endpoints": 2} for name in ("a", "b")},
    }
    write(summary, tmp_path, "federated")
    assert json.loads((tmp_path / "federated.json").read_text())["macro"]["local_best"] == pytest.approx(0.565)
    report = (tmp_path / "federated.md").read_text()
    assert "✓ met: every partner's model after joining ≥ its local best" in report
    assert "✗ missed: record-level DP at ε ≤ 8" in report  # 0.515 < the local best's 0.57 on the same seeds
    assert "| a | AMES | 40 ⚠ | auc_pr |" in report
