"""Campaign use cases: create, propose, ingest, status and report, each recorded in the registry.

A campaign's pool is featurised once at creation (the platform's features, the default model's
predictions, or a federation partner's kept model's, as prior and Morgan counts) and kept in its
folder beside the order files; the registry holds the spec, every round with its model and picks, every
ingested file and measurement. Each step commits whole, so a campaign stopped anywhere resumes from the
registry: a round is recorded with all its picks or not at all, and a proposal repeated after a crash is
the same proposal.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rdkit import Chem
from sqlalchemy.orm import Session, sessionmaker

from fedadmet.campaigns.engine import CampaignSpec, Prior, Proposal, RoundInputs, interval_coverage, propose
from fedadmet.campaigns.objective import Objective, Term
from fedadmet.campaigns.results import aggregate, parse_results
from fedadmet.campaigns.surrogates import Features
from fedadmet.chem.depict import molecule_svg
from fedadmet.data.catalogue import get_endpoint
from fedadmet.data.loaders import find_smiles_column, read_molecules, read_table
from fedadmet.exceptions import InputError
from fedadmet.federated.prepare import recorded_manifest
from fedadmet.inference import Predictor, default_model_dir, iter_predicted_chemistry, load_model
from fedadmet.registry import campaign_repository as repo
from fedadmet.registry.tables import Campaign
from fedadmet.workflows.predictors import ResolvedPredictor

ID_COLUMN_CANDIDATES = ("compound_id", "Molecule Name", "name", "id", "Drug_ID", "sd_record")
PRIOR_Z = 1.645  # the default model's conformal intervals cover 90 %: half-width / 1.645 ≈ one standard deviation
POOL_FILE, FEATURES_FILE, PRIORS_FILE = "pool.csv", "features.npz", "priors.csv"


@dataclass(frozen=True)
class PoolFeatures:
    """A featurised pool: ids and parent SMILES of the usable rows, their features and the prior
    predictions (``<endpoint>``, ``_lower``/``_upper`` or ``_uncertainty``), and the rows left out."""

    frame: pd.DataFrame
    features: Features
    priors: pd.DataFrame
    rejects: list[dict[str, Any]] = field(default_factory=list)


def featurize_pool(ids: Sequence[str], smiles: Sequence[object], predictor: Predictor) -> PoolFeatures:
    """Standardise, featurise and predict every molecule once; rows that cannot be profiled are left out."""
    texts = [s if isinstance(s, str) else "" for s in smiles]
    kept, rejects, blocks, predictions = [], [], [], []
    position = 0
    for chunk, prediction in iter_predicted_chemistry(texts, predictor):
        for offset, (parent, _form, reason) in enumerate(chunk.standardized):
            row = position + offset
            if reason is None and parent is not None:
                kept.append((row, str(ids[row]), parent))
            else:
                rejects.append({"row": row + 1, "compound_id": str(ids[row]), "reason": reason or "no structure"})
        position += len(chunk.standardized)
        if prediction is not None:
            blocks.append(chunk.features)
            predictions.append(prediction)
    if not kept:
        raise InputError("no molecule of the pool could be profiled", got=rejects[:3])
    features = np.concatenate(blocks).astype(np.float32)
    priors: dict[str, np.ndarray] = {}
    for name in predictor.endpoints:
        values = np.concatenate([part.values[name] for part in predictions])
        half = np.concatenate([part.uncertainty[name] for part in predictions])
        endpoint = get_endpoint(name)
        priors[name] = endpoint.clip(values)
        if endpoint.is_classification:
            priors[f"{name}_uncertainty"] = half
        else:
            priors[f"{name}_lower"], priors[f"{name}_upper"] = endpoint.interval(priors[name], half)
    prior_frame = pd.DataFrame(priors)
    morgan = features[:, predictor.feature_set.block("morgan")]
    dense = np.hstack([features, prior_frame[list(predictor.endpoints)].to_numpy(dtype=np.float32)])
    frame = pd.DataFrame(kept, columns=["input_row", "compound_id", "smiles"])
    duplicated = frame["compound_id"].duplicated()
    if duplicated.any():
        first = frame[duplicated].iloc[0]
        raise InputError(f"compound id {first['compound_id']!r} appears twice (data row {first['input_row'] + 1})")
    return PoolFeatures(frame, Features(dense, morgan), prior_frame, rejects)


def term_prior(term: Term, priors: pd.DataFrame) -> Prior | None:
    """The default model's prediction of a term's column on the term's scale, with a standard deviation
    from its conformal interval (classification: half the probability of the wrong call, a rough spread)."""
    if term.column not in priors.columns:
        return None
    value = priors[term.column].to_numpy(dtype=float)
    mean = term.to_model_scale(value)
    if f"{term.column}_lower" in priors.columns:
        lower = term.to_model_scale(priors[f"{term.column}_lower"].to_numpy(dtype=float))
        upper = term.to_model_scale(priors[f"{term.column}_upper"].to_numpy(dtype=float))
        return Prior(mean, (upper - lower) / (2 * PRIOR_Z))
    return Prior(mean, priors[f"{term.column}_uncertainty"].to_numpy(dtype=float) / 2)


# ----------------------------------------------------------------------------------------------- storage


def _folder(campaign: Campaign) -> Path:
    return Path(campaign.folder)


def _save_pool(folder: Path, pool: PoolFeatures) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pool.frame.to_csv(folder / POOL_FILE, index=False)
    pool.priors.to_csv(folder / PRIORS_FILE, index=False)
    np.savez_compressed(folder / FEATURES_FILE, dense=pool.features.dense, fingerprints=pool.features.fingerprints)


def load_pool(folder: Path) -> PoolFeatures:
    arrays = np.load(folder / FEATURES_FILE)
    frame = pd.read_csv(folder / POOL_FILE, dtype={"compound_id": str})
    return PoolFeatures(frame, Features(arrays["dense"], arrays["fingerprints"]), pd.read_csv(folder / PRIORS_FILE))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------- use cases


@dataclass(frozen=True)
class IngestOutcome:
    """What one results file gave: measurements stored, rows rejected (1-based, with reasons)."""

    campaign: str
    filename: str
    rows: int
    stored: int
    rejects: list[dict[str, Any]]


@dataclass(frozen=True)
class RoundOutcome:
    """A proposed round: its number, order files and picks (as recorded)."""

    campaign: str
    round: int
    order_files: list[str]
    picks: list[dict[str, Any]]
    candidates: int
    model: dict[str, Any]


def create_campaign(
    sessions: sessionmaker[Session],
    *,
    name: str,
    pool_path: Path,
    spec: CampaignSpec,
    campaigns_dir: Path,
    partner: str | None = None,
    id_column: str | None = None,
    smiles_column: str | None = None,
    model_dir: Path | None = None,
    prior: ResolvedPredictor | None = None,
    measurements: Path | None = None,
) -> dict[str, Any]:
    """Read and featurise the pool, record the campaign, and take in any measurements made already.

    ``prior`` (a partner's model after joining, from :func:`resolve_predictor`) predicts the pool instead
    of the model in ``model_dir``; the campaign then belongs to that partner, and records which model it was.
    """
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise InputError(f"campaign name {name!r}", expected="letters, digits, '-' and '_'")
    if prior is None:
        folder = Path(model_dir or default_model_dir()).resolve()
        prior = ResolvedPredictor(load_model(folder), str(folder), folder=folder)
    if prior.partner is not None and partner not in (None, prior.partner):
        raise InputError(f"campaign of {partner!r} with {prior.partner!r}'s model as prior", expected="one partner")
    partner = partner or prior.partner
    predictor = prior.predictor
    known = set(predictor.endpoints) | set(spec.objective.columns)
    unknown = [c.column for c in spec.constraints if c.column not in known]
    if unknown:
        raise InputError(
            f"constraint column(s) {unknown} are neither predicted by the model nor objective columns",
            expected=f"an objective column or one of the model's endpoints ({', '.join(predictor.endpoints[:5])}, …)",
        )
    raw = read_molecules(Path(pool_path), smiles_column)
    id_field = id_column or next((c for c in ID_COLUMN_CANDIDATES if c in raw.columns), None)
    if id_column is not None and id_column not in raw.columns:
        raise InputError(f"id column {id_column!r} not found", got=list(raw.columns))
    ids = raw[id_field].astype(str).tolist() if id_field else [f"row{i + 1}" for i in range(len(raw))]
    pool = featurize_pool(ids, raw[find_smiles_column(raw, smiles_column)].tolist(), predictor)
    folder = campaigns_dir / name
    with sessions.begin() as session:
        campaign = repo.create_campaign(
            session,
            name=name,
            partner=partner,
            spec=spec.model_dump(mode="json"),
            pool_source=str(pool_path),
            pool_sha256=_sha256(pool_path),
            pool_size=len(pool.frame),
            folder=str(folder.resolve()),
            model_uri=prior.description,
        )
        _save_pool(folder, pool)  # inside the transaction: no campaign is recorded without its pool
        view = campaign_view(campaign)
    view["pool_rejects"] = pool.rejects
    if measurements is not None:
        view["seed"] = ingest_results(sessions, name, measurements, partner).__dict__
    return view


def create_campaign_from_text(
    sessions: sessionmaker[Session],
    *,
    name: str,
    pool_csv: str,
    spec: CampaignSpec,
    campaigns_dir: Path,
    partner: str | None = None,
    model_dir: Path | None = None,
) -> dict[str, Any]:
    """:func:`create_campaign` for a pool that arrives as CSV text (an HTTP body, an MCP argument), not a file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / POOL_FILE
        path.write_text(pool_csv, encoding="utf-8")
        return create_campaign(
            sessions,
            name=name,
            pool_path=path,
            spec=spec,
            campaigns_dir=campaigns_dir,
            partner=partner,
            model_dir=model_dir,
        )


def pool_table(molecules: Sequence[tuple[str, str]]) -> str:
    """CSV text of (compound id, SMILES) pairs, as :func:`create_campaign_from_text` reads a pool."""
    return pd.DataFrame(molecules, columns=["compound_id", "smiles"]).to_csv(index=False)


def _get(session: Session, campaign: str | int, viewer_partner: str | None) -> Campaign:
    found = repo.get_campaign(session, campaign, viewer_partner)
    if found is None:
        raise LookupError(f"no campaign {campaign!r} for this viewer")
    return found


def _measured(session: Session, campaign: Campaign, spec: CampaignSpec) -> pd.DataFrame:
    rows = repo.list_measurements(session, campaign.id)
    frame = pd.DataFrame(
        [(m.compound_id, m.column, m.relation, m.value) for m in rows],
        columns=["compound_id", "column", "relation", "value"],
    )
    return aggregate(frame, spec.objective)


def round_inputs(session: Session, campaign: Campaign, spec: CampaignSpec, pool: PoolFeatures) -> RoundInputs:
    """The pool as the next round sees it: measurements so far, and the rows not to propose (measured,
    or ordered and not measured yet)."""
    index = {compound: i for i, compound in enumerate(pool.frame["compound_id"])}
    columns = spec.objective.columns
    measured = np.full((len(index), len(columns)), np.nan)
    censored = np.zeros((len(index), len(columns)), dtype=int)
    aggregated = _measured(session, campaign, spec)
    for compound, column, scaled, bound in aggregated.itertuples(index=False):
        measured[index[compound], columns.index(column)] = scaled
        censored[index[compound], columns.index(column)] = bound
    unavailable = np.zeros(len(index), dtype=bool)
    taken = {m.compound_id for m in repo.list_measurements(session, campaign.id)}
    taken |= {p.compound_id for p in repo.list_picks(session, campaign.id)}
    unavailable[[index[c] for c in taken if c in index]] = True
    priors = {t.column: p for t in spec.objective.terms if (p := term_prior(t, pool.priors)) is not None}
    known = {}
    for constraint in spec.constraints:
        if constraint.column in pool.priors.columns:
            known[constraint.column] = pool.priors[constraint.column].to_numpy(dtype=float).copy()
        if constraint.column in columns:  # a measured value overrides the prediction
            term = spec.objective.terms[columns.index(constraint.column)]
            values = term.from_model_scale(measured[:, columns.index(constraint.column)])
            known.setdefault(constraint.column, np.full(len(index), np.nan))
            known[constraint.column] = np.where(np.isfinite(values), values, known[constraint.column])
    return RoundInputs(pool.features, measured, unavailable, priors, known, censored)


def propose_round(
    sessions: sessionmaker[Session], campaign_name: str | int, viewer_partner: str | None, threads: int = 1
) -> RoundOutcome:
    """Fit, pick the next batch, write the lab's order files (CSV and SD) and record the round."""
    with sessions() as session:
        campaign = _get(session, campaign_name, viewer_partner)
        spec = CampaignSpec.model_validate(campaign.spec)
        pool = load_pool(_folder(campaign))
        inputs = round_inputs(session, campaign, spec, pool)
        number = repo.last_round(session, campaign.id) + 1
    proposal = propose(spec, inputs, number, threads)
    if not len(proposal.rows):
        raise InputError(f"campaign {campaign.name!r} has no candidate left to propose (all measured or ordered)")
    picks = _pick_records(proposal, pool, spec)
    files = _write_order(_folder(campaign), number, picks, spec)
    model = {
        "surrogate": proposal.fit.kind if proposal.fit else None,
        "labels": proposal.fit.labels if proposal.fit else {},
        "prior_only": proposal.fit.unmodelled if proposal.fit else spec.objective.columns,
        "candidates": proposal.candidates,
        "strategy_options": spec.strategy_options,
        "seed": spec.seed,
        "default_model": campaign.model_uri,
    }
    with sessions.begin() as session:
        if repo.last_round(session, campaign.id) >= number:
            raise InputError(f"round {number} of {campaign.name!r} was recorded meanwhile; propose again")
        repo.record_round(
            session, campaign.id, number, strategy=spec.strategy, model=model, order_files=files, picks=picks
        )
    return RoundOutcome(campaign.name, number, files, picks, proposal.candidates, model)


def _pick_records(proposal: Proposal, pool: PoolFeatures, spec: CampaignSpec) -> list[dict[str, Any]]:
    records = []
    for rank, row in enumerate(proposal.rows):
        predicted = {
            term.column: {"mean": _number(proposal.column_mean[rank, j]), "std": _number(proposal.column_std[rank, j])}
            for j, term in enumerate(spec.objective.terms)
        }
        records.append(
            {
                "rank": rank + 1,
                "pool_row": int(row),
                "compound_id": str(pool.frame["compound_id"].iloc[row]),
                "smiles": str(pool.frame["smiles"].iloc[row]),
                "score_mean": _number(proposal.score_mean[rank]),
                "score_std": _number(proposal.score_std[rank]),
                "acquisition_value": _number(proposal.values[rank]),
                "predicted": predicted,
                "reason": proposal.reasons[rank],
            }
        )
    return records


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(float(value)) else None


def order_table(picks: Sequence[dict[str, Any]], spec: CampaignSpec, round_number: int) -> pd.DataFrame:
    """The lab's order: ids, structures, the predicted value of each column in its own units (with a
    one-standard-deviation range) and why each was picked."""
    rows = []
    for pick in picks:
        row = {"round": round_number, "rank": pick["rank"], "compound_id": pick["compound_id"]}
        row |= {"smiles": pick["smiles"], "predicted_score": pick["score_mean"], "score_std": pick["score_std"]}
        for term in spec.objective.terms:
            mean, std = pick["predicted"][term.column]["mean"], pick["predicted"][term.column]["std"]
            known = mean is not None
            row[f"{term.column}_predicted"] = float(term.from_model_scale(np.array(mean))) if known else None
            low = float(term.from_model_scale(np.array(mean - (std or 0)))) if known else None
            high = float(term.from_model_scale(np.array(mean + (std or 0)))) if known else None
            row[f"{term.column}_range"] = f"{low:.3g} to {high:.3g}" if known else ""
        row["reason"] = pick["reason"]
        rows.append(row)
    return pd.DataFrame(rows)


def _write_order(folder: Path, round_number: int, picks: list[dict[str, Any]], spec: CampaignSpec) -> list[str]:
    table = order_table(picks, spec, round_number)
    stem = folder / "orders" / f"round-{round_number:03d}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(stem.with_suffix(".csv"), index=False)
    writer = Chem.SDWriter(str(stem.with_suffix(".sdf")))
    try:
        for record in table.to_dict("records"):
            mol = Chem.MolFromSmiles(record["smiles"])
            mol.SetProp("_Name", str(record["compound_id"]))
            for key, value in record.items():
                if key != "smiles":
                    mol.SetProp(key, "" if value is None else str(value))
            writer.write(mol)
    finally:
        writer.close()
    return [str(stem.with_suffix(".csv")), str(stem.with_suffix(".sdf"))]


def ingest_results(
    sessions: sessionmaker[Session], campaign_name: str | int, path: Path, viewer_partner: str | None
) -> IngestOutcome:
    """Take in a results file: good rows are stored (linked to their pick), bad rows are named and
    rejected, nothing stored before is touched; the same file twice is refused. The rounds whose picks
    it measured get their uncertainty calibration updated."""
    path = Path(path)
    digest = _sha256(path)
    raw = read_table(path)
    with sessions.begin() as session:
        campaign = _get(session, campaign_name, viewer_partner)
        if repo.find_ingest(session, campaign.id, digest) is not None:
            raise InputError(f"{path.name} was taken in already (same SHA-256)", expected="a new results file")
        spec = CampaignSpec.model_validate(campaign.spec)
        pool = load_pool(_folder(campaign))
        parents = dict(zip(pool.frame["compound_id"], pool.frame["smiles"], strict=True))
        results = parse_results(raw, path.name, spec.objective, parents)
        pick_of = {p.compound_id: p.id for p in repo.list_picks(session, campaign.id)}
        measurements = [
            {
                "compound_id": row.compound_id,
                "column": row.column,
                "relation": int(row.relation),
                "value": float(row.value),
                "unit": row.unit,
                "source_row": int(row.row),
                "pick_id": pick_of.get(row.compound_id),
            }
            for row in results.accepted.itertuples(index=False)
        ]
        rejects = [{"row": r.row, "reason": r.reason} for r in results.rejects]
        repo.record_ingest(
            session,
            campaign.id,
            filename=path.name,
            sha256=digest,
            rows=len(raw),
            rejects=rejects,
            measurements=measurements,
        )
        _update_calibration(session, campaign, spec)
    return IngestOutcome(campaign.name, path.name, len(raw), len(measurements), rejects)


def ingest_results_data(
    sessions: sessionmaker[Session], campaign_name: str | int, filename: str, data: bytes, viewer_partner: str | None
) -> IngestOutcome:
    """:func:`ingest_results` for a results file that arrives as bytes (an upload, an MCP argument)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / (Path(filename).name or "results.csv")
        path.write_bytes(data)
        return ingest_results(sessions, campaign_name, path, viewer_partner)


def _update_calibration(session: Session, campaign: Campaign, spec: CampaignSpec) -> None:
    """Per round and column: how the picks' measured values fell within their predicted spread."""
    measured = {(c, col): v for c, col, v, _ in _measured(session, campaign, spec).itertuples(index=False)}
    by_round: dict[int, list[Any]] = {}
    for pick in repo.list_picks(session, campaign.id):
        by_round.setdefault(pick.round_id, []).append(pick)
    for round_id, picks in by_round.items():
        calibration = {}
        for column in spec.objective.columns:
            mean = np.array([_nan(p.predicted[column]["mean"]) for p in picks])
            std = np.array([_nan(p.predicted[column]["std"]) for p in picks])
            observed = np.array([measured.get((p.compound_id, column), np.nan) for p in picks])
            calibration[column] = interval_coverage(mean, std, observed)
        repo.set_calibration(session, round_id, calibration)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


# ----------------------------------------------------------------------------------------------- views


def campaign_view(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "name": campaign.name,
        "partner": campaign.partner,
        "pool_size": campaign.pool_size,
        "pool_source": Path(campaign.pool_source).name,
        "spec": campaign.spec,
        "rounds": len(campaign.rounds),
        "created": campaign.created.isoformat(),
    }


def list_campaigns(sessions: sessionmaker[Session], viewer_partner: str | None) -> list[dict[str, Any]]:
    with sessions() as session:
        return [campaign_view(c) for c in repo.list_campaigns(session, viewer_partner)]


def campaign_status(
    sessions: sessionmaker[Session], campaign_name: str | int, viewer_partner: str | None
) -> dict[str, Any]:
    """Where the campaign stands: rounds with their model and calibration, picks measured and pending,
    ingested files with their rejects, and the best measured molecules so far."""
    with sessions() as session:
        campaign = _get(session, campaign_name, viewer_partner)
        spec = CampaignSpec.model_validate(campaign.spec)
        picks = repo.list_picks(session, campaign.id)
        measured_ids = {m.compound_id for m in repo.list_measurements(session, campaign.id)}
        aggregated = _measured(session, campaign, spec)
        ingests = repo.list_ingests(session, campaign.id)
        rounds = [
            {
                "round": r.round,
                "strategy": r.strategy,
                "picks": len(r.picks),
                "measured": sum(p.compound_id in measured_ids for p in r.picks),
                "model": r.model,
                "calibration": r.calibration,
                "order_files": [Path(f).name for f in r.order_files],
                "created": r.created.isoformat(),
            }
            for r in campaign.rounds
        ]
    wide = aggregated.pivot(index="compound_id", columns="column", values="scaled").reindex(
        columns=spec.objective.columns
    )
    scores = pd.Series(spec.objective.score(wide.to_numpy()), index=wide.index).dropna().sort_values(ascending=False)
    return campaign_view(campaign) | {
        "rounds": rounds,
        "pending": [p.compound_id for p in picks if p.compound_id not in measured_ids],
        "measured_compounds": len(measured_ids),
        "ingests": [
            {"file": i.filename, "rows": i.rows, "stored": i.stored, "rejects": i.rejects, "sha256": i.sha256}
            for i in ingests
        ],
        "best": [{"compound_id": c, "score": float(s)} for c, s in scores.head(10).items()],
    }


MAX_DEPICTED_PICKS = 200  # the newest picks the page draws; older ones are listed in the report


def pareto_front(values: np.ndarray) -> np.ndarray:
    """Rows (n, k; higher is better in every column, no NaN) that no other row beats in every column."""
    front = np.ones(len(values), dtype=bool)
    for i, row in enumerate(values):
        beaten = (values >= row).all(axis=1) & (values > row).any(axis=1)
        front[i] = not beaten.any()
    return front


def campaign_progress(
    sessions: sessionmaker[Session], campaign_name: str | int, viewer_partner: str | None
) -> dict[str, Any]:
    """What the campaign page draws: the best measured score after each results file, every measured
    compound with its desirabilities per objective term (and whether it is on their Pareto front), and
    the picks with their predictions, measurements and depictions (for the uncertainty calibration)."""
    with sessions() as session:
        campaign = _get(session, campaign_name, viewer_partner)
        spec = CampaignSpec.model_validate(campaign.spec)
        rows = repo.list_measurements(session, campaign.id)
        ingests = repo.list_ingests(session, campaign.id)
        picks = [
            (p.round.round, p.rank, p.compound_id, p.smiles, p.score_mean, p.score_std, p.predicted, p.reason)
            for p in repo.list_picks(session, campaign.id)
        ]
        view, folder = campaign_view(campaign), _folder(campaign)
    objective = spec.objective
    frame = pd.DataFrame(
        [(m.ingest_id, m.compound_id, m.column, m.relation, m.value) for m in rows],
        columns=["ingest", "compound_id", "column", "relation", "value"],
    )
    best_after = []
    for number, ingest in enumerate(ingests, start=1):
        scores = _scores(aggregate(frame[frame["ingest"] <= ingest.id], objective), objective)
        best_after.append(
            {
                "ingest": number,
                "file": ingest.filename,
                "measured_compounds": len(scores),
                "best": float(scores.max()) if len(scores) else None,
            }
        )
    wide = _wide(aggregate(frame, objective), objective)
    desirabilities = np.stack([t.desirability(wide[t.column].to_numpy()) for t in objective.terms], axis=1)
    complete = np.isfinite(wide.to_numpy()).all(axis=1)
    front = np.zeros(len(wide), dtype=bool)
    front[complete] = pareto_front(desirabilities[complete])
    scores = objective.score(wide.to_numpy())
    pool = pd.read_csv(folder / POOL_FILE, dtype={"compound_id": str})
    smiles_of = dict(zip(pool["compound_id"], pool["smiles"], strict=True))
    compounds = [
        {
            "compound_id": compound,
            "smiles": smiles_of.get(compound, ""),
            "values": {t.column: _finite(t.from_model_scale(wide.loc[compound, t.column])) for t in objective.terms},
            "desirability": {
                t.column: float(desirabilities[i, j]) if np.isfinite(wide.iloc[i, j]) else None
                for j, t in enumerate(objective.terms)
            },
            "score": _finite(scores[i]),
            "pareto": bool(front[i]),
        }
        for i, compound in enumerate(wide.index)
    ]
    measured = {(c, col): v for c, col, v, _ in aggregate(frame, objective).itertuples(index=False)}
    shown = picks[-MAX_DEPICTED_PICKS:]
    drawings = [molecule_svg(pick[3], 160, 110) for pick in shown]
    return view | {
        "terms": [t.model_dump() for t in objective.terms],
        "best_after_ingest": best_after,
        "compounds": compounds,
        "picks": [
            {
                "round": round_number,
                "rank": rank,
                "compound_id": compound,
                "smiles": smiles,
                "score_mean": score_mean,
                "score_std": score_std,
                "predicted": predicted,  # column -> {"mean", "std"} on the model scale
                "measured": {col: _finite(measured.get((compound, col))) for col in objective.columns},
                "reason": reason,
                "svg": drawing,
            }
            for (round_number, rank, compound, smiles, score_mean, score_std, predicted, reason), drawing in zip(
                shown, drawings, strict=True
            )
        ],
        "picks_total": len(picks),
    }


def _wide(aggregated: pd.DataFrame, objective: Objective) -> pd.DataFrame:
    """Compound × objective column, on the model scale (NaN: not measured)."""
    return aggregated.pivot(index="compound_id", columns="column", values="scaled").reindex(columns=objective.columns)


def _scores(aggregated: pd.DataFrame, objective: Objective) -> np.ndarray:
    scores = objective.score(_wide(aggregated, objective).to_numpy())
    return scores[np.isfinite(scores)]


def _finite(value: object) -> float | None:
    number = float(value) if value is not None else math.nan  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def campaign_report(sessions: sessionmaker[Session], campaign_name: str | int, viewer_partner: str | None) -> str:
    """The status as a Markdown page a chemist can read or attach."""
    status = campaign_status(sessions, campaign_name, viewer_partner)
    terms = ", ".join(
        f"{t['column']} ({t['goal']} {t.get('low')}–{t.get('high')}, w={t['weight']})"
        for t in status["spec"]["objective"]["terms"]
    )
    lines = [
        f"# Campaign {status['name']}",
        "",
        f"- pool: {status['pool_size']} molecules from {status['pool_source']}",
        f"- objective: weighted geometric mean of {terms}",
        f"- strategy: {status['spec']['strategy']}; batch {status['spec']['batch_size']}",
        f"- measured compounds: {status['measured_compounds']}; pending (ordered, not measured): "
        f"{len(status['pending'])}",
        "",
        "| round | strategy | picks | measured | surrogate | calibration (within ±1 sd / ±2 sd) |",
        "|---|---|---|---|---|---|",
    ]
    for r in status["rounds"]:
        held = "; ".join(
            f"{column}: {c['within_1sd']:.2f}/{c['within_2sd']:.2f} (n={c['n']})"
            for column, c in r["calibration"].items()
            if c.get("n")
        )
        surrogate = r["model"].get("surrogate") or "none (prior only)"
        lines.append(f"| {r['round']} | {r['strategy']} | {r['picks']} | {r['measured']} | {surrogate} | {held} |")
    lines += ["", "## Best measured so far", "", "| compound | score |", "|---|---|"]
    lines += [f"| {b['compound_id']} | {b['score']:.3f} |" for b in status["best"]]
    rejected = [(i["file"], r) for i in status["ingests"] for r in i["rejects"]]
    if rejected:
        lines += ["", "## Rejected result rows", "", "| file | row | reason |", "|---|---|---|"]
        lines += [f"| {f} | {r['row']} | {r['reason']} |" for f, r in rejected[:200]]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------- replays


@dataclass(frozen=True)
class ReplayRound:
    """One simulated round: the pool rows picked, and the predicted mean/std of each column for them."""

    round: int
    rows: np.ndarray
    column_mean: np.ndarray
    column_std: np.ndarray
    seconds: float


def replay_campaign(
    spec: CampaignSpec,
    features: Features,
    truth: np.ndarray,
    seed_rows: np.ndarray,
    rounds: int,
    priors: dict[str, Prior] | None = None,
    threads: int = 1,
) -> list[ReplayRound]:
    """A retrospective campaign: the measured ``truth`` (n, k on the model scale, NaN: not measured) is
    revealed for ``seed_rows`` first and then for each batch the strategy picks, as a lab would report it."""
    measured = np.full(truth.shape, np.nan)
    measured[seed_rows] = truth[seed_rows]
    unavailable = np.zeros(len(truth), dtype=bool)
    unavailable[seed_rows] = True
    history = []
    for number in range(1, rounds + 1):
        start = time.perf_counter()
        proposal = propose(spec, RoundInputs(features, measured, unavailable, priors or {}), number, threads)
        history.append(
            ReplayRound(number, proposal.rows, proposal.column_mean, proposal.column_std, time.perf_counter() - start)
        )
        if not len(proposal.rows):
            break
        measured[proposal.rows] = truth[proposal.rows]
        unavailable[proposal.rows] = True
    return history


def order_file(
    sessions: sessionmaker[Session], campaign_name: str | int, viewer_partner: str | None, round_number: int, kind: str
) -> Path:
    """The path of a round's order file (``csv`` or ``sdf``)."""
    with sessions() as session:
        campaign = _get(session, campaign_name, viewer_partner)
        for row in campaign.rounds:
            if row.round == round_number:
                return next(Path(f) for f in row.order_files if f.endswith(f".{kind}"))
    raise LookupError(f"campaign {campaign_name!r} has no round {round_number}")


# ------------------------------------------------------------------------------------ to the partner's data


@dataclass(frozen=True)
class HandOver:
    """What a campaign added to its partner's data: the assay table written and its new rows."""

    campaign: str
    partner: str
    path: Path
    added: int
    total: int


RELATION_TEXT = {-1: "<", 0: "=", 1: ">"}


def hand_to_partner(
    sessions: sessionmaker[Session], campaign_name: str | int, partner_folder: Path, raw_dir: Path
) -> HandOver:
    """Write a partner campaign's measurements as an assay table (``campaign-<name>.csv`` in ``raw_dir``,
    the partner's raw data that `fedadmet data prepare` reads), so that the next federated run trains
    on them. The partner and the endpoints the federation trains come from its prepared folder; a table
    written before keeps its rows (a repeated hand-over adds only what is new)."""
    manifest = recorded_manifest(partner_folder)
    partner, trained = str(manifest["partner"]), sorted(t["name"] for t in manifest["tasks"])
    with sessions() as session:
        campaign = _get(session, campaign_name, None)
        if campaign.partner != partner:
            raise InputError(
                f"campaign {campaign.name!r} belongs to {campaign.partner or 'no partner'}, not to {partner}",
                expected=f"a campaign of {partner}",
            )
        rows = [
            (m.compound_id, m.column, m.relation, m.value, m.unit) for m in repo.list_measurements(session, campaign.id)
        ]
    measured = pd.DataFrame(rows, columns=["compound_id", "endpoint", "relation", "value", "unit"])
    untrained = sorted(set(measured["endpoint"]) - set(trained))
    if untrained:
        raise InputError(
            f"campaign {campaign.name!r} measured {untrained}, which the federation does not train",
            expected=f"endpoints of {partner}'s data: {', '.join(trained)}",
        )
    pool = load_pool(_folder(campaign)).frame
    smiles = dict(zip(pool["compound_id"], pool["smiles"], strict=True))
    table = pd.DataFrame(
        {
            "compound_id": measured["compound_id"],
            "smiles": measured["compound_id"].map(smiles),
            "endpoint": measured["endpoint"],
            "relation": measured["relation"].map(RELATION_TEXT),
            "value": measured["value"],
            "unit": [
                unit or get_endpoint(e).unit for unit, e in zip(measured["unit"], measured["endpoint"], strict=True)
            ],
        }
    ).astype(str)  # as read_table reads the table written before, so that rows compare equal
    path = Path(raw_dir) / f"campaign-{campaign.name}.csv"
    before = read_table(path).astype({"compound_id": str}) if path.exists() else table.iloc[:0]
    merged = pd.concat([before, table], ignore_index=True).drop_duplicates(keep="first")
    path.parent.mkdir(parents=True, exist_ok=True)
    merged.to_csv(path, index=False)
    return HandOver(campaign.name, partner, path, len(merged) - len(before), len(merged))
