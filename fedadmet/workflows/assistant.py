"""Small use cases the MCP server and design routes share: standardise, alerts, models, key checks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from fedadmet.chem.alerts import structural_alerts_many
from fedadmet.chem.standardize import standardisation_note, standardize_to_mols
from fedadmet.config import get_settings
from fedadmet.exceptions import InputError
from fedadmet.inference import default_model_dir, load_model
from fedadmet.workflows.store import open_store
from fedadmet.workflows.views import list_versions


class Standardised(BaseModel):
    input: str
    smiles: str
    changes: str  # what standardisation changed ("" for nothing)


class ModelSummary(BaseModel):
    name: str
    version: int | None
    kind: str
    location: str
    endpoints: list[str]
    serving: bool  # the model the tools predict with
    metrics: dict[str, Any]  # as the caller may see them (a partner: its own, and the consortium's mean)


def standardise(smiles: Sequence[str]) -> list[Standardised]:
    """Standardised parents; an :class:`InputError` naming every molecule that cannot be used and why."""
    results, problems = [], []
    limits = get_settings().molecule_limits()
    for text in smiles:
        parent, _, reason, mols = standardize_to_mols(text, limits)
        if parent is None or mols is None:
            problems.append(f"{text!r}: {reason}")
            continue
        results.append(Standardised(input=text, smiles=parent, changes=standardisation_note(mols[1], parent)))
    if problems:
        raise InputError(f"molecules that cannot be used: {'; '.join(problems)}")
    return results


def find_alerts(smiles: Sequence[str]) -> dict[str, list[str]]:
    """Each standardised parent's structural alerts (PAINS, Brenk, NIH)."""
    parents = [result.smiles for result in standardise(smiles)]
    return dict(zip(parents, structural_alerts_many(parents, get_settings().parallel()), strict=True))


def list_models(
    model: Path | None = None, registry_url: str | None = None, partner: str | None = None
) -> list[ModelSummary]:
    """The model the tools predict with, then every published version in the registry, as ``partner``'s
    users may see them (their own metrics; no file locations on the operator's server); None: the operator."""
    folder = Path(model or default_model_dir()).resolve()
    serving = ModelSummary(
        name=folder.name,
        version=None,
        kind="serving",
        location=str(folder) if partner is None else "",
        endpoints=load_model(folder).endpoints,
        serving=True,
        metrics={},
    )
    published = [
        ModelSummary(
            name=version.model,
            version=version.version,
            kind=version.kind,
            location=version.artifact_uri or "",
            endpoints=list(version.endpoints),
            serving=version.serving,
            metrics=version.metrics,
        )
        for version in list_versions(open_store(registry_url), partner, serving_id=_version_of(folder, registry_url))
    ]
    return [serving, *published]


def _version_of(folder: Path, registry_url: str | None) -> int | None:
    """The published version whose files are ``folder`` (the one the tools predict with), if any."""
    return next(
        (
            version.id
            for version in list_versions(open_store(registry_url))
            if version.artifact_uri and Path(version.artifact_uri).resolve() == folder
        ),
        None,
    )
