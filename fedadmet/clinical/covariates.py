"""Covariates in the style of OHDSI FeatureExtraction: demographics at the index date, and conditions, drugs
and measurements in look-back windows ending on the index date (the index day included)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from fedadmet.clinical.omop import Cdm

FEMALE_CONCEPT_ID = 8532


@dataclass(frozen=True)
class CovariateSettings:
    """Which covariates, over which windows (days before the index date)."""

    demographics: bool = True
    conditions: bool = True
    drugs: bool = True
    measurements: bool = True
    windows_days: tuple[int, ...] = (365, 30)


def extract_covariates(cdm: Cdm, cohort: pd.DataFrame, settings: CovariateSettings) -> pd.DataFrame:
    """One row per cohort row (same index), one float column per covariate that occurs in the cohort:
    ``age_decades``, ``gender_female``, ``condition_<id>_<w>d``, ``drug_<id>_<w>d`` (0/1), and
    ``measurement_<id>_value``/``measurement_<id>_present`` (the last value in the longest window, 0 if none)."""
    parts: list[pd.DataFrame] = []
    if settings.demographics:
        parts.append(_demographics(cdm, cohort))
    for enabled, table, concept, date in (
        (settings.conditions, cdm.condition_occurrence, "condition_concept_id", "condition_start_date"),
        (settings.drugs, cdm.drug_exposure, "drug_concept_id", "drug_exposure_start_date"),
    ):
        if enabled:
            for window in settings.windows_days:
                parts.append(_occurrences(cohort, table, concept, date, window))
    if settings.measurements:
        parts.append(_measurements(cdm, cohort, max(settings.windows_days)))
    covariates = pd.concat(parts, axis=1).reindex(cohort.index).fillna(0.0).astype(float)
    return covariates.loc[:, sorted(covariates.columns)]


def aligned(covariates: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """The covariates in the agreed column order; a covariate nobody here has is all zeros."""
    return covariates.reindex(columns=list(names), fill_value=0.0)


def exposure_scores(
    cdm: Cdm, cohort: pd.DataFrame, drug_scores: Mapping[int, Mapping[str, float]], window_days: int
) -> pd.DataFrame:
    """Molecular covariates: for each endpoint, the dose-weighted sum of the predictions for the drugs a person
    was exposed to in the window (``molecular_<endpoint>`` = Σ quantity · prediction, a missing quantity
    counting as 1). ``drug_scores`` maps a drug concept to its predictions (one profile per distinct
    structure, never per patient); a drug without a prediction adds nothing."""
    scores = pd.DataFrame.from_dict(dict(drug_scores), orient="index")
    scores.index.name = "drug_concept_id"
    exposed = _in_window(cohort, cdm.drug_exposure, "drug_exposure_start_date", window_days)
    exposed = exposed.join(scores, on="drug_concept_id", how="inner")
    weighted = exposed[list(scores.columns)].fillna(0.0).mul(exposed["quantity"].fillna(1.0), axis=0)
    summed = weighted.groupby(exposed["row"]).sum()
    summed.columns = [f"molecular_{endpoint}" for endpoint in scores.columns]
    return summed.reindex(cohort.index).fillna(0.0)


def _demographics(cdm: Cdm, cohort: pd.DataFrame) -> pd.DataFrame:
    persons = cohort[["person_id", "index_date"]].merge(cdm.person, on="person_id", how="left")
    persons.index = cohort.index
    return pd.DataFrame(
        {
            "age_decades": (persons["index_date"].dt.year - persons["year_of_birth"]) / 10.0,
            "gender_female": (persons["gender_concept_id"] == FEMALE_CONCEPT_ID).astype(float),
        },
        index=cohort.index,
    )


def _in_window(cohort: pd.DataFrame, table: pd.DataFrame, date: str, window_days: int) -> pd.DataFrame:
    """Rows of ``table`` dated from ``window_days`` before each cohort row's index date to that date,
    with the cohort row's label in ``row``."""
    rows = cohort[["person_id", "index_date"]].rename_axis("row").reset_index()
    joined = rows.merge(table, on="person_id")
    days = (joined["index_date"] - joined[date]).dt.days
    return joined[(days >= 0) & (days <= window_days)]


def _occurrences(cohort: pd.DataFrame, table: pd.DataFrame, concept: str, date: str, window: int) -> pd.DataFrame:
    hits = _in_window(cohort, table, date, window)
    domain = concept.split("_")[0]
    flags = pd.crosstab(hits["row"], hits[concept]).clip(upper=1)
    flags.columns = [f"{domain}_{concept_id}_{window}d" for concept_id in flags.columns]
    return flags


def _measurements(cdm: Cdm, cohort: pd.DataFrame, window: int) -> pd.DataFrame:
    hits = _in_window(cohort, cdm.measurement, "measurement_date", window)
    present = pd.crosstab(hits["row"], hits["measurement_concept_id"]).clip(upper=1)
    present.columns = [f"measurement_{concept_id}_present" for concept_id in present.columns]
    valued = hits.dropna(subset=["value_as_number"]).sort_values("measurement_date")
    values = valued.groupby(["row", "measurement_concept_id"])["value_as_number"].last().unstack()
    values.columns = [f"measurement_{concept_id}_value" for concept_id in values.columns]
    return pd.concat([values, present], axis=1)
