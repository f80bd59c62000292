from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fedadmet.clinical.synthetic import SyntheticSpec
from fedadmet.config import get_settings
from fedadmet.data.public import approved_drugs
from fedadmet.models.artifacts import save_model
from fedadmet.models.fitting import fit_model
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry
from fedadmet.serve.app import create_app
from fedadmet.workflows import clinical
from fedadmet.workflows.reference import write_reference
from tests.tiny_model import QUIET, TINY_CONFIG, endpoint_frame

SERVE_ENDPOINTS = {
    "hERG": "herg",
    "AMES": "ames",
    "DILI": "dili",
    "Caco2_Wang": "caco2_wang",
    "Solubility_AqSolDB": "solubility_aqsoldb",
}


@pytest.fixture(scope="session")
def serve_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model over five endpoints (three radar axes, two traffic-light bands), with a drug reference."""
    frames = {name: endpoint_frame(tdc, rows=250) for name, tdc in SERVE_ENDPOINTS.items()}
    train = {name: frame.iloc[:200].reset_index(drop=True) for name, frame in frames.items()}
    valid = {name: frame.iloc[200:].reset_index(drop=True) for name, frame in frames.items()}
    folder = tmp_path_factory.mktemp("serve-model")
    model = fit_model(train, valid, config=TINY_CONFIG, parallel=QUIET)
    save_model(model, folder)
    write_reference(model, folder, approved_drugs().head(120))
    return folder


@pytest.fixture
def api(serve_model_dir: Path) -> Iterator[tuple[TestClient, str]]:
    """A running app (lifespan entered: micro-batcher and job worker up) and a valid API key."""
    settings = get_settings()
    with open_registry(settings.registry_url).begin() as session:
        key, _ = repository.create_api_key(session, "chemist")
    with TestClient(create_app(settings, serve_model_dir)) as client:
        yield client, key


@pytest.fixture(scope="session")
def clinical_report_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A patient-level report written by the workflow on one small synthetic hospital (about 10 s)."""
    folder = tmp_path_factory.mktemp("clinical")
    hospitals = clinical.generate(folder / "cdm", SyntheticSpec(n_patients=400, n_hospitals=1, molecular_effect=False))
    study = clinical.named_study("nephrotoxicity")
    extracted = clinical.combined(clinical.extract_sites(list(hospitals.values()), study))
    report = folder / "nephro-report"
    clinical.train_and_evaluate(extracted, study, title="Study: nephrotoxicity", report_dir=report, n_boot=50)
    return report


@pytest.fixture
def kept_clinical_report(clinical_report_source: Path) -> str:
    """The report kept in this test's home, as `fedadmet clinical train` keeps it; its name."""
    return clinical.keep_report(clinical_report_source, get_settings().home).name
