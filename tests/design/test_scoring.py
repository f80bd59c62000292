"""The objective, the desirability transforms and the scorer, against a profile function written here."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedadmet.design.objective import load_objective, parse_objective
from fedadmet.design.scoring import Scorer, desirability
from fedadmet.exceptions import InputError
from tests.design.conftest import OBJECTIVE_TOML, TERFENADINE


def fake_profile(values: dict[str, dict[str, float]], alerts: dict[str, str] | None = None):
    """A profile function answering from ``values`` (SMILES -> column -> value), in domain unless told."""
    calls: list[list[str]] = []

    def profile(smiles: Sequence[str]) -> pd.DataFrame:
        calls.append(list(smiles))
        rows = []
        for text in smiles:
            row = {"smiles": text, "error": None, "in_domain": True, "alerts": (alerts or {}).get(text, "")}
            row |= values.get(text, {})
            rows.append(row)
        return pd.DataFrame(rows)

    profile.calls = calls  # type: ignore[attr-defined]
    return profile


def test_sigmoid_is_half_between_low_and_high_and_step_cuts_there() -> None:
    values = np.array([0.0, 0.4, 1.0])
    lower = desirability(values, "lower", 0.2, 0.6, "sigmoid", 0.25)
    assert lower[1] == pytest.approx(0.5)
    assert lower[0] > 0.9 > 0.1 > lower[2]
    higher = desirability(values, "higher", 0.2, 0.6, "sigmoid", 0.25)
    assert higher == pytest.approx(1 - lower)
    assert desirability(values, "lower", 0.2, 0.6, "step", 0.25).tolist() == [1.0, 1.0, 0.0]
    inside = desirability(np.array([-1.0, 0.4, 2.0]), "range", 0.0, 1.0, "sigmoid", 0.25)
    assert inside[1] > 0.8 and inside[0] < 0.1 and inside[2] < 0.1


def test_objective_file_is_checked_field_by_field(tmp_path: Path) -> None:
    path = tmp_path / "objective.toml"
    path.write_text(OBJECTIVE_TOML)
    objective = load_objective(path)
    assert [goal.endpoint for goal in objective.goal] == ["hERG", "Solubility_AqSolDB"]
    with pytest.raises(InputError, match="twice: hERG"):
        parse_objective({"goal": [{"endpoint": "hERG", "direction": "lower", "low": 0, "high": 1}] * 2})
    with pytest.raises(InputError, match=r"goal\.0\.direction"):
        parse_objective({"goal": [{"endpoint": "hERG", "direction": "down", "low": 0, "high": 1}]})
    with pytest.raises(InputError, match="below high"):
        parse_objective({"goal": [{"endpoint": "hERG", "direction": "lower", "low": 1, "high": 0}]})
    path.write_text("[[goal]\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_objective(path)


def _objective(**extra: object):
    return parse_objective(
        {
            "goal": [{"endpoint": "hERG", "direction": "lower", "low": 0.2, "high": 0.6}],
            "synthetic_accessibility": {"weight": 0},
        }
        | extra
    )


def test_one_profile_call_per_batch_and_a_confident_molecule_outranks_a_lucky_guess() -> None:
    profile = fake_profile(
        {"CCO": {"hERG": 0.1, "hERG_uncertainty": 0.05}, "CCN": {"hERG": 0.1, "hERG_uncertainty": 0.5}}
    )
    scores = Scorer(_objective(), profile, []).score(["CCO", "CCN"])
    assert profile.calls == [["CCO", "CCN"]]
    confident, lucky = scores
    assert confident.raw_score == pytest.approx(lucky.raw_score)
    assert confident.score > lucky.score
    assert lucky.score_low < confident.score_low <= confident.score_high < lucky.score_high


def test_alerts_hard_drop_and_soft_penalise() -> None:
    values = {"CCO": {"hERG": 0.1, "hERG_uncertainty": 0.0}}
    profile = fake_profile(values, alerts={"CCO": "Brenk:thiol; PAINS:x"})
    hard = Scorer(_objective(alerts={"mode": "hard"}), profile, []).score(["CCO"])[0]
    assert hard.dropped == "structural alert: Brenk:thiol" and hard.score == 0
    soft = Scorer(_objective(alerts={"mode": "soft", "penalty": 0.5}), profile, []).score(["CCO"])[0]
    clean = Scorer(_objective(alerts={"mode": "ignore"}), profile, []).score(["CCO"])[0]
    assert soft.dropped is None and soft.raw_score == pytest.approx(clean.raw_score * 0.25)


def test_similarity_floor_and_domain_are_hard_constraints_when_asked() -> None:
    profile = fake_profile({"CCCCCC": {"hERG": 0.1}, TERFENADINE: {"hERG": 0.1}})
    scorer = Scorer(_objective(similarity={"min_tanimoto": 0.4}), profile, [TERFENADINE])
    far, same = scorer.score(["CCCCCC", TERFENADINE])
    assert far.dropped and "below 0.4" in far.dropped
    assert same.dropped is None and same.similarity == pytest.approx(1.0)

    def outside(smiles: Sequence[str]) -> pd.DataFrame:
        return profile(smiles).assign(in_domain=False)

    result = Scorer(_objective(domain={"require_in_domain": True}), outside, []).score(["CCCCCC"])[0]
    assert result.dropped == "outside the model's applicability domain"


def test_size_limits_drop_a_fragment_of_the_nearest_start_molecule_and_keep_its_own_size() -> None:
    fragment = "OC(c1ccccc1)(c1ccccc1)C1CC1"  # half of terfenadine, which has 35 heavy atoms
    grown = "CCCCCCCCCCCC" + TERFENADINE  # 47 heavy atoms
    profile = fake_profile({smiles: {"hERG": 0.1} for smiles in (fragment, TERFENADINE, grown, "CCO")})
    sized = _objective(size={"min_heavy_atom_ratio": 0.75, "max_heavy_atom_ratio": 1.3})
    small, same, large, small_lead = Scorer(sized, profile, ["CCO", TERFENADINE]).score(
        [fragment, TERFENADINE, grown, "CCO"]
    )
    assert small.dropped and "size limits" in small.dropped and small.size_ratio == pytest.approx(17 / 35)
    assert same.dropped is None and same.size_ratio == pytest.approx(1.0)
    assert large.dropped and large.size_ratio == pytest.approx(47 / 35)
    assert small_lead.dropped is None  # measured against its own nearest start molecule, ethanol
    unlimited = Scorer(_objective(), profile, [TERFENADINE]).score([fragment])[0]
    assert unlimited.dropped is None and unlimited.size_ratio == pytest.approx(17 / 35)
    with pytest.raises(InputError, match=r"size\.max_heavy_atom_ratio"):
        parse_objective(
            {
                "goal": [{"endpoint": "hERG", "direction": "lower", "low": 0, "high": 1}],
                "size": {"max_heavy_atom_ratio": 0.9},
            }
        )


def test_a_goal_the_model_does_not_predict_names_the_endpoint() -> None:
    objective = parse_objective({"goal": [{"endpoint": "Potency", "direction": "higher", "low": 5, "high": 7}]})
    with pytest.raises(InputError, match="does not predict Potency"):
        Scorer(objective, fake_profile({}), []).score(["CCO"])


def test_enforced_limits_rank_a_molecule_meeting_them_above_a_higher_scoring_one_that_does_not() -> None:
    import tomllib

    from fedadmet.design.agent import Member

    values = {
        "CCO": {"hERG": 0.1, "Solubility_AqSolDB": -4.7},  # hERG excellent, solubility just short of its limit
        "CCN": {"hERG": 0.38, "Solubility_AqSolDB": -4.3},  # both just within their limits
    }
    base = tomllib.loads(OBJECTIVE_TOML)

    def members(enforce: bool) -> list[Member]:
        objective = parse_objective(base | {"limits": {"enforce": enforce}})
        scores = Scorer(objective, fake_profile(values), references=[]).score(list(values))
        return sorted((Member(s.smiles, s.score, s.violation) for s in scores), key=Member.rank_key)

    plain, enforced = members(False), members(True)
    assert [m.smiles for m in plain] == ["CCO", "CCN"]  # the score alone prefers the one that misses a limit
    assert [m.smiles for m in enforced] == ["CCN", "CCO"]
    assert enforced[0].violation == 0 and enforced[1].violation > 0
    objective = parse_objective(base | {"limits": {"enforce": True}})
    (missing,) = Scorer(objective, fake_profile(values), references=[]).score(["CCO"])
    assert missing.failed_limits == ("Solubility_AqSolDB",)
