"""Small use cases the MCP server and design routes share: standardise, alerts, models, key checks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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


def list_models(model: Path | None = None, registry_url: str | None = None) -> list[ModelSummary]:
    """The model the tools predict with, then every published version in the registry."""
    folder = Path(model or default_model_dir()).resolve()
    serving = ModelSummary(
        name=folder.name,
        version=None,
        kind="serving",
        location=str(folder),
        endpoints=load_model(folder).endpoints,
        serving=True,
    )
    published = [
        ModelSummary(
            name=version.model,
            version=version.version,
            kind=version.kind,
            location=version.artifact_uri or "",
            endpoints=list(version.endpoints),
            serving=Path(version.artifact_uri).resolve() == folder if version.artifact_uri else False,
        )
        for version in list_versions(open_store(registry_url))  # the operator's view: this tool runs locally
    ]
    return [serving, *published]
