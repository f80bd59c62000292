"""A synthetic oncology cohort in OMOP CDM form: N patients across K hospitals with different case mixes,
chemotherapy regimens of real drugs (with their structures), comorbidities, laboratory values and four
toxicities drawn from the stated ground-truth logistic model :data:`GROUND_TRUTH`. Seeded and deterministic.

Concept ids are above 2,000,000,000, the range the OMOP CDM leaves to local (site) concepts: the names are
real, the ids are not those of the OHDSI vocabulary, which cannot ship offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fedadmet.clinical.cohorts import OutcomeDefinition, TargetCohort
from fedadmet.exceptions import InputError


@dataclass(frozen=True)
class Concept:
    concept_id: int
    name: str
    domain: str
    vocabulary: str
    concept_class: str


@dataclass(frozen=True)
class Drug:
    concept_id: int
    name: str
    smiles: str


DRUGS = (
    Drug(
        2_000_001_001,
        "doxorubicin",
        "COc1cccc2C(=O)c3c(O)c4C[C@](O)(C[C@H](O[C@H]5C[C@H](N)[C@H](O)[C@H](C)O5)c4c(O)c3C(=O)c12)C(=O)CO",
    ),
    Drug(2_000_001_002, "cyclophosphamide", "ClCCN(CCCl)P1(=O)NCCCO1"),
    Drug(
        2_000_001_003,
        "paclitaxel",
        "CC1=C2[C@@]([C@]([C@H]([C@@H]3[C@]4([C@H](OC4)C[C@@H]([C@]3(C(=O)[C@@H]2OC(=O)C)C)O)OC(=O)C)OC(=O)c5ccccc5)"
        "(C[C@@H]1OC(=O)[C@H](O)[C@@H](NC(=O)c6ccccc6)c7ccccc7)O)(C)C",
    ),
    Drug(
        2_000_001_004,
        "docetaxel",
        "CC1=C2[C@H](C(=O)[C@@]3([C@H](C[C@@H]4[C@]([C@H]3[C@@H]([C@@](C2(C)C)(C[C@@H]1OC(=O)[C@@H]([C@H](c5ccccc5)"
        "NC(=O)OC(C)(C)C)O)O)OC(=O)c6ccccc6)(CO4)OC(=O)C)O)C)O",
    ),
    Drug(2_000_001_005, "cisplatin", "N.N.Cl[Pt]Cl"),
    Drug(2_000_001_006, "carboplatin", "N.N.O=C1O[Pt]OC(=O)C12CCC2"),
    Drug(2_000_001_007, "oxaliplatin", "O=C1O[Pt]2(OC1=O)N[C@@H]1CCCC[C@H]1N2"),
    Drug(2_000_001_008, "fluorouracil", "Fc1c[nH]c(=O)[nH]c1=O"),
    Drug(2_000_001_009, "capecitabine", "CCCCCOC(=O)Nc1nc(=O)n(cc1F)[C@@H]1O[C@H](C)[C@@H](O)[C@H]1O"),
    Drug(
        2_000_001_010, "irinotecan", "CCc1c2CN3C(=O)C=C4[C@@](O)(CC)C(=O)OCC4=C3c2nc2ccc(OC(=O)N3CCC(CC3)N3CCCCC3)cc12"
    ),
    Drug(
        2_000_001_011,
        "etoposide",
        "COc1cc(cc(OC)c1O)[C@H]1[C@@H]2[C@H](COC2=O)[C@H](O[C@@H]2O[C@@H]3CO[C@@H](C)O[C@H]3[C@H](O)[C@H]2O)c2cc3OCOc3cc12",
    ),
    Drug(2_000_001_012, "pemetrexed", "Nc1nc(=O)c2c(CCc3ccc(cc3)C(=O)N[C@@H](CCC(=O)O)C(=O)O)c[nH]c2[nH]1"),
    Drug(2_000_001_013, "gemcitabine", "Nc1ccn([C@@H]2O[C@H](CO)[C@@H](O)C2(F)F)c(=O)n1"),
    Drug(2_000_001_014, "methotrexate", "CN(Cc1cnc2nc(N)nc(N)c2n1)c1ccc(cc1)C(=O)N[C@@H](CCC(=O)O)C(=O)O"),
    Drug(2_000_001_015, "prednisone", "C[C@]12CC(=O)[C@H]3[C@@H](CCC4=CC(=O)C=C[C@]34C)[C@@H]1CC[C@]2(O)C(=O)CO"),
    Drug(2_000_001_016, "imatinib", "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(n1)-c1cccnc1"),
)
DRUG_BY_NAME = {drug.name: drug for drug in DRUGS}
ANTINEOPLASTICS_CLASS_ID = 2_000_000_900  # the class every regimen drug descends from (a target by class)

CANCERS = {"breast cancer": 2_000_002_001, "lung cancer": 2_000_002_002, "colorectal cancer": 2_000_002_003,
           "lymphoma": 2_000_002_004, "chronic myeloid leukaemia": 2_000_002_005}  # fmt: skip
REGIMENS = {
    "breast cancer": (("doxorubicin", "cyclophosphamide"), ("docetaxel", "cyclophosphamide"), ("paclitaxel",)),
    "lung cancer": (("cisplatin", "pemetrexed"), ("carboplatin", "paclitaxel"), ("cisplatin", "etoposide")),
    "colorectal cancer": (("fluorouracil", "oxaliplatin"), ("fluorouracil", "irinotecan"), ("capecitabine",)),
    "lymphoma": (("cyclophosphamide", "doxorubicin", "prednisone"), ("methotrexate",), ("gemcitabine", "cisplatin")),
    "chronic myeloid leukaemia": (("imatinib",),),
}
COMORBIDITIES = {"renal impairment": 2_000_003_001, "diabetes mellitus": 2_000_003_002,
                 "heart failure": 2_000_003_003, "liver disease": 2_000_003_004,
                 "hypertension": 2_000_003_005, "COPD": 2_000_003_006}  # fmt: skip
BASE_PREVALENCE = {"renal impairment": 0.10, "diabetes mellitus": 0.18, "heart failure": 0.07,
                   "liver disease": 0.06, "hypertension": 0.35, "COPD": 0.12}  # fmt: skip
TOXICITIES = {"febrile neutropenia": 2_000_004_001, "cardiotoxicity": 2_000_004_002,
              "hepatotoxicity": 2_000_004_003, "nephrotoxicity": 2_000_004_004}  # fmt: skip
LABS = {"creatinine": 2_000_005_001, "alanine aminotransferase": 2_000_005_002, "neutrophil count": 2_000_005_003}
# Upper reference limits (mg/dL, U/L, 10^9/L): public scales a federation shares these labs' moments on.
LAB_REFERENCE_VALUES = {LABS["creatinine"]: 1.2, LABS["alanine aminotransferase"]: 40.0, LABS["neutrophil count"]: 7.5}

# The ground truth: toxicity logit = intercept + Σ weight · feature, features as defined in _features():
# age_decades_over_60, female, one flag per comorbidity, creatinine_over_1 (mg/dL), alt_over_30 (per 10 U/L),
# neutrophils_below_4 (10⁹/L), one flag per regimen drug, and molecular_<endpoint> (the dose-weighted sum of
# the platform's predictions for the regimen's drugs, weighted by MOLECULAR_EFFECTS when an effect is planted).
GROUND_TRUTH: dict[str, dict[str, float]] = {
    "febrile neutropenia": {"intercept": -2.6, "age_decades_over_60": 0.3, "neutrophils_below_4": 0.6,
                            "docetaxel": 1.2, "doxorubicin": 0.8, "etoposide": 0.6, "cyclophosphamide": 0.4},
    "cardiotoxicity": {"intercept": -4.0, "age_decades_over_60": 0.4, "heart failure": 1.5,
                       "diabetes mellitus": 0.5, "hypertension": 0.3, "doxorubicin": 0.8},
    "hepatotoxicity": {"intercept": -4.2, "liver disease": 1.6, "alt_over_30": 0.3, "methotrexate": 0.8},
    "nephrotoxicity": {"intercept": -3.2, "renal impairment": 1.4, "creatinine_over_1": 1.0,
                       "diabetes mellitus": 0.5, "cisplatin": 1.5, "methotrexate": 0.6},
}  # fmt: skip
# Planted molecular effects: which outcome depends on which predicted endpoint, by how much per unit.
MOLECULAR_EFFECTS = {"cardiotoxicity": ("hERG", 4.0), "hepatotoxicity": ("DILI", 4.0)}


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate. ``drug_scores`` (drug name → endpoint → predicted probability) feed the planted
    molecular effect; without them, or with ``molecular_effect=False``, no outcome depends on them."""

    n_patients: int = 4000
    n_hospitals: int = 4
    seed: int = 0
    molecular_effect: bool = True
    drug_scores: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class HospitalMix:
    """How one hospital's patients differ: age, cancer types, comorbidity rates."""

    name: str
    share: float
    mean_age: float
    cancer_weights: dict[str, float]
    comorbidity_factor: float


def hospital_mixes(n_hospitals: int, seed: int) -> list[HospitalMix]:
    """Different case mixes: unequal sizes, older or younger patients, a few dominant cancer types each."""
    generator = np.random.default_rng(seed + 7919)
    shares = generator.dirichlet(np.full(n_hospitals, 4.0))
    mixes = []
    for index in range(n_hospitals):
        weights = generator.dirichlet(np.full(len(CANCERS), 0.8)) + 0.03
        mixes.append(
            HospitalMix(
                name=f"hospital_{chr(ord('a') + index)}",
                share=float(shares[index]),
                mean_age=float(generator.uniform(52, 68)),
                cancer_weights=dict(zip(CANCERS, (weights / weights.sum()).tolist(), strict=True)),
                comorbidity_factor=float(generator.uniform(0.6, 1.6)),
            )
        )
    return mixes


def chemotherapy_target() -> TargetCohort:
    """New users of any antineoplastic (by class), one year of prior observation."""
    return TargetCohort("new users of chemotherapy", (ANTINEOPLASTICS_CLASS_ID,), washout_days=365)


def toxicity_outcome(toxicity: str) -> OutcomeDefinition:
    """The toxicity within 180 days of starting chemotherapy."""
    if toxicity not in TOXICITIES:
        raise InputError("unknown toxicity", got=toxicity, expected=", ".join(TOXICITIES))
    return OutcomeDefinition(toxicity, (TOXICITIES[toxicity],), risk_start_days=1, risk_end_days=180)


def generate(spec: SyntheticSpec) -> dict[str, dict[str, pd.DataFrame]]:
    """Hospital name → CDM table name → rows, for every hospital of ``spec``."""
    if spec.n_patients < 10 * spec.n_hospitals:
        raise InputError("too few patients for the hospitals", got=spec.n_patients, expected="≥ 10 per hospital")
    mixes = hospital_mixes(spec.n_hospitals, spec.seed)
    counts = np.maximum(np.round(np.array([mix.share for mix in mixes]) * spec.n_patients).astype(int), 10)
    return {
        mix.name: _hospital(mix, int(count), index, spec)
        for index, (mix, count) in enumerate(zip(mixes, counts, strict=True))
    }


def vocabulary() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The concept and concept_ancestor tables every hospital shares."""
    concepts = [Concept(ANTINEOPLASTICS_CLASS_ID, "antineoplastic agents", "Drug", "ATC", "ATC 2nd")]
    concepts += [Concept(drug.concept_id, drug.name, "Drug", "RxNorm", "Ingredient") for drug in DRUGS]
    concepts += [Concept(i, name, "Condition", "SNOMED", "Clinical Finding") for name, i in CANCERS.items()]
    concepts += [Concept(i, name, "Condition", "SNOMED", "Clinical Finding") for name, i in COMORBIDITIES.items()]
    concepts += [Concept(i, name, "Condition", "SNOMED", "Clinical Finding") for name, i in TOXICITIES.items()]
    concepts += [Concept(i, name, "Measurement", "LOINC", "Lab Test") for name, i in LABS.items()]
    concept = pd.DataFrame(
        {
            "concept_id": [c.concept_id for c in concepts],
            "concept_name": [c.name for c in concepts],
            "domain_id": [c.domain for c in concepts],
            "vocabulary_id": [c.vocabulary for c in concepts],
            "concept_class_id": [c.concept_class for c in concepts],
            "concept_code": [f"local-{c.concept_id}" for c in concepts],
        }
    )
    ancestor = pd.DataFrame(
        {"ancestor_concept_id": ANTINEOPLASTICS_CLASS_ID, "descendant_concept_id": [d.concept_id for d in DRUGS]}
    )
    return concept, ancestor


def _hospital(mix: HospitalMix, n: int, index: int, spec: SyntheticSpec) -> dict[str, pd.DataFrame]:
    generator = np.random.default_rng([spec.seed, index])
    person_ids = np.arange(n, dtype=np.int64) + (index + 1) * 10_000_000
    age = np.clip(generator.normal(mix.mean_age, 11, n), 20, 90).round()
    female = generator.random(n) < 0.55
    cancer = generator.choice(list(CANCERS), size=n, p=list(mix.cancer_weights.values()))
    index_date = pd.Timestamp("2016-01-01") + pd.to_timedelta(generator.integers(0, 5 * 365, n), unit="D")
    old = (age - 60) / 10
    comorbid = {
        name: generator.random(n) < np.clip(rate * mix.comorbidity_factor * np.exp(0.25 * old), 0, 0.9)
        for name, rate in BASE_PREVALENCE.items()
    }
    creatinine = np.exp(generator.normal(np.log(0.9), 0.2, n)) + 0.9 * comorbid["renal impairment"]
    alt = np.exp(generator.normal(np.log(25), 0.35, n)) + 35 * comorbid["liver disease"]
    neutrophils = np.clip(generator.normal(4.5, 1.5, n), 0.8, None)
    regimen = [REGIMENS[c][generator.integers(len(REGIMENS[c]))] for c in cancer]
    # Relative dose intensity at the first cycle: reduced for older and renally impaired patients.
    dose = np.clip(
        generator.normal(1.0 - 0.08 * np.maximum(old, 0) - 0.15 * comorbid["renal impairment"], 0.25), 0.3, 1.3
    )

    features = pd.DataFrame(
        {
            "age_decades_over_60": old,
            "female": female.astype(float),
            **{name: flags.astype(float) for name, flags in comorbid.items()},
            "creatinine_over_1": creatinine - 1.0,
            "alt_over_30": (alt - 30) / 10,
            "neutrophils_below_4": 4.0 - neutrophils,
            **{drug.name: [float(drug.name in r) for r in regimen] for drug in DRUGS},
        }
    )
    for endpoint in {endpoint for endpoint, _ in MOLECULAR_EFFECTS.values()}:
        features[f"molecular_{endpoint}"] = [
            dose[i] * sum(spec.drug_scores.get(name, {}).get(endpoint, 0.0) for name in r)
            for i, r in enumerate(regimen)
        ]

    conditions: list[tuple[int, int, pd.Timestamp]] = []
    for row in range(n):
        conditions.append(
            (
                person_ids[row],
                CANCERS[cancer[row]],
                index_date[row] - pd.Timedelta(days=int(generator.integers(14, 90))),
            )
        )
        for name, flags in comorbid.items():
            if flags[row]:
                days = int(generator.integers(30, 360))
                conditions.append((person_ids[row], COMORBIDITIES[name], index_date[row] - pd.Timedelta(days=days)))
    for toxicity, weights in GROUND_TRUTH.items():
        logit = np.full(n, weights["intercept"]) + sum(
            weight * features[name].to_numpy() for name, weight in weights.items() if name != "intercept"
        )
        if spec.molecular_effect and toxicity in MOLECULAR_EFFECTS:
            endpoint, weight = MOLECULAR_EFFECTS[toxicity]
            logit += weight * features[f"molecular_{endpoint}"].to_numpy()
        cases = generator.random(n) < 1 / (1 + np.exp(-logit))
        onset = generator.integers(7, 180, n)
        conditions += [
            (person_ids[row], TOXICITIES[toxicity], index_date[row] + pd.Timedelta(days=int(onset[row])))
            for row in np.flatnonzero(cases)
        ]

    exposures = [
        (person_ids[row], DRUG_BY_NAME[name].concept_id, index_date[row] + pd.Timedelta(days=21 * cycle), dose[row])
        for row in range(n)
        for name in regimen[row]
        for cycle in range(4)
    ]
    lab_date = index_date - pd.to_timedelta(generator.integers(1, 21, n), unit="D")
    labs = [
        (LABS["creatinine"], creatinine),
        (LABS["alanine aminotransferase"], alt),
        (LABS["neutrophil count"], neutrophils),
    ]
    concept, ancestor = vocabulary()
    base = (index + 1) * 100_000_000
    return {
        "person": pd.DataFrame(
            {
                "person_id": person_ids,
                "gender_concept_id": np.where(female, 8532, 8507),
                "year_of_birth": index_date.year - age.astype(int),
            }
        ),
        "observation_period": pd.DataFrame(
            {
                "observation_period_id": person_ids,
                "person_id": person_ids,
                "observation_period_start_date": index_date
                - pd.to_timedelta(generator.integers(400, 2000, n), unit="D"),
                "observation_period_end_date": index_date + pd.to_timedelta(generator.integers(400, 1500, n), unit="D"),
            }
        ),
        "condition_occurrence": pd.DataFrame(
            {
                "condition_occurrence_id": base + np.arange(len(conditions)),
                "person_id": [c[0] for c in conditions],
                "condition_concept_id": [c[1] for c in conditions],
                "condition_start_date": [c[2] for c in conditions],
                "condition_end_date": pd.NaT,
            }
        ),
        "drug_exposure": pd.DataFrame(
            {
                "drug_exposure_id": base + np.arange(len(exposures)),
                "person_id": [e[0] for e in exposures],
                "drug_concept_id": [e[1] for e in exposures],
                "drug_exposure_start_date": [e[2] for e in exposures],
                "drug_exposure_end_date": [e[2] + pd.Timedelta(days=1) for e in exposures],
                "quantity": [round(float(e[3]), 3) for e in exposures],
            }
        ),
        "measurement": pd.DataFrame(
            {
                "measurement_id": base + np.arange(n * len(labs)),
                "person_id": np.tile(person_ids, len(labs)),
                "measurement_concept_id": np.repeat([concept_id for concept_id, _ in labs], n),
                "measurement_date": np.tile(lab_date, len(labs)),
                "value_as_number": np.concatenate([np.round(values, 2) for _, values in labs]),
            }
        ),
        "concept": concept,
        "concept_ancestor": ancestor,
    }
