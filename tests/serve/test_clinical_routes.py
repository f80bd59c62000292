"""/v1/clinical/reports: the patient-level reports kept in the home folder, behind the API key."""

import pytest
from fastapi.testclient import TestClient

from fedadmet.config import get_settings
from fedadmet.exceptions import InputError
from fedadmet.workflows import clinical


def test_lists_and_shows_a_kept_report(api: tuple[TestClient, str], kept_clinical_report: str) -> None:
    client, key = api
    headers = {"X-API-Key": key}
    listed = client.get("/v1/clinical/reports", headers=headers)
    assert listed.status_code == 200
    [summary] = listed.json()
    assert summary["name"] == kept_clinical_report == "nephro-report"
    assert summary["title"] == "Study: nephrotoxicity"
    metrics = summary["metrics"]
    assert 0.5 < metrics["auroc"] <= 1 and metrics["auroc_low"] <= metrics["auroc"] <= metrics["auroc_high"]
    assert metrics["n"] == 105 and 0 < metrics["events"] < metrics["n"]

    detail = client.get(f"/v1/clinical/reports/{kept_clinical_report}", headers=headers).json()
    assert detail["metrics"] == metrics
    assert {"auprc", "brier", "calibration_intercept", "calibration_slope"} <= set(detail["metrics"])
    weights = [abs(c["coefficient"]) for c in detail["top_covariates"]]
    assert 0 < len(weights) <= 15 and 0 not in weights and weights == sorted(weights, reverse=True)

    image = client.get(f"/v1/clinical/reports/{kept_clinical_report}/evaluation.png", headers=headers)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")


def test_reports_need_a_key_and_an_existing_name(api: tuple[TestClient, str], kept_clinical_report: str) -> None:
    client, key = api
    assert client.get("/v1/clinical/reports").status_code == 401
    assert client.get(f"/v1/clinical/reports/{kept_clinical_report}/evaluation.png").status_code == 401
    headers = {"X-API-Key": key}
    assert client.get("/v1/clinical/reports/no-such-report", headers=headers).status_code == 404
    assert client.get("/v1/clinical/reports/no-such-report/evaluation.png", headers=headers).status_code == 404


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("a..b", 400),  # reaches the workflow, which refuses it
        ("..", 404),  # these never reach the route: the URL's dot segments and slashes take it elsewhere
        ("..%2F..%2Fsecret", 404),
        ("%2Fetc%2Fpasswd", 404),
    ],
)
def test_a_name_that_is_a_path_is_refused(
    api: tuple[TestClient, str], kept_clinical_report: str, name: str, status: int
) -> None:
    client, key = api
    response = client.get(f"/v1/clinical/reports/{name}/evaluation.png", headers={"X-API-Key": key})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"


def test_the_workflow_refuses_a_path_that_leads_to_a_real_report(kept_clinical_report: str) -> None:
    home = get_settings().home
    assert clinical.clinical_report(home, kept_clinical_report).name == kept_clinical_report
    with pytest.raises(InputError):
        clinical.clinical_report(home, f"../reports/{kept_clinical_report}")
    with pytest.raises(InputError):
        clinical.clinical_report_image(home, f"../reports/{kept_clinical_report}")
