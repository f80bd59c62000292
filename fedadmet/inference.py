"""Full ADMET/Tox profiles for molecules: the one code path behind the CLI, Python API and server."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from fedadmet.chem.featurizers import FeatureSet
from fedadmet.chem.graphs import MolGraph
from fedadmet.chem.parallel import ParallelOptions
from fedadmet.chem.pipeline import ChemistryChunk, iter_chemistry
from fedadmet.chem.properties import PROPERTY_NAMES, RULES, check_rules
from fedadmet.chem.standardize import MoleculeLimits, standardize_with_form
from fedadmet.config import Settings, get_settings
from fedadmet.data.catalogue import get_endpoint
from fedadmet.data.loaders import SD_PROBLEM_COLUMN, find_smiles_column, free_name, read_molecules
from fedadmet.exceptions import ArtifactError
from fedadmet.models import artifacts
from fedadmet.models.admet_model import ADMETModel, RawPrediction

BUNDLED_MODEL = Path(__file__).parent / "resources" / "default_model"
DOMAIN_COLUMN = "applicability_domain"
IN_DOMAIN_COLUMN = "in_domain"
ENDPOINT_DOMAIN_SUFFIX = "_domain"  # <endpoint>_domain: similarity to that endpoint's own training molecules
ENDPOINT_IN_DOMAIN_SUFFIX = "_in_domain"  # <endpoint>_in_domain: at least that endpoint's threshold
ALERTS_COLUMN = "alerts"
ERROR_COLUMN = "error"
STANDARDISATION_COLUMN = "standardisation"
PROPERTY_DECIMALS = 4
VIOLATIONS_SUFFIX = "_violations"  # <rule>_violations: the limits a molecule breaks, "; "-separated


class Predictor(Protocol):
    """What :func:`predict` needs of a model: a trained :class:`ADMETModel`, or the model a federation
    partner kept (:class:`fedadmet.federated.partner_model.PartnerPredictor`)."""

    @property
    def feature_set(self) -> FeatureSet: ...

    @property
    def endpoints(self) -> list[str]: ...

    @property
    def form_endpoints(self) -> list[str]: ...

    @property
    def reads_graphs(self) -> bool: ...

    def predict_features(
        self, features: np.ndarray, graphs: Sequence[MolGraph | None] | None = None
    ) -> RawPrediction: ...


def iter_predicted_chemistry(
    texts: Sequence[str],
    model: Predictor,
    limits: MoleculeLimits | None = None,
    parallel: ParallelOptions | None = None,
) -> Iterator[tuple[ChemistryChunk, RawPrediction | None]]:
    """Each chunk of :func:`~fedadmet.chem.pipeline.iter_chemistry` with the model's predictions for its rows
    (None for a chunk without a molecule to predict): the form-dependent endpoints (solubility) of a salt or
    ion are predicted from its input form, every other endpoint from the parent."""
    forms, graphs = model.form_endpoints, model.reads_graphs
    for chunk in iter_chemistry(texts, model.feature_set, limits, parallel, with_forms=bool(forms), with_graphs=graphs):
        if not len(chunk.features):
            yield chunk, None
            continue
        prediction = model.predict_features(chunk.features, chunk.graphs)
        if len(chunk.form_rows):
            from_forms = model.predict_features(chunk.form_features, chunk.form_graphs)
            prediction = prediction.with_rows_from(chunk.form_rows, from_forms, forms)
        yield chunk, prediction


def default_model_dir(settings: Settings | None = None) -> Path:
    """``FEDADMET_MODEL_DIR`` if set, else a model trained here with `fedadmet train`, else the bundled one
    (``settings``: as an entry point read them; default: the environment's)."""
    settings = settings or get_settings()
    if settings.model_dir is not None:
        return settings.model_dir
    if (settings.trained_model_dir / "model.json").is_file():
        return settings.trained_model_dir
    if (BUNDLED_MODEL / "model.json").is_file():
        return BUNDLED_MODEL
    raise ArtifactError(
        f"no default model: neither {settings.trained_model_dir} nor the bundled {BUNDLED_MODEL} holds one; "
        "train it with `fedadmet train`"
    )


def load_model(folder: Path | None = None) -> ADMETModel:
    """The model in ``folder`` (default: :func:`default_model_dir`), loaded once until the folder's
    model.json changes, so that a model retrained into the same folder is not served stale."""
    folder = Path(folder or default_model_dir()).resolve()
    card = folder / "model.json"
    return _load_model(folder, card.stat().st_mtime_ns if card.is_file() else None)


@lru_cache(maxsize=4)
def _load_model(folder: Path, _card_mtime_ns: int | None) -> ADMETModel:
    return artifacts.load_model(folder)


def predict(
    molecules: str | Sequence[str] | pd.DataFrame | os.PathLike[str],
    model: Predictor | Path | str | None = None,
    smiles_column: str | None = None,
    progress: bool | None = None,
    endpoints: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per input row, in input order: the parent SMILES profiled, what standardisation changed
    (salts and solvents removed, charges neutralised), endpoint values, uncertainties, domain, alerts,
    errors.

    ``molecules`` is one SMILES, a sequence of them, a DataFrame with a SMILES column, or the path of a
    CSV/TSV/SD file as a ``pathlib.Path`` (a ``str`` is always read as SMILES). Input columns are all
    kept, and so is the index of a DataFrame or Series (so the result joins back onto it); an input column
    whose name an output column takes (``smiles``, ``error``, an endpoint's) is kept as ``input_<name>``.
    Rows whose SMILES cannot be used keep their place with an ``error`` message and empty predictions.
    ``progress`` shows a bar for large inputs (default: ``FEDADMET_PROGRESS``); servers turn it off.
    ``endpoints`` (default: all the model's) are the endpoints whose columns are written, in that order.
    For classification endpoints the value is a calibrated probability and ``<endpoint>_uncertainty``
    the probability that the call (above/below 0.5) is wrong; for regression it is the half-width of
    the conformal interval on the model's scale (log10 units for log-transformed endpoints), and
    ``<endpoint>_lower``/``_upper`` are that interval in the value's units, within the physical range.
    """
    if isinstance(molecules, bytes):
        raise TypeError("give SMILES as str (decode bytes first), not bytes")
    if not isinstance(molecules, str | os.PathLike | pd.DataFrame | Iterable):
        raise TypeError(
            "molecules must be a SMILES, a sequence of SMILES, a DataFrame or a pathlib.Path, "
            f"not {type(molecules).__name__}"
        )
    if model is None or isinstance(model, str | os.PathLike):
        model = load_model(Path(model) if model is not None else None)
    if isinstance(molecules, os.PathLike):
        molecules = read_molecules(Path(molecules), smiles_column)
    if isinstance(molecules, pd.DataFrame):
        index, frame = molecules.index, molecules.reset_index(drop=True)
        inputs = frame[find_smiles_column(frame, smiles_column)].tolist()
    else:
        index = molecules.index if isinstance(molecules, pd.Series) else None
        inputs = [molecules] if isinstance(molecules, str) else list(molecules)
        frame = pd.DataFrame({"input_smiles": inputs})
    # Each distinct text is parsed, standardised, featurised and matched against the alerts once, chunk
    # by chunk; the model predicts each chunk while worker processes compute the next.
    # The public Python API is an edge: it reads the settings (FEDADMET_*) and passes them down.
    settings = get_settings()
    limits, parallel = settings.molecule_limits(), settings.parallel(progress)
    texts = list(dict.fromkeys(value for value in inputs if isinstance(value, str)))
    standardized: dict[str, tuple[str | None, str | None, str | None]] = {}
    notes: dict[str, str] = {}
    row_of: dict[str, int] = {}  # text -> row of the predictions below
    parts: list[RawPrediction] = []
    found_alerts: list[list[str]] = []
    found_properties: list[np.ndarray] = []
    position = 0
    for chunk, prediction in iter_predicted_chemistry(texts, model, limits, parallel):
        chunk_texts = texts[position : position + len(chunk.standardized)]
        for text, result, note in zip(chunk_texts, chunk.standardized, chunk.notes, strict=True):
            standardized[text], notes[text] = result, note
            if result[2] is None:
                row_of[text] = len(row_of)
        position += len(chunk.standardized)
        if prediction is not None:
            parts.append(prediction)
            found_alerts.extend(chunk.alerts)
            found_properties.append(chunk.properties)
    raw = RawPrediction.concatenate(parts) if parts else None
    rows = np.array([row_of.get(value, -1) if isinstance(value, str) else -1 for value in inputs], dtype=int)
    valid = np.flatnonzero(rows >= 0)
    outcomes = [
        standardized[value] if isinstance(value, str) else standardize_with_form(value, limits) for value in inputs
    ]
    columns: dict[str, np.ndarray] = {
        "smiles": np.array([parent for parent, _, _ in outcomes], dtype=object),
        STANDARDISATION_COLUMN: np.array([notes.get(value, "") if isinstance(value, str) else "" for value in inputs]),
    }
    for name in model.endpoints if endpoints is None else endpoints:
        for key, source in ((name, "values"), (f"{name}_uncertainty", "uncertainty")):
            column = np.full(len(inputs), np.nan)
            if raw is not None:
                column[valid] = getattr(raw, source)[name][rows[valid]]
            columns[key] = column
        endpoint = get_endpoint(name)
        columns[name] = endpoint.clip(columns[name])
        if not endpoint.is_classification:  # around the reported (clipped) value, as the web profile shows it
            columns[f"{name}_lower"], columns[f"{name}_upper"] = endpoint.interval(
                columns[name], columns[f"{name}_uncertainty"]
            )
        similarity = np.full(len(inputs), np.nan)
        if raw is not None:
            similarity[valid] = raw.endpoint_domain[name][rows[valid]]
        inside = _booleans(len(inputs), valid, raw.endpoint_in_domain[name][rows[valid]] if raw is not None else None)
        columns[name + ENDPOINT_DOMAIN_SUFFIX], columns[name + ENDPOINT_IN_DOMAIN_SUFFIX] = similarity, inside
    domain = np.full(len(inputs), np.nan)
    # usable as a mask: missing counts as False
    in_domain = _booleans(len(inputs), valid, raw.in_domain[rows[valid]] if raw is not None else None)
    alerts = np.full(len(inputs), None, dtype=object)
    if raw is not None:
        domain[valid] = raw.domain_score[rows[valid]]
        alerts[valid] = ["; ".join(found_alerts[row]) for row in rows[valid]]
    columns |= {DOMAIN_COLUMN: domain, IN_DOMAIN_COLUMN: in_domain, ALERTS_COLUMN: alerts}
    columns |= _properties_and_rules(np.concatenate(found_properties) if found_properties else None, rows, valid)
    columns[ERROR_COLUMN] = np.array([reason for _, _, reason in outcomes], dtype=object)
    if SD_PROBLEM_COLUMN in frame:  # an SD record RDKit could not read: its own reason, not "missing SMILES"
        columns[ERROR_COLUMN] = frame[SD_PROBLEM_COLUMN].where(frame[SD_PROBLEM_COLUMN].notna(), columns[ERROR_COLUMN])
    result = pd.concat([_keep_aside(frame, set(columns)), pd.DataFrame(columns)], axis=1)
    if index is not None:
        result.index = index
    return result


def _properties_and_rules(table: np.ndarray | None, rows: np.ndarray, valid: np.ndarray) -> dict[str, np.ndarray]:
    """The physicochemical property columns and, per rule, ``<rule>`` (passed: True/False, NA without a
    structure) and ``<rule>_violations`` (the limits broken, in words)."""
    columns: dict[str, np.ndarray] = {}
    for position, name in enumerate(PROPERTY_NAMES):
        column = np.full(len(rows), np.nan)
        if table is not None:
            column[valid] = table[rows[valid], position]
        columns[name] = column.round(PROPERTY_DECIMALS)  # some come from float32 features: 180.158997 is 180.159
    outcomes = check_rules({name: columns[name][valid] for name in PROPERTY_NAMES})
    for rule in RULES:
        passed = _booleans(len(rows), valid, outcomes[rule.name].passed)
        violations = np.full(len(rows), None, dtype=object)
        violations[valid] = ["; ".join(found) for found in outcomes[rule.name].violations]
        columns[rule.name], columns[f"{rule.name}{VIOLATIONS_SUFFIX}"] = passed, violations
    return columns


def _booleans(length: int, valid: np.ndarray, values: np.ndarray | None) -> pd.arrays.BooleanArray:
    """A nullable boolean column of ``length`` rows: ``values`` at the positions ``valid``, missing elsewhere.
    (Built from its two arrays: filling ``pd.array([pd.NA] * length)`` costs ~50 µs a column, 4 ms of a
    one-molecule request with its 43 such columns.)"""
    data, missing = np.zeros(length, dtype=bool), np.ones(length, dtype=bool)
    if values is not None:
        data[valid], missing[valid] = values, False
    return pd.arrays.BooleanArray(data, missing)


def _keep_aside(frame: pd.DataFrame, taken: set[str]) -> pd.DataFrame:
    """``frame`` with each column whose name is in ``taken``, in any case, renamed ``input_<name>``
    (prefixed again while that is taken too), so that no input value is overwritten by a prediction and
    an input ``SMILES`` does not stand beside the output ``smiles`` as if it were the same."""
    names: dict[str, str] = {}
    for column in frame.columns:
        names[column] = free_name(column, _AnyCase({*taken, *names.values()}), "input_")
    return frame.rename(columns=names)


class _AnyCase:
    """Names compared whatever their case."""

    def __init__(self, names: Iterable[object]) -> None:
        self.keys = {str(name).casefold() for name in names}

    def __contains__(self, name: object) -> bool:
        return str(name).casefold() in self.keys
