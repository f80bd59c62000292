"""Which model a caller means: the default (trained here or bundled), a model folder, or a federation
partner's kept model, with the caveats a user should read before trusting its numbers.

The CLI, the server and the benchmarks resolve models here, so that every entry point names and warns
about a model in the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from fedadmet.config import Settings
from fedadmet.exceptions import InputError
from fedadmet.inference import Predictor, default_model_dir, load_model
from fedadmet.models.admet_model import ADMETModel

if TYPE_CHECKING:
    from fedadmet.workflows.store import Store

SERVED_MODEL_NAME = "fedadmet-served"


class CaveatKind(Enum):
    """Why a prediction of this model deserves a second look."""

    POOR_FIT = "poor_fit"  # worse than the mean on its own validation fold
    RUN = "run"  # what the federated run itself recorded (e.g. a partner left early)
    THIN_INTERVALS = "thin_intervals"  # intervals resting on few validation values
    LOCAL_BETTER = "local_better"  # the partner's best local model scored higher (`federate gain`)


@dataclass(frozen=True)
class Caveat:
    kind: CaveatKind
    message: str


@dataclass(frozen=True)
class ResolvedPredictor:
    """A model ready to predict, how to name it to a user, and what to warn about."""

    predictor: Predictor
    description: str
    caveats: list[Caveat] = field(default_factory=list)
    folder: Path | None = None  # the model folder of a trained (not a partner's) model
    partner: str | None = None  # whose kept federated model this is (None: a trained model folder)

    @property
    def model(self) -> ADMETModel:
        """The trained model a server profiles with (a partner's kept model is never served)."""
        if not isinstance(self.predictor, ADMETModel):
            raise InputError("only a trained model folder can be served", got=self.description)
        return self.predictor


def check_choice(
    *,
    model: Path | None = None,
    partner: Path | None = None,
    key: Path | None = None,
    run: str | None = None,
    partner_option: str = "--partner",
) -> None:
    """Refuse a contradictory choice of model before any work (:func:`resolve_predictor` does it too);
    ``partner_option`` is what the caller calls the partner's folder (``campaign create``: --partner-data)."""
    if partner is None and (key is not None or run is not None):
        raise InputError(f"--key and --run go with {partner_option} (a partner's federated model)")
    if partner is not None and model is not None:
        raise InputError(f"{partner_option} and --model each name the model to use; give one of them")
    if partner is not None and key is None:
        raise InputError(f"{partner_option} needs --key (the consortium key file the folder was prepared with)")


def resolve_predictor(
    settings: Settings,
    *,
    model: Path | None = None,
    partner: Path | None = None,
    key: Path | None = None,
    run: str | None = None,
) -> ResolvedPredictor:
    """``model``'s folder (default: the default model), or with ``partner`` (and its consortium ``key``
    file) the model that partner kept from ``run`` (default: its latest). Choices are named as the CLI's
    options and the MCP tools' parameters name them."""
    check_choice(model=model, partner=partner, key=key, run=run)
    if partner is None:
        folder = (model or default_model_dir(settings)).resolve()
        return ResolvedPredictor(load_model(folder), str(folder), folder=folder)
    assert key is not None  # check_choice
    return _partner_model(settings, partner, key, run)


def _partner_model(settings: Settings, partner: Path, key: Path, run: str | None) -> ResolvedPredictor:
    from fedadmet.federated.gain import endpoints_local_wins
    from fedadmet.federated.keys import read_key
    from fedadmet.federated.partner_model import partner_predictor
    from fedadmet.models.calibration import conformal_minimum

    predictor = partner_predictor(
        partner, read_key(key), run, cache_dir=settings.feature_cache_dir, parallel=settings.parallel()
    )
    caveats = []
    poor = predictor.poor_endpoints()
    if poor:
        scores = ", ".join(f"{name} {score:.3g}" for name, score in poor.items())
        caveats.append(
            Caveat(
                CaveatKind.POOR_FIT,
                f"this model predicts worse than the mean on its validation fold (R²: {scores}); its intervals say "
                "how far off it is, `fedadmet federate gain` how it compares",
            )
        )
    if predictor.saved.caveat:
        caveats.append(Caveat(CaveatKind.RUN, predictor.saved.caveat))
    thin = predictor.thin_intervals()
    if thin:
        counts = ", ".join(f"{name} {n}" for name, n in thin.items())
        caveats.append(
            Caveat(
                CaveatKind.THIN_INTERVALS,
                f"few validation values behind these intervals ({counts}): with none the interval is unknown "
                f"(empty), with fewer than {conformal_minimum(predictor.coverage)} it is the largest validation "
                f"error, without the {predictor.coverage * 100:g} % guarantee",
            )
        )
    beaten = endpoints_local_wins(predictor.saved.folder)
    if beaten:
        scores = ", ".join(f"{name} {local:.3g} vs {federated:.3g}" for name, (local, federated) in beaten.items())
        caveats.append(
            Caveat(
                CaveatKind.LOCAL_BETTER,
                f"on its test fold this partner's best local model (the core recipe on its own data) scored above "
                f"this model ({scores}; `fedadmet federate gain`): there the local model alone is better",
            )
        )
    saved = predictor.saved
    description = f"{predictor.partner}'s model of run {saved.run_id} ({saved.run_name}), {saved.folder}"
    if predictor.local is not None:
        description += f", averaged with its local model (federated share {1 - predictor.local.share:g})"
    return ResolvedPredictor(predictor, description, caveats, partner=predictor.partner)


def register_served_model(store: Store, resolved: ResolvedPredictor) -> int:
    """The registry version of the served model: found by its model.json's hash, else published now with
    its validation metrics, so that /v1/models lists what answers /v1/predict. (The registry is imported
    here, by the server that needs it: SQLAlchemy and Alembic add ~0.5 s to every `fedadmet predict`.)"""
    from fedadmet.registry import repository

    model, folder = resolved.model, resolved.folder
    assert folder is not None  # a trained model always has its folder
    digest = hashlib.sha256((folder / "model.json").read_bytes()).hexdigest()
    with store.begin() as session:
        known = repository.version_with_hash(session, "model_json_sha256", digest)
        if known is not None:
            return known.id
        metadata = model.metadata
        version = repository.publish_version(
            session,
            SERVED_MODEL_NAME,
            kind="centralised",
            artifact_uri=str(folder),
            endpoints=model.endpoints,
            data_hashes={"model_json_sha256": digest, "data_sha256": metadata.get("data_sha256", {})},
            metrics={name: head.validation for name, head in model.heads.items()},
            lineage={"kind": "centralised", "data": metadata.get("data"), "created": metadata.get("created")},
        )
        return version.id
