"""Cohorts in the OHDSI style: a target (new users of a drug or drug class after a wash-out) and an outcome
(a condition concept set within a time-at-risk after the index date)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from fedadmet.clinical.omop import Cdm
from fedadmet.exceptions import InputError


@dataclass(frozen=True)
class TargetCohort:
    """New users: a person's first exposure to any of ``drug_concept_ids`` (or their descendants, so a class
    or an ingredient names all its products), with ``washout_days`` of prior observation and no earlier use."""

    name: str
    drug_concept_ids: tuple[int, ...]
    washout_days: int = 365


@dataclass(frozen=True)
class OutcomeDefinition:
    """Any of ``condition_concept_ids`` (or descendants) from ``risk_start_days`` to ``risk_end_days`` after
    the index date. Persons with the outcome before the index are left out; so are persons not observed
    for the whole time-at-risk unless the outcome occurs in it."""

    name: str
    condition_concept_ids: tuple[int, ...]
    risk_start_days: int = 1
    risk_end_days: int = 365


def with_descendants(cdm: Cdm, concept_ids: Iterable[int]) -> set[int]:
    """The concepts and everything below them in the vocabulary's hierarchy."""
    ids = set(concept_ids)
    ancestors = cdm.concept_ancestor
    return ids | set(ancestors.loc[ancestors["ancestor_concept_id"].isin(ids), "descendant_concept_id"].tolist())


def build_cohort(cdm: Cdm, target: TargetCohort, outcome: OutcomeDefinition) -> pd.DataFrame:
    """One row per eligible person: ``person_id``, ``index_date`` and ``outcome`` (0/1)."""
    drugs = cdm.drug_exposure
    exposures = drugs[drugs["drug_concept_id"].isin(with_descendants(cdm, target.drug_concept_ids))]
    if exposures.empty:
        raise InputError(f"target cohort {target.name!r}: no drug_exposure row has its concepts", got=target)
    first = exposures.groupby("person_id", as_index=False)["drug_exposure_start_date"].min()
    first = first.rename(columns={"drug_exposure_start_date": "index_date"})
    periods = first.merge(cdm.observation_period, on="person_id")
    observed = (
        periods["observation_period_start_date"] <= periods["index_date"] - pd.Timedelta(days=target.washout_days)
    ) & (periods["index_date"] <= periods["observation_period_end_date"])
    cohort = periods.loc[observed, ["person_id", "index_date", "observation_period_end_date"]]
    cohort = cohort.drop_duplicates("person_id").reset_index(drop=True)

    conditions = cdm.condition_occurrence
    events = conditions[conditions["condition_concept_id"].isin(with_descendants(cdm, outcome.condition_concept_ids))]
    onsets = cohort.merge(events[["person_id", "condition_start_date"]], on="person_id")
    days = (onsets["condition_start_date"] - onsets["index_date"]).dt.days
    prior = set(onsets.loc[days < outcome.risk_start_days, "person_id"])
    cases = set(onsets.loc[(days >= outcome.risk_start_days) & (days <= outcome.risk_end_days), "person_id"])
    cohort["outcome"] = cohort["person_id"].isin(cases).astype(int)
    followed = cohort["observation_period_end_date"] >= cohort["index_date"] + pd.Timedelta(days=outcome.risk_end_days)
    keep = ~cohort["person_id"].isin(prior) & (followed | (cohort["outcome"] == 1))
    return cohort.loc[keep, ["person_id", "index_date", "outcome"]].reset_index(drop=True)
