"""Exports of a campaign's measurements for outside researchers: the data as CSV files described three
ways — a Croissant description (ML data sets), a Frictionless data package (tabular data) and an
RO-Crate (research objects with provenance) — each with the licence, where the data came from, and
the SHA-256 of every file, so a reader can check they hold what was measured.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from fedadmet import __version__
from fedadmet.exceptions import InputError
from fedadmet.registry import campaign_repository as repo
from fedadmet.registry.tables import Campaign
from fedadmet.workflows.campaigns import POOL_FILE

MEASUREMENTS, PICKS = "measurements.csv", "picks.csv"
CROISSANT, DATAPACKAGE, ROCRATE = "croissant.json", "datapackage.json", "ro-crate-metadata.json"
PROVENANCE = "provenance.json"  # the campaign's lineage: spec, rounds with their models, results files
LICENCES = {  # SPDX id -> where its text lives
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
}
MEASUREMENT_FIELDS = {
    "compound_id": ("string", "The campaign's id of the compound."),
    "smiles": ("string", "Standardised parent structure (canonical SMILES)."),
    "column": ("string", "What was measured (an objective column of the campaign)."),
    "relation": ("string", "'=' exact, '<' or '>' censored at the value."),
    "value": ("number", "The measured value, in `unit`."),
    "unit": ("string", "Unit of the value."),
    "round": ("integer", "The round whose pick this compound was (empty: measured before or outside a pick)."),
    "source_file": ("string", "The results file the value came from."),
    "source_row": ("integer", "Its 1-based data row in that file."),
}
PICK_FIELDS = {
    "round": ("integer", "Round number."),
    "rank": ("integer", "Rank within the round's batch (1 = first choice)."),
    "compound_id": ("string", "The compound ordered."),
    "smiles": ("string", "Standardised parent structure (canonical SMILES)."),
    "predicted_score": ("number", "The objective's predicted score when picked (0-1)."),
    "score_std": ("number", "Its predicted standard deviation."),
    "strategy": ("string", "The acquisition strategy that picked it."),
    "reason": ("string", "Why it was picked."),
}


@dataclass(frozen=True)
class ExportOutcome:
    folder: Path
    files: dict[str, str]  # name -> SHA-256
    descriptions: list[str]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tables(session: Session, campaign: Campaign) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, Any]]]:
    campaign_id = campaign.id
    picks = repo.list_picks(session, campaign_id)
    pool = pd.read_csv(Path(campaign.folder) / POOL_FILE, dtype={"compound_id": str})
    smiles = dict(zip(pool["compound_id"], pool["smiles"], strict=True))
    round_of = {p.id: p.round.round for p in picks}
    ingests = {i.id: i for i in repo.list_ingests(session, campaign_id)}
    relation = {-1: "<", 0: "=", 1: ">"}
    measurements = pd.DataFrame(
        [
            {
                "compound_id": m.compound_id,
                "smiles": smiles.get(m.compound_id, ""),
                "column": m.column,
                "relation": relation[m.relation],
                "value": m.value,
                "unit": m.unit,
                "round": round_of.get(m.pick_id) if m.pick_id else None,
                "source_file": ingests[m.ingest_id].filename,
                "source_row": m.source_row,
            }
            for m in repo.list_measurements(session, campaign_id)
        ],
        columns=list(MEASUREMENT_FIELDS),
    ).astype({"round": "Int64"})
    pick_table = pd.DataFrame(
        [
            {
                "round": p.round.round,
                "rank": p.rank,
                "compound_id": p.compound_id,
                "smiles": p.smiles,
                "predicted_score": p.score_mean,
                "score_std": p.score_std,
                "strategy": p.round.strategy,
                "reason": p.reason,
            }
            for p in picks
        ],
        columns=list(PICK_FIELDS),
    )
    sources = [{"file": i.filename, "sha256": i.sha256, "rows": i.rows, "stored": i.stored} for i in ingests.values()]
    return measurements, pick_table, sources


def export_campaign(
    sessions: sessionmaker[Session],
    campaign_name: str | int,
    viewer_partner: str | None,
    output: Path,
    *,
    licence: str = "CC-BY-4.0",
    creator: str = "fedadmet campaign",
) -> ExportOutcome:
    """Write the campaign's measurements and picks under ``output`` with their three descriptions."""
    if licence not in LICENCES:
        raise InputError(f"licence {licence!r}", expected=f"one of {sorted(LICENCES)} (SPDX ids)")
    with sessions() as session:
        campaign = repo.get_campaign(session, campaign_name, viewer_partner)
        if campaign is None:
            raise LookupError(f"no campaign {campaign_name!r} for this viewer")
        measurements, picks, sources = _tables(session, campaign)
        about = {
            "name": campaign.name,
            "created": campaign.created.isoformat(),
            "pool": {"file": Path(campaign.pool_source).name, "sha256": campaign.pool_sha256},
            "spec": campaign.spec,
            "rounds": [{"round": r.round, "strategy": r.strategy, "model": r.model} for r in campaign.rounds],
        }
    output.mkdir(parents=True, exist_ok=True)
    measurements.to_csv(output / MEASUREMENTS, index=False)
    picks.to_csv(output / PICKS, index=False)
    provenance = {
        "generator": f"fedadmet {__version__}",
        "exported": datetime.now(UTC).isoformat(),
        "campaign": about,
        "results_files": sources,
    }
    (output / PROVENANCE).write_text(json.dumps(provenance, indent=2, default=str))
    hashes = {name: _sha256(output / name) for name in (MEASUREMENTS, PICKS, PROVENANCE)}
    title = f"Campaign {about['name']}: measurements"
    description = (
        f"Measurements and picks of the design-make-test campaign {about['name']!r} "
        f"({len(measurements)} measured values, {len(picks)} picks in {len(about['rounds'])} rounds)."
    )
    _write_croissant(output, title, description, licence, creator, hashes, provenance)
    _write_datapackage(output, title, description, licence, creator, hashes, provenance)
    _write_rocrate(output, title, description, licence, creator, hashes, provenance)
    return ExportOutcome(output, hashes, [CROISSANT, DATAPACKAGE, ROCRATE])


def _write_croissant(
    output: Path, title: str, description: str, licence: str, creator: str, hashes: dict[str, str], provenance: dict
) -> None:
    import mlcroissant as mlc

    kinds = {"string": mlc.DataType.TEXT, "number": mlc.DataType.FLOAT, "integer": mlc.DataType.INTEGER}
    files, record_sets = [], []
    for name, fields in ((MEASUREMENTS, MEASUREMENT_FIELDS), (PICKS, PICK_FIELDS)):
        stem = name.removesuffix(".csv")
        files.append(
            mlc.FileObject(id=name, name=name, content_url=name, encoding_formats=["text/csv"], sha256=hashes[name])
        )
        record_sets.append(  # one per table
            mlc.RecordSet(
                id=stem,
                name=stem,
                fields=[
                    mlc.Field(
                        id=f"{stem}/{column}",
                        name=column,
                        description=text,
                        data_types=[kinds[kind]],
                        source=mlc.Source(file_object=name, extract=mlc.Extract(column=column)),
                    )
                    for column, (kind, text) in fields.items()
                ],
            )
        )
    files.append(
        mlc.FileObject(
            id=PROVENANCE,
            name=PROVENANCE,
            description="Lineage: the campaign's spec, rounds with their models, and the results files taken in.",
            content_url=PROVENANCE,
            encoding_formats=["application/json"],
            sha256=hashes[PROVENANCE],
        )
    )
    metadata = mlc.Metadata(
        name=title,
        description=description,
        license=[LICENCES[licence]],
        url="https://example.invalid/fedadmet-campaign",  # Croissant requires one; the package has no home page
        creators=[mlc.Person(name=creator)],
        version="1.0.0",
        date_published=datetime.now(UTC),
        cite_as=f"{title} ({provenance['generator']})",
        distribution=files,
        record_sets=record_sets,
    )
    (output / CROISSANT).write_text(json.dumps(metadata.to_json(), indent=2, default=str))


def _write_datapackage(
    output: Path, title: str, description: str, licence: str, creator: str, hashes: dict[str, str], provenance: dict
) -> None:
    from frictionless import Package, Resource, Schema, fields

    kinds = {"string": fields.StringField, "number": fields.NumberField, "integer": fields.IntegerField}
    resources = []
    for name, columns in ((MEASUREMENTS, MEASUREMENT_FIELDS), (PICKS, PICK_FIELDS)):
        schema = Schema(fields=[kinds[kind](name=column, description=text) for column, (kind, text) in columns.items()])
        resources.append(
            Resource(
                name=name.removesuffix(".csv"),
                path=name,
                format="csv",
                mediatype="text/csv",
                hash=f"sha256:{hashes[name]}",
                schema=schema,
            )
        )
    package = Package(
        name=provenance["campaign"]["name"].lower().replace("_", "-"),
        title=title,
        description=description,
        licenses=[{"name": licence, "path": LICENCES[licence]}],
        contributors=[{"title": creator, "role": "author"}],
        sources=[
            {"title": f["file"], "path": f["file"], "description": f"sha256:{f['sha256']}"}
            for f in provenance["results_files"]
        ],
        resources=resources,
        basepath=str(output),
    )
    document = package.to_descriptor()
    document["provenance"] = {"path": PROVENANCE, "hash": f"sha256:{hashes[PROVENANCE]}"} | provenance
    (output / DATAPACKAGE).write_text(json.dumps(document, indent=2, default=str))


def _write_rocrate(
    output: Path, title: str, description: str, licence: str, creator: str, hashes: dict[str, str], provenance: dict
) -> None:
    from rocrate.model.contextentity import ContextEntity
    from rocrate.rocrate import ROCrate

    crate = ROCrate()
    crate.name, crate.description = title, description
    crate.license = crate.add(
        ContextEntity(crate, LICENCES[licence], properties={"@type": "CreativeWork", "name": licence})
    )
    author = crate.add(ContextEntity(crate, "#creator", properties={"@type": "Organization", "name": creator}))
    crate.root_dataset["author"] = author
    parts = []
    for name in (MEASUREMENTS, PICKS, PROVENANCE):
        parts.append(
            crate.add_file(
                output / name,
                dest_path=name,
                properties={
                    "name": name,
                    "encodingFormat": "text/csv",
                    "sha256": hashes[name],
                    "license": LICENCES[licence],
                },
            )
        )
    instrument = crate.add(
        ContextEntity(crate, "#fedadmet", properties={"@type": "SoftwareApplication", "name": provenance["generator"]})
    )
    sources = [
        crate.add(
            ContextEntity(
                crate,
                f"#results-{i}",
                properties={"@type": "CreativeWork", "name": f["file"], "sha256": f["sha256"]},
            )
        )
        for i, f in enumerate(provenance["results_files"])
    ]
    crate.add(
        ContextEntity(
            crate,
            "#campaign",
            properties={
                "@type": "CreateAction",
                "name": f"campaign {provenance['campaign']['name']}",
                "description": json.dumps(provenance["campaign"], default=str),
                "instrument": {"@id": instrument.id},
                "object": [{"@id": s.id} for s in sources],
                "result": [{"@id": p.id} for p in parts],
                "endTime": provenance["exported"],
            },
        )
    )
    crate.metadata.write(output)
