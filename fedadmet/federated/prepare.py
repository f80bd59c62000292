"""`fedadmet data prepare`: a partner's assay data → a prepared folder that a federation node trains on.

The folder holds keyed, scaled features (no SMILES needed to train), the label matrix with censoring,
keyed scaffold folds, a readable QC report and a manifest with hashes and versions. Compounds and
labels stay in this folder; only trunk updates computed from it ever leave the partner.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rdkit

import fedadmet
from fedadmet.chem.compute import compute_features
from fedadmet.chem.featurizers import default_feature_set
from fedadmet.chem.parallel import ParallelOptions
from fedadmet.chem.scaffolds import murcko_scaffold
from fedadmet.chem.standardize import MoleculeLimits, standardize_many
from fedadmet.data.assay import Measurements, aggregate_replicates, assay_measurements, tdc_measurements
from fedadmet.data.catalogue import get_endpoint
from fedadmet.data.loaders import read_table
from fedadmet.data.public import approved_drugs
from fedadmet.exceptions import InputError
from fedadmet.federated.config import ConsortiumConfig
from fedadmet.federated.keys import feature_permutation, key_id, keyed_fold
from fedadmet.models.preprocess import FeatureScaler
from fedadmet.names import check_partner_name

FORMAT = 1
FILES = ("features.npy", "labels.npz", "compounds.csv")


class PreparedDataError(InputError):
    """A prepared folder is missing, altered, or was made with another key or pipeline."""


@dataclass(frozen=True)
class TaskSummary:
    name: str
    kind: str
    n_labels: int
    n_positive_or_uncensored: int
    n_negative_or_censored: int
    trainable: bool
    reason: str


def quorum(endpoint_name: str, relation: np.ndarray, value: np.ndarray, config: ConsortiumConfig) -> TaskSummary:
    """MELLODDY-style quorum: enough actives and inactives, or enough (uncensored) values."""
    endpoint, rules = get_endpoint(endpoint_name), config.quorum
    if endpoint.is_classification:
        positives, negatives = int((value == 1).sum()), int((value == 0).sum())
        ok = positives >= rules.min_actives and negatives >= rules.min_inactives
        reason = "" if ok else f"needs >= {rules.min_actives} actives and >= {rules.min_inactives} inactives"
        return TaskSummary(endpoint.name, "classification", len(value), positives, negatives, ok, reason)
    exact, censored = int((relation == 0).sum()), int((relation != 0).sum())
    ok = len(value) >= rules.min_regression_values and exact >= rules.min_regression_uncensored
    reason = (
        ""
        if ok
        else f"needs >= {rules.min_regression_values} values of which >= {rules.min_regression_uncensored} uncensored"
    )
    return TaskSummary(endpoint.name, "regression", len(value), exact, censored, ok, reason)


@lru_cache(maxsize=2)
def reference_set(size: int, parallel: ParallelOptions | None = None) -> tuple[str, ...]:
    """The consortium's public reference compounds: the first ``size`` approved-drug parents by SMILES.
    Always under the default molecule limits: a node's own setting must not change the consortium's set."""
    batch = standardize_many(approved_drugs()["smiles"].tolist(), MoleculeLimits(), parallel)
    return tuple(sorted(set(batch.valid_smiles))[:size])


def load_partner_inputs(
    paths: Sequence[Path],
    endpoints: Sequence[str] = (),
    *,
    limits: MoleculeLimits | None = None,
    parallel: ParallelOptions | None = None,
) -> Measurements:
    """A partner's assay tables and TDC-style files (``endpoints`` names the latter's, in order) as one set.

    Errors and rejected rows name their file: row numbers start again in every file.
    """
    pending = list(endpoints)
    parts = []
    for path in paths:
        try:
            raw = read_table(path)  # once: which kind of file it is, then its measurements
            if "Drug" in raw.columns:
                if not pending:
                    raise InputError(f"{path.name} is a TDC-style file; name its endpoint with --endpoint")
                part = tdc_measurements(raw, pending.pop(0), path.name, limits=limits, parallel=parallel)
            else:
                part = assay_measurements(raw, path.name, limits=limits, parallel=parallel)
        except InputError as exc:
            message = str(exc)
            raise InputError(message if message.startswith(path.name) else f"{path.name}: {message}") from None
        parts.append(Measurements(part.frame, [(row, f"{path.name}: {reason}") for row, reason in part.rejects]))
    if pending:
        raise InputError(
            f"more --endpoint values than TDC-style files: {', '.join(pending)} named no file",
            expected="one --endpoint per TDC-style file, in the order the files are given",
        )
    return Measurements(pd.concat([p.frame for p in parts], ignore_index=True), [r for p in parts for r in p.rejects])


def consortium_transform(
    key: bytes,
    config: ConsortiumConfig,
    cache_dir: Path | None = None,
    expected_reference_hash: str | None = None,
    parallel: ParallelOptions | None = None,
) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """The map from raw feature rows to the consortium's scaled, key-permuted float16 rows, and the
    reference hash of this key + pipeline (checked against ``expected_reference_hash``).

    The scaler is fitted on the public reference set, so every partner scales identically; the hash
    covers the reference set's keyed features and folds, so two partners with the same hash agree.
    """
    feature_set = default_feature_set()
    quiet = replace(parallel or ParallelOptions(), progress=False)
    reference = list(reference_set(config.reference_size, quiet))
    reference_raw = compute_features(reference, feature_set, parallel=quiet, cache_dir=cache_dir)
    scaler = FeatureScaler.fit(reference_raw)
    permutation = feature_permutation(key, len(feature_set))

    def keyed(raw: np.ndarray) -> np.ndarray:
        return scaler.transform(raw)[:, permutation].astype(np.float16)

    digest = hashlib.sha256(feature_set.signature.encode())
    digest.update(keyed(reference_raw).tobytes())
    digest.update(bytes(keyed_fold(key, murcko_scaffold(s), config.n_folds) for s in reference))
    reference_hash = digest.hexdigest()
    _check_reference_hash(reference_hash, expected_reference_hash)
    return keyed, reference_hash


def keyed_features(
    molecules: list[str],
    key: bytes,
    config: ConsortiumConfig,
    cache_dir: Path | None = None,
    expected_reference_hash: str | None = None,
    parallel: ParallelOptions | None = None,
) -> tuple[np.ndarray, str]:
    """Keyed features (:func:`consortium_transform`) for ``molecules`` (parents) and the reference hash, which is
    checked before the features are computed, the slow part that a wrong key or pipeline would waste."""
    keyed, reference_hash = consortium_transform(key, config, cache_dir, expected_reference_hash, parallel)
    raw = compute_features(
        molecules, default_feature_set(), parallel=parallel, cache_dir=cache_dir, description="keyed features"
    )
    features = keyed(raw)
    return features, reference_hash


def _check_reference_hash(reference_hash: str, expected: str | None) -> None:
    """Case and surrounding blanks do not matter (it is pasted); a shortened hash is named as such."""
    if expected is None or expected.strip().lower() == reference_hash:
        return
    shortened = len(expected.strip()) < len(reference_hash)
    raise PreparedDataError(
        "this key or pipeline does not match the consortium's: the reference-set hash differs"
        + (f" (the hash given is shortened: give all {len(reference_hash)} characters)" if shortened else ""),
        got=reference_hash,
        expected=expected,
    )


def prepare_partner(
    measurements: Measurements,
    key: bytes,
    out_dir: Path,
    partner: str,
    config: ConsortiumConfig | None = None,
    expected_reference_hash: str | None = None,
    cache_dir: Path | None = None,
    overwrite: bool = False,
    parallel: ParallelOptions | None = None,
) -> dict[str, object]:
    """Write the prepared folder and return its manifest. A folder prepared before is written again only
    with ``overwrite`` and for the same partner: the models kept in it no longer fit its new labels."""
    config = config or ConsortiumConfig()
    check_partner_name(partner)
    _check_may_write(Path(out_dir), partner, overwrite)
    if measurements.frame.empty:
        raise InputError("no usable measurements to prepare", got=f"{len(measurements.rejects)} rejected rows")
    aggregated = aggregate_replicates(measurements.frame)
    labels = aggregated.frame
    compounds = labels.drop_duplicates("smiles")[["compound_id", "smiles", "form"]].reset_index(drop=True)
    tasks = sorted(labels["endpoint"].unique())
    row = {s: i for i, s in enumerate(compounds["smiles"])}
    column = {t: j for j, t in enumerate(tasks)}
    values = np.full((len(compounds), len(tasks)), np.nan, dtype=np.float32)
    relations = np.zeros((len(compounds), len(tasks)), dtype=np.int8)
    for task, group in labels.groupby("endpoint"):
        endpoint = get_endpoint(str(task))
        rows, j = [row[s] for s in group["smiles"]], column[str(task)]
        values[rows, j] = endpoint.to_model_scale(group["value"].to_numpy(dtype=float))
        relations[rows, j] = group["relation"].to_numpy()
    summaries = [
        quorum(t, relations[~np.isnan(values[:, j]), j], values[~np.isnan(values[:, j]), j], config)
        for t, j in column.items()
    ]
    compounds["fold"] = [keyed_fold(key, murcko_scaffold(s), config.n_folds) for s in compounds["smiles"]]

    features, reference_hash = keyed_features(
        compounds["smiles"].tolist(), key, config, cache_dir, expected_reference_hash, parallel
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / "features.npy", features, allow_pickle=False)
    np.savez_compressed(out_dir / "labels.npz", values=values, relations=relations, folds=compounds["fold"].to_numpy())
    compounds.to_csv(out_dir / "compounds.csv", index=False)
    manifest: dict[str, object] = {
        "format": FORMAT,
        "partner": partner,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": {"fedadmet": fedadmet.__version__, "rdkit": rdkit.__version__},
        "feature_signature": default_feature_set().signature,
        "n_features": int(features.shape[1]),
        "key_id": key_id(key),
        "reference_hash": reference_hash,
        "consortium": config.model_dump(),
        "n_compounds": len(compounds),
        "tasks": [s.__dict__ for s in summaries],
        "rejected_rows": len(measurements.rejects),
        "replicate_conflicts": aggregated.conflicts,
        "files": {name: _sha256(out_dir / name) for name in FILES},
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    write_qc_report(out_dir, manifest, measurements, values, compounds["fold"].to_numpy(), tasks)
    return manifest


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_may_write(out_dir: Path, partner: str, overwrite: bool) -> None:
    try:
        earlier = str(recorded_manifest(out_dir).get("partner"))
    except (OSError, ValueError, TypeError, AttributeError):
        return  # not a prepared folder
    if earlier != partner:
        raise InputError(
            f"{out_dir} holds partner {earlier!r}'s prepared data (and the models it kept)",
            expected=f"a new folder for partner {partner!r}",
        )
    if not overwrite:
        raise InputError(
            f"{out_dir} is prepared already; preparing it again makes the federated models kept in it unusable "
            "(they were trained on its present labels)",
            expected="another --output folder, or --force to prepare this one again",
        )


def recorded_manifest(folder: Path) -> dict[str, Any]:
    """The manifest as written, without checking the files again (for a folder read_manifest has passed)."""
    return dict(json.loads((Path(folder) / "manifest.json").read_text()))


def read_manifest(folder: Path, expected_key_id: str | None = None) -> dict[str, object]:
    """The manifest of a prepared folder after checking files, hashes and key; errors say what is wrong."""
    folder = Path(folder)
    path = folder / "manifest.json"
    if not folder.is_dir():
        raise PreparedDataError(f"no folder {folder}", expected="a folder written by `fedadmet data prepare`")
    if not path.is_file():
        raise PreparedDataError(f"{folder} is not a prepared folder: manifest.json missing")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PreparedDataError(f"{path} is not valid JSON: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise PreparedDataError(f"{folder} has format {manifest.get('format')!r}", expected=f"format {FORMAT}")
    for name, digest in dict(manifest.get("files", {})).items():
        if not (folder / name).is_file():
            raise PreparedDataError(f"{folder} is incomplete: {name} missing")
        if _sha256(folder / name) != digest:
            raise PreparedDataError(f"{folder / name} was changed after preparation (hash mismatch)")
    if expected_key_id is not None and manifest["key_id"] != expected_key_id:
        raise PreparedDataError(
            f"{folder} was prepared with another consortium key (id {manifest['key_id']}) than the one given "
            f"(id {expected_key_id})"
        )
    if manifest["feature_signature"] != default_feature_set().signature:
        raise PreparedDataError(f"{folder} was prepared with another feature pipeline; prepare it again")
    return manifest


def write_qc_report(
    out_dir: Path,
    manifest: dict[str, object],
    measurements: Measurements,
    values: np.ndarray,
    folds: np.ndarray,
    tasks: list[str],
) -> None:
    """``qc.md`` with counts, quorum verdicts, rejects and fold sizes, and ``qc_labels.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = [
        f"# Preparation report: {manifest['partner']}",
        "",
        f"- compounds: {manifest['n_compounds']}; measurements used: {len(measurements.frame)}; "
        f"rejected input rows: {len(measurements.rejects)}",
        f"- consortium key id: `{manifest['key_id']}`; reference-set hash: `{manifest['reference_hash']}`",
        f"- compounds per keyed scaffold fold (fold 0 is the test fold): "
        f"{ {int(f): int(c) for f, c in zip(*np.unique(folds, return_counts=True), strict=True)} }",
        "",
        "| task | kind | labels | actives / uncensored | inactives / censored | trainable |",
        "|---|---|---|---|---|---|",
    ]
    for task in manifest["tasks"]:
        verdict = "yes" if task["trainable"] else f"no ({task['reason']})"
        lines.append(
            f"| {task['name']} | {task['kind']} | {task['n_labels']} | {task['n_positive_or_uncensored']} "
            f"| {task['n_negative_or_censored']} | {verdict} |"
        )
    if manifest["replicate_conflicts"]:
        lines += ["", f"Replicates that disagreed (dropped): {manifest['replicate_conflicts']}"]
    if measurements.rejects:
        lines += ["", "## Rejected input rows", "", "| row | reason |", "|---|---|"]
        lines += [f"| {index + 1} | {reason} |" for index, reason in measurements.rejects[:100]]
        if len(measurements.rejects) > 100:
            lines.append(f"| … | {len(measurements.rejects) - 100} more |")
    lines += ["", "![label distributions](qc_labels.png)", ""]
    (Path(out_dir) / "qc.md").write_text("\n".join(lines))

    figure, axes = plt.subplots(1, len(tasks), figsize=(3 * len(tasks), 2.6), squeeze=False)
    for axis, (j, task) in zip(axes[0], enumerate(tasks), strict=True):
        present = values[~np.isnan(values[:, j]), j]
        if get_endpoint(task).is_classification:
            axis.bar(["inactive", "active"], [(present == 0).sum(), (present == 1).sum()], color=["#4c72b0", "#dd8452"])
        else:
            axis.hist(present, bins=30, color="#55a868")
            axis.set_xlabel("training scale")
        axis.set_title(task, fontsize=8)
    figure.tight_layout()
    figure.savefig(Path(out_dir) / "qc_labels.png", dpi=80)
    plt.close(figure)
