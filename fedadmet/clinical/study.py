"""A study: the cohorts, covariates and model settings every site applies the same way, as JSON-able options
(what a federation's coordinator sends), and the one extraction path local, pooled and federated runs share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fedadmet.clinical.cohorts import OutcomeDefinition, TargetCohort, build_cohort
from fedadmet.clinical.covariates import CovariateSettings, aligned, exposure_scores, extract_covariates
from fedadmet.clinical.omop import Cdm


@dataclass(frozen=True)
class Study:
    """``drug_scores``: drug concept id → endpoint → the platform's prediction for its structure; when set,
    the molecular covariates join the others."""

    target: TargetCohort
    outcome: OutcomeDefinition
    covariates: CovariateSettings = field(default_factory=CovariateSettings)
    drug_scores: Mapping[int, Mapping[str, float]] = field(default_factory=dict)
    l1_penalty: float = 0.002

    def to_options(self) -> dict[str, Any]:
        options = asdict(self)
        options["drug_scores"] = {str(concept): dict(scores) for concept, scores in self.drug_scores.items()}
        return options

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Study:
        target, outcome = options["target"], options["outcome"]
        covariates = options.get("covariates", {})
        return cls(
            target=TargetCohort(target["name"], tuple(target["drug_concept_ids"]), target["washout_days"]),
            outcome=OutcomeDefinition(
                outcome["name"],
                tuple(outcome["condition_concept_ids"]),
                outcome["risk_start_days"],
                outcome["risk_end_days"],
            ),
            covariates=CovariateSettings(
                **{**covariates, "windows_days": tuple(covariates.get("windows_days", (365, 30)))}
            ),
            drug_scores={int(concept): dict(scores) for concept, scores in options.get("drug_scores", {}).items()},
            l1_penalty=float(options.get("l1_penalty", 0.002)),
        )

    def without_molecules(self) -> Study:
        return Study(self.target, self.outcome, self.covariates, {}, self.l1_penalty)


@dataclass(frozen=True)
class Extracted:
    """A site's cohort (person, index date, outcome) and its covariates in the study's column order."""

    cohort: pd.DataFrame
    covariates: pd.DataFrame

    @property
    def outcome(self) -> np.ndarray:
        return self.cohort["outcome"].to_numpy(dtype=int)

    def rows(self, mask: np.ndarray) -> Extracted:
        return Extracted(self.cohort[mask].reset_index(drop=True), self.covariates[mask].reset_index(drop=True))


def covariate_names(study: Study, concept: pd.DataFrame) -> list[str]:
    """The agreed covariates, from the shared vocabulary alone (no patient data): every condition, drug and
    measurement concept in every window, the demographics, and one molecular covariate per endpoint."""
    settings = study.covariates
    by_domain = {
        domain: sorted(concept.loc[concept["domain_id"] == domain, "concept_id"])
        for domain in ("Condition", "Drug", "Measurement")
    }
    names = ["age_decades", "gender_female"] if settings.demographics else []
    for enabled, domain, prefix in ((settings.conditions, "Condition", "condition"), (settings.drugs, "Drug", "drug")):
        if enabled:
            names += [
                f"{prefix}_{concept_id}_{window}d"
                for concept_id in by_domain[domain]
                for window in settings.windows_days
            ]
    if settings.measurements:
        names += [
            f"measurement_{concept_id}_{kind}"
            for concept_id in by_domain["Measurement"]
            for kind in ("present", "value")
        ]
    endpoints = sorted({endpoint for scores in study.drug_scores.values() for endpoint in scores})
    return names + [f"molecular_{endpoint}" for endpoint in endpoints]


def extract(cdm: Cdm, study: Study, names: list[str] | None = None) -> Extracted:
    """Cohort and covariates of one database; ``names`` (default: from its vocabulary) fixes the columns."""
    cohort = build_cohort(cdm, study.target, study.outcome)
    parts = [extract_covariates(cdm, cohort, study.covariates)]
    if study.drug_scores:
        parts.append(exposure_scores(cdm, cohort, study.drug_scores, max(study.covariates.windows_days)))
    columns = names if names is not None else covariate_names(study, cdm.concept)
    return Extracted(cohort, aligned(pd.concat(parts, axis=1), columns))


def held_out(n: int, fraction: float, seed: int) -> np.ndarray:
    """A seeded test mask over ``n`` rows."""
    return np.random.default_rng(seed).random(n) < fraction
