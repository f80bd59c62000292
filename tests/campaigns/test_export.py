"""Exports for outside researchers: each description validates with its own library, carries the licence
and provenance, and names the SHA-256 of every file (a changed file is caught)."""

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from fedadmet.registry.database import _session_factory, open_registry
from fedadmet.workflows import campaigns as workflow
from fedadmet.workflows.export import LICENCES, export_campaign
from tests.campaigns.test_campaign_workflow import SPEC, _results

pytestmark = pytest.mark.slow  # featurises a small pool


def test_a_campaign_exports_as_croissant_frictionless_and_ro_crate(
    tmp_path: Path, pool_file: Path, tiny_model_dir: Path
) -> None:
    import mlcroissant as mlc
    from frictionless import validate
    from rocrate.rocrate import ROCrate

    _session_factory.cache_clear()
    sessions = open_registry(f"sqlite:///{tmp_path / 'registry.db'}")
    seed = _results(tmp_path / "seed.csv", pool_file, ["C000", "C001", "C002"])
    workflow.create_campaign(
        sessions,
        name="shared",
        pool_path=pool_file,
        spec=SPEC,
        campaigns_dir=tmp_path / "campaigns",
        model_dir=tiny_model_dir,
        measurements=seed,
    )
    picks = [p["compound_id"] for p in workflow.propose_round(sessions, "shared", None).picks]
    workflow.ingest_results(sessions, "shared", _results(tmp_path / "r1.csv", pool_file, picks[:2]), None)

    out = export_campaign(sessions, "shared", None, tmp_path / "export", licence="CC0-1.0")
    for name, digest in out.files.items():
        assert hashlib.sha256((out.folder / name).read_bytes()).hexdigest() == digest
    measurements = pd.read_csv(out.folder / "measurements.csv")
    assert len(measurements) == 5 and measurements["smiles"].notna().all()
    assert measurements.dropna(subset=["round"])["compound_id"].tolist() == picks[:2]

    croissant = mlc.Dataset(jsonld=out.folder / "croissant.json")
    records = list(croissant.records("measurements"))
    assert len(records) == 5
    croissant_json = json.loads((out.folder / "croissant.json").read_text())
    assert croissant_json["license"] == LICENCES["CC0-1.0"]
    assert {f["name"]: f["sha256"] for f in croissant_json["distribution"]} == out.files

    assert validate(out.folder / "datapackage.json").valid
    package = json.loads((out.folder / "datapackage.json").read_text())
    assert package["licenses"][0]["name"] == "CC0-1.0"
    assert package["provenance"]["campaign"]["rounds"][0]["strategy"] == "ucb"
    assert {r["path"]: r["hash"] for r in package["resources"]} == {
        name: f"sha256:{digest}" for name, digest in out.files.items() if name.endswith(".csv")
    }

    crate = ROCrate(out.folder)
    files = {e.id: e.get("sha256") for e in crate.get_entities() if e.type == "File"}
    assert files == out.files
    assert crate.root_dataset["license"].id == LICENCES["CC0-1.0"]
    assert any(e.type == "CreateAction" for e in crate.get_entities())

    (out.folder / "measurements.csv").write_text(measurements.head(4).to_csv(index=False))
    assert not validate(out.folder / "datapackage.json").valid  # the hash no longer matches


def test_an_unknown_licence_is_refused(tmp_path: Path) -> None:
    from fedadmet.exceptions import InputError

    _session_factory.cache_clear()
    with pytest.raises(InputError, match="licence"):
        export_campaign(open_registry(f"sqlite:///{tmp_path / 'r.db'}"), "x", None, tmp_path, licence="WTFPL")
