"""The endpoint catalogue: every property fedadmet predicts, named as in TDC / ADMET-AI.

A chemist who used ADMET-AI finds the same column names. Regression values are always reported in
the units of the source data set; ``transform`` is only how the model sees the target internally.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class Task(StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


class Category(StrEnum):
    ABSORPTION = "Absorption"
    DISTRIBUTION = "Distribution"
    METABOLISM = "Metabolism"
    EXCRETION = "Excretion"
    TOXICITY = "Toxicity"


class Transform(StrEnum):
    NONE = "none"
    LOG10 = "log10"


@dataclass(frozen=True)
class Endpoint:
    """One predicted property. ``good`` says which direction is desirable for a drug ("higher",
    "lower"), or None where that depends on the project (e.g. BBB penetration)."""

    name: str
    task: Task
    category: Category
    unit: str
    description: str
    source: str
    good: str | None = None
    transform: Transform = Transform.NONE
    tdc_benchmark: str | None = None
    metric: str | None = None
    # Bounds in source units that values and intervals stay within: physical limits (a % bound lies in
    # 0–100), or the range the source assay reports (AstraZeneca's logD and clearance assays are censored
    # at their limits), rounded out to hold every public label. Every regression endpoint has them.
    value_range: tuple[float, float] | None = None
    # Where value_range is an assay's reporting limits rather than physics, the wider range a partner's own
    # assay may still measure: labels outside it are refused by QC (None: value_range).
    label_range: tuple[float, float] | None = None
    # The property belongs to the substance as given, not to its parent compound: a sodium salt dissolves
    # unlike its free acid. Models featurise the input form (isotope labels removed) for it; every other
    # endpoint sees the parent, so a salt or protonation state changes nothing else (issue 23: AqSolDB's
    # test set holds 173 salts and mixtures; one CatBoost on parents misses them by 1.6 log units, on forms
    # by 1.2, and its MAE over the whole test set falls from 0.85 to 0.81).
    form_dependent: bool = False

    @property
    def is_classification(self) -> bool:
        return self.task is Task.CLASSIFICATION

    def to_model_scale(self, values: np.ndarray) -> np.ndarray:
        """Source units → the scale the model is trained on."""
        if self.transform is Transform.LOG10:
            return np.log10(values)
        return np.asarray(values, dtype=float)

    def from_model_scale(self, values: np.ndarray) -> np.ndarray:
        """The model's scale → source units."""
        if self.transform is Transform.LOG10:
            return np.power(10.0, values)
        return np.asarray(values, dtype=float)

    def label_problem(self, values: np.ndarray) -> str | None:
        """Why these labels (source units) cannot train this endpoint, or None: checked before any
        featurising, because a model trained on them would be useless or fail at the very end."""
        values = np.asarray(values, dtype=float)
        if not np.isfinite(values).all():
            return f"{int((~np.isfinite(values)).sum())} label(s) are not finite numbers (inf or NaN)"
        if self.is_classification:
            other = values[(values != 0.0) & (values != 1.0)]
            if len(other):
                return f"a yes/no endpoint needs labels 0 or 1, but {len(other)} label(s) differ, e.g. {other[0]:g}"
            if len(values) and len(np.unique(values)) < 2:
                return f"a yes/no endpoint needs both classes, but every label is {values[0]:g}"
        elif self.transform is Transform.LOG10 and (values <= 0).any():
            return f"values are log10-scaled, so they must be > 0 ({self.unit}), but {int((values <= 0).sum())} are not"
        return self.range_problem(values)

    def outside_range(self, values: np.ndarray) -> np.ndarray:
        """Which values (source units) lie outside the endpoint's declared label range (none where it has none)."""
        values = np.asarray(values, dtype=float)
        bounds = self.label_range or self.value_range
        if bounds is None:
            return np.zeros(len(values), dtype=bool)
        return (values < bounds[0]) | (values > bounds[1])

    def range_problem(self, values: np.ndarray) -> str | None:
        """Why these values (source units) cannot be this endpoint's, or None: some lie outside its declared
        range (another endpoint's values, 0/1 labels under a regression endpoint, another unit)."""
        outside = np.asarray(values, dtype=float)[self.outside_range(values)]
        if not len(outside):
            return None
        low, high = self.label_range or self.value_range  # set: something lies outside them
        return (
            f"{len(outside)} label(s) lie outside this endpoint's range {low:g} to {high:g} {self.unit}, "
            f"e.g. {outside[0]:g} (another endpoint's values, or another unit?)"
        )

    def interval(self, values: np.ndarray, half_widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds in source units of regression ``values`` (source units) ± ``half_widths``
        (on the model's scale, log10 for log-scaled endpoints), within the physical range."""
        centre = self.to_model_scale(np.asarray(values, dtype=float))
        half_widths = np.asarray(half_widths, dtype=float)
        return self.clip(self.from_model_scale(centre - half_widths)), self.clip(
            self.from_model_scale(centre + half_widths)
        )

    def clip(self, values: np.ndarray) -> np.ndarray:
        """``values`` (source units) within the physical range, where the endpoint has one."""
        values = np.asarray(values, dtype=float)
        return values if self.value_range is None else np.clip(values, *self.value_range)


C, R = Task.CLASSIFICATION, Task.REGRESSION
A, D, M, E, T = Category.ABSORPTION, Category.DISTRIBUTION, Category.METABOLISM, Category.EXCRETION, Category.TOXICITY
_TDC = "TDC ADMET group"
_PROB = "probability"


def _tdc(name: str, task: Task, category: Category, unit: str, description: str, metric: str, **kw: object) -> Endpoint:
    return Endpoint(
        name,
        task,
        category,
        unit,
        description,
        source=f"{_TDC}: {name.lower()}",
        tdc_benchmark=name.lower(),
        metric=metric,
        **kw,
    )  # type: ignore[arg-type]


def _pharmabench(name: str, category: Category, unit: str, description: str, file: str, **kw: object) -> Endpoint:
    return Endpoint(name, R, category, unit, description, source=f"PharmaBench (Niu et al. 2024): {file}", **kw)  # type: ignore[arg-type]


def _tox21(name: str, description: str) -> Endpoint:
    return Endpoint(name, C, T, _PROB, f"Tox21 {description} (active)", source="MoleculeNet tox21.csv", good="lower")


ENDPOINTS: tuple[Endpoint, ...] = (
    # Papp between 1e-8 cm/s (detection) and 1e-3 cm/s (above the unstirred water layer's diffusion limit)
    _tdc("Caco2_Wang", R, A, "log10(cm/s)", "Caco-2 cell permeability", "mae", good="higher", value_range=(-8.0, -3.0)),
    _tdc("HIA_Hou", C, A, _PROB, "Human intestinal absorption", "roc-auc", good="higher"),
    _tdc("Pgp_Broccatelli", C, A, _PROB, "P-glycoprotein inhibition", "roc-auc"),
    _tdc("Bioavailability_Ma", C, A, _PROB, "Oral bioavailability > 20%", "roc-auc", good="higher"),
    _tdc(  # the shake-flask assay's range
        "Lipophilicity_AstraZeneca",
        R,
        A,
        "logD7.4",
        "Lipophilicity (octanol/water logD at pH 7.4)",
        "mae",
        value_range=(-1.5, 4.5),
        label_range=(-5.0, 8.0),
    ),
    _tdc(  # up to ~100 mol/L (a pure liquid is at most ~55 mol/L: water); AqSolDB spans -13.2 to 2.1
        "Solubility_AqSolDB",
        R,
        A,
        "log10(mol/L)",
        "Aqueous solubility",
        "mae",
        good="higher",
        value_range=(-13.5, 2.2),
        form_dependent=True,
    ),
    _tdc("BBB_Martins", C, D, _PROB, "Blood-brain barrier penetration", "roc-auc"),
    _tdc("PPBR_AZ", R, D, "% bound", "Plasma protein binding rate", "mae", good="lower", value_range=(0.0, 100.0)),
    _tdc(  # from about plasma volume to the largest known (chloroquine-like) volumes
        "VDss_Lombardo",
        R,
        D,
        "L/kg",
        "Volume of distribution at steady state",
        "spearman",
        transform=Transform.LOG10,
        value_range=(0.01, 1000.0),
    ),
    _tdc("CYP2C9_Veith", C, M, _PROB, "CYP2C9 inhibition", "pr-auc", good="lower"),
    _tdc("CYP2D6_Veith", C, M, _PROB, "CYP2D6 inhibition", "pr-auc", good="lower"),
    _tdc("CYP3A4_Veith", C, M, _PROB, "CYP3A4 inhibition", "pr-auc", good="lower"),
    _tdc("CYP2C9_Substrate_CarbonMangels", C, M, _PROB, "CYP2C9 substrate", "pr-auc"),
    _tdc("CYP2D6_Substrate_CarbonMangels", C, M, _PROB, "CYP2D6 substrate", "pr-auc"),
    _tdc("CYP3A4_Substrate_CarbonMangels", C, M, _PROB, "CYP3A4 substrate", "roc-auc"),
    _tdc(  # from under a minute to ~3 months (Obach's longest: 1,200 h)
        "Half_Life_Obach",
        R,
        E,
        "h",
        "Half-life in humans",
        "spearman",
        good="higher",
        transform=Transform.LOG10,
        value_range=(0.01, 2000.0),
    ),
    _tdc(
        "Clearance_Hepatocyte_AZ",
        R,
        E,
        "uL/min/10^6 cells",
        "Hepatocyte intrinsic clearance",
        "spearman",
        good="lower",
        transform=Transform.LOG10,
        value_range=(3.0, 150.0),  # the assay's limits
        label_range=(1e-3, 1e5),
    ),
    _tdc(
        "Clearance_Microsome_AZ",
        R,
        E,
        "mL/min/g",
        "Microsomal intrinsic clearance",
        "spearman",
        good="lower",
        transform=Transform.LOG10,
        value_range=(3.0, 150.0),  # the assay's limits
        label_range=(1e-3, 1e5),
    ),
    _tdc(  # LD50 from 10 mol/kg (more than a rat can swallow) to 1e-12 mol/kg (beyond the most potent toxins)
        "LD50_Zhu",
        R,
        T,
        "-log10(mol/kg)",
        "Acute oral toxicity in rat (higher = more toxic)",
        "mae",
        good="lower",
        value_range=(-1.0, 12.0),
    ),
    _tdc("hERG", C, T, _PROB, "hERG channel blockade", "roc-auc", good="lower"),
    _tdc("AMES", C, T, _PROB, "Ames mutagenicity", "roc-auc", good="lower"),
    _tdc("DILI", C, T, _PROB, "Drug-induced liver injury", "roc-auc", good="lower"),
    Endpoint("CYP1A2_Veith", C, M, _PROB, "CYP1A2 inhibition", "TDC single-instance cyp1a2_veith", good="lower"),
    Endpoint("CYP2C19_Veith", C, M, _PROB, "CYP2C19 inhibition", "TDC single-instance cyp2c19_veith", good="lower"),
    Endpoint(
        "ClinTox", C, T, _PROB, "Failed clinical trials for toxicity", "MoleculeNet clintox.csv (CT_TOX)", good="lower"
    ),
    # What industrial ADME labs measure, in the units and on the scales they report (PharmaBench, curated from
    # ChEMBL; the file units are converted by fedadmet.data.public.PHARMABENCH).
    _pharmabench(
        "LogD_PharmaBench",
        A,
        "logD7.4",
        "Lipophilicity (octanol/buffer logD, pH 7.4)",
        "logd_reg",
        value_range=(-5.0, 9.5),  # the file's values run from -4.8 to 9.1
    ),
    _pharmabench(
        "Solubility_PharmaBench",
        A,
        "log10(mol/L)",
        "Aqueous (kinetic or thermodynamic) solubility",
        "water_sol_reg",
        good="higher",
        value_range=(-13.5, 2.2),  # as AqSolDB: from the least soluble to a neat liquid
        form_dependent=True,
    ),
    _pharmabench(
        "Fraction_Unbound_PharmaBench",
        D,
        "fraction unbound",
        "Fraction unbound in plasma (fu, 1 - PPB)",
        "ppb_reg",
        transform=Transform.LOG10,
        value_range=(1e-3, 1.0),  # below 0.1 % unbound is rarely quantified (fedadmet.data.public)
    ),
    *(
        _pharmabench(
            f"Clearance_Microsome_{species}_PharmaBench",
            E,
            "uL/min/mg",
            f"{species} liver microsomal intrinsic clearance (CLint)",
            f"{file_prefix}_mic_cl_reg",
            good="lower",
            transform=Transform.LOG10,
            value_range=(0.1, 10000.0),  # from below the assays' limit of detection to beyond the fastest turnover
        )
        for species, file_prefix in (("Human", "hum"), ("Rat", "rat"), ("Mouse", "mou"))
    ),
    _pharmabench(
        "CYP2C9_IC50_PharmaBench",
        M,
        "uM",
        "CYP2C9 inhibition IC50",
        "cyp_2c9_reg",
        good="higher",
        transform=Transform.LOG10,
        value_range=(1e-5, 100.0),  # 100 uM: the highest concentration the assays test
    ),
    _pharmabench(
        "CYP2D6_IC50_PharmaBench",
        M,
        "uM",
        "CYP2D6 inhibition IC50",
        "cyp_2d6_reg",
        good="higher",
        transform=Transform.LOG10,
        value_range=(1e-5, 100.0),  # 100 uM: the highest concentration the assays test
    ),
    _pharmabench(
        "CYP3A4_IC50_PharmaBench",
        M,
        "uM",
        "CYP3A4 inhibition IC50",
        "cyp_3a4_reg",
        good="higher",
        transform=Transform.LOG10,
        value_range=(1e-5, 100.0),  # 100 uM: the highest concentration the assays test
    ),
    _tox21("NR-AR", "androgen receptor (full length)"),
    _tox21("NR-AR-LBD", "androgen receptor ligand-binding domain"),
    _tox21("NR-AhR", "aryl hydrocarbon receptor"),
    _tox21("NR-Aromatase", "aromatase inhibition"),
    _tox21("NR-ER", "estrogen receptor alpha (full length)"),
    _tox21("NR-ER-LBD", "estrogen receptor alpha ligand-binding domain"),
    _tox21("NR-PPAR-gamma", "PPAR-gamma"),
    _tox21("SR-ARE", "antioxidant response element"),
    _tox21("SR-ATAD5", "ATAD5 genotoxicity"),
    _tox21("SR-HSE", "heat-shock factor response element"),
    _tox21("SR-MMP", "mitochondrial membrane potential"),
    _tox21("SR-p53", "p53 response"),
)

CATALOGUE: dict[str, Endpoint] = {e.name: e for e in ENDPOINTS}
TDC_BENCHMARK_ENDPOINTS: dict[str, Endpoint] = {e.tdc_benchmark: e for e in ENDPOINTS if e.tdc_benchmark}


def name_key(name: object) -> str:
    """Names as people vary them, for endpoints and columns alike: case, spaces, ``_`` and ``-`` ignored
    (``herg``, ``Caco2 Wang``, ``IsomericSMILES``, ``canonical smiles``)."""
    return re.sub(r"[\s_-]", "", str(name)).lower()


_BY_KEY: dict[str, Endpoint] = {name_key(e.name): e for e in ENDPOINTS} | {
    name_key(e.tdc_benchmark): e for e in ENDPOINTS if e.tdc_benchmark
}


def find_endpoint(name: str) -> Endpoint | None:
    """The endpoint a catalogue or TDC benchmark name means, in any case and spacing; None if none."""
    return CATALOGUE.get(name) or _BY_KEY.get(name_key(name))


def close_endpoints(name: str, n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Catalogue names closest to a misspelt one (compared as :func:`name_key` spells them)."""
    by_key = {name_key(endpoint): endpoint for endpoint in CATALOGUE}
    return [by_key[key] for key in difflib.get_close_matches(name_key(name), by_key, n=n, cutoff=cutoff)]


def get_endpoint(name: str) -> Endpoint:
    """:func:`find_endpoint`, with an error that suggests the closest names for an unknown one."""
    endpoint = find_endpoint(name)
    if endpoint is not None:
        return endpoint
    from fedadmet.exceptions import InputError

    close = close_endpoints(name)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise InputError(f"unknown endpoint {name!r}{hint}", expected=f"one of {', '.join(CATALOGUE)}")
