"""End to end in headless Chromium: paste → profile, upload → progress → download, models, federation and
patients pages; the many-molecule table, endpoint choice, ATC-class percentiles and the structure editor."""

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from playwright import sync_api
from rdkit import Chem

from fedadmet.chem.pipeline import FORM_NOTE
from fedadmet.config import get_settings
from fedadmet.data.catalogue import get_endpoint
from fedadmet.data.public import approved_drugs
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry
from fedadmet.serve.app import create_app
from fedadmet.workflows import clinical
from fedadmet.workflows.cards import threshold_statement
from fedadmet.workflows.keys import local_api_key
from fedadmet.workflows.store import open_store
from tests.serve.test_api import ASPIRIN, molecules_csv
from tests.served import served

CHROMIUM = os.environ.get("FEDADMET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not Path(CHROMIUM).is_file() and not shutil.which("chromium"):
    # CI installs Chromium (.ci/run); there the test must run, never be skipped.
    if os.environ.get("CI"):
        raise RuntimeError(f"Chromium not found at {CHROMIUM}: .ci/run installs the Debian package 'chromium'")
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)


PARTNERS = ["pharma_a", "pharma_b", "pharma_c"]  # names that differ only at the end: a clipped legend would hide which
# is which; three, so that the consortium mean is shown (a mean over two would reveal the other partner's score)
RUN_ERROR = "ValueError: `num_shares` as an integer must be greater than 2."
EXCLUSION = "PreparedDataError: hospital_c has no task that meets the quorum; nothing to train"


@pytest.fixture
def server(serve_model_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[str, str]]:
    monkeypatch.setenv("FEDADMET_JOB_CHUNK_ROWS", "10")  # several progress steps for the bar
    get_settings.cache_clear()
    settings = get_settings()
    key = local_api_key(open_store(settings.registry_url), settings.local_key_file)
    with open_registry(settings.registry_url).begin() as session:
        failed = repository.start_run(session, "broken-run", "fedavg", True, {})
        repository.finish_run(session, failed.id, "failed", error=RUN_ERROR)
        run = repository.start_run(session, "browser-run", "fedavg", True, {})
        for number in (1, 2, 3):
            scores = {p: {"valid_score": 0.4 + 0.05 * number + i / 100} for i, p in enumerate(PARTNERS)}
            excluded = {"hospital_c": EXCLUSION} if number == 2 else None
            shared = {"evaluate": scores}
            repository.record_round(session, run.id, number, PARTNERS, shared, excluded, epsilon=number / 2)
        for epsilon in (None, 2.5):  # as the federation publishes them (server_app._publish), without and with DP
            shared = {p: {"valid_score": 0.55, "test_score": 0.5, "bytes_sent": 10, "partner": p} for p in PARTNERS}
            version = repository.publish_version(
                session,
                "consortium-admet",
                kind="federated",
                artifact_uri=str(tmp_path / "trunk.safetensors"),
                endpoints=[],
                metrics={"partners": shared, "epsilon": epsilon, "delta": 1e-5 if epsilon else None},
                lineage={"run_id": run.id, "partners": PARTNERS, "rounds": 3, "strategy": "fedavg", "secagg": True},
            )
        repository.finish_run(session, run.id, "completed", model_version_id=version.id)  # the DP version
    with served(create_app(settings, serve_model_dir)) as port:
        yield f"http://127.0.0.1:{port}/", key


def test_chemist_workflow_in_a_real_browser(server: tuple[str, str], tmp_path: Path) -> None:
    address, key = server
    upload = tmp_path / "batch.csv"
    upload.write_bytes(molecules_csv(35).replace(b"name,smiles", b"name,structure", 1))  # a column named by hand
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(accept_downloads=True)
        page.goto(f"{address}#key={key}")

        # Paste → profile with depiction, radar and percentile.
        page.fill("#smiles-input", "CC(=O)Oc1ccccc1C(=O)O aspirin\n[Na+].[O-]c1ccccc1 sodium phenoxide\nC1CC broken")
        page.click("#profile-button")
        page.wait_for_selector(".molecule >> nth=2", timeout=60_000)
        cards = page.locator(".molecule")
        assert cards.count() == 3
        first = cards.nth(0)
        assert "aspirin" in first.locator("h2").inner_text()
        assert first.locator(".depiction svg").count() == 1
        assert first.locator(".radar polygon.shape").count() == 1
        # Endpoint names and dots explain themselves: what is measured, and the rule behind the colour.
        herg = first.locator("tr[data-endpoint='hERG']")
        rule = threshold_statement(get_endpoint("hERG"))
        name_tip = herg.locator("td.name").get_attribute("title")
        assert "hERG channel blockade" in name_tip and rule in name_tip
        dot = herg.locator(".dot")
        # "amber (borderline) by the rule: …"
        assert dot.get_attribute("title").startswith(dot.get_attribute("class").split()[1])
        assert rule in dot.get_attribute("title")
        # A classifier's uncertainty is the chance of a wrong call, not a ± spread; regression keeps its interval.
        assert re.fullmatch(r"P\(wrong call\) (<0\.01|0\.\d\d)", herg.locator("td.uncertainty").inner_text())
        assert "wrong" in herg.locator("td.uncertainty").get_attribute("title") and "±" not in herg.inner_text()
        caco2 = first.locator("tr[data-endpoint='Caco2_Wang'] td.uncertainty").inner_text()
        assert re.fullmatch(r"-?[\d.e+-]+ – -?[\d.e+-]+", caco2), caco2
        percentile = first.locator("tr[data-endpoint='Solubility_AqSolDB'] .percentile").inner_text()
        assert percentile.endswith("%") and 0 <= int(percentile[:-1]) <= 100
        assert [h.inner_text() for h in first.locator(".groups h3").all()] == ["ABSORPTION", "TOXICITY"]
        # A salt is profiled as its neutral parent, its solubility as drawn, and the card says so; aspirin
        # needed no change.
        assert first.locator(".standardisation").count() == 0
        note = cards.nth(1).locator(".standardisation").inner_text()
        assert note.startswith("standardised: kept the largest organic fragment, removed [Na+]; neutralised charges")
        assert FORM_NOTE in note
        assert "cannot parse" in cards.nth(2).inner_text() or "ring" in cards.nth(2).inner_text()

        # Upload → progress (through a server outage: a dropped connection, then a 503) → download.
        outages: list[str] = []

        def outage(route: sync_api.Route) -> None:
            if len(outages) == 2:
                route.continue_()
                return
            outages.append(route.request.url)
            if len(outages) == 1:
                route.abort()
            else:
                route.fulfill(status=503, json={"detail": "restarting"})

        page.route("**/v1/jobs/*", outage)  # status polls only: not the upload, the list or /result
        page.click("nav button[data-page='batch']")
        page.wait_for_selector("#jobs-table td.hint", timeout=30_000)  # the list is loaded: no jobs yet
        page.set_input_files("#batch-file", str(upload))
        page.fill("#batch-smiles-column", "structure")
        page.click("#batch-button")
        page.wait_for_selector("#batch-progress:not([hidden])", timeout=30_000)
        assert page.locator("#batch-cancel").is_visible()  # while the job runs, it can be cancelled
        page.wait_for_selector("#batch-status:has-text('server unreachable')", timeout=30_000)
        job_id = re.search(r"batch\.csv \(job ([0-9a-f]{32})\)", page.inner_text("#batch-status")).group(1)
        page.wait_for_selector("#batch-result a", timeout=120_000)
        assert len(outages) == 2
        page.unroute("**/v1/jobs/*")
        assert page.locator("#batch-progress").evaluate("bar => bar.value") == 1
        assert f"job {job_id}" in page.inner_text("#batch-status")
        assert "36 molecules, 1 with errors" in page.inner_text("#batch-status")
        with page.expect_download() as download_info:
            page.click("#batch-result a")
        downloaded = pd.read_csv(download_info.value.path())
        assert len(downloaded) == 36 and "hERG" in downloaded.columns

        # Recent jobs: after a reload (the id is not needed), the job is listed with a working download.
        page.reload()
        page.click("nav button[data-page='batch']")
        row = page.locator(f"#jobs-table tr[data-job='{job_id}']")
        row.locator("a.download").wait_for(timeout=30_000)
        assert page.locator("#jobs-table tbody tr").count() == 1
        cells = [c.inner_text() for c in row.locator("td").all()]
        assert cells[0] == "batch.csv" and cells[2] == "completed" and cells[3] == "36 / 36 (100%)" and cells[4] == "1"
        with page.expect_download() as download_info:
            row.locator("a.download").click()
        assert download_info.value.suggested_filename == "batch_admet.csv"
        assert pd.read_csv(download_info.value.path()).equals(downloaded)
        # The owner deletes the job's files from the server: the row stays, saying so, without a download.
        assert page.locator("#batch-cancel").is_hidden()
        page.once("dialog", lambda dialog: dialog.accept())
        row.locator("button.withdraw").click()
        page.wait_for_selector(f"#jobs-table tr[data-job='{job_id}'] td.job-status:has-text('deleted')", timeout=30_000)
        assert row.locator("a.download").count() == 0 and "deleted by its owner" in row.inner_text()

        # Models page: registry entries with metrics and lineage.
        page.click("nav button[data-page='models']")
        page.wait_for_selector("#models-table tbody tr", timeout=30_000)
        models_text = page.inner_text("#models-table")
        assert "fedadmet-served (serving)" in models_text and "centralised" in models_text and "hERG" in models_text
        assert re.search(r"hERG: [\d.]+ roc-auc \(n=\d+\)", models_text)  # scores with their validation size
        # Federated versions: each partner's shared scores and the DP budget, readable; the trunk has no heads.
        federated = page.locator("#models-table tr:has-text('consortium-admet')")
        assert federated.count() == 2 and "[object Object]" not in models_text
        without_dp, with_dp = sorted((r.locator("td.metrics").inner_text() for r in federated.all()), key=len)
        shared = "; ".join(f"{p}: valid 0.550, test 0.500" for p in PARTNERS)
        assert f"{shared}; consortium mean: valid 0.550 (3 partners), test 0.500 (3 partners)" in without_dp
        assert without_dp.endswith("no DP") and "after round 3" in without_dp
        assert with_dp.endswith("DP ε = 2.500, δ = 1.00e-5")
        assert [row.locator("td.endpoints").inner_text() for row in federated.all()] == ["trunk only"] * 2

        # Federation page on a fresh installation: a hint, no empty metric menu.
        page.route("**/v1/federation/runs", lambda route: route.fulfill(json=[]))
        page.click("nav button[data-page='federation']")
        page.wait_for_selector("#runs:has-text('No federation runs yet')", timeout=30_000)
        assert "fedadmet federate simulate" in page.inner_text("#runs") and page.locator("#fed-controls").is_hidden()
        page.unroute("**/v1/federation/runs")
        # More runs than one page: the page says how many it shows and where the others are.
        first_round = {
            "round": 1,
            "partners": PARTNERS,
            "bytes_sent": 0,
            "epsilon": 1.234,
            "metrics": {},
            "consortium_mean": {},
            "excluded": {},
            "excluded_hidden": 0,
        }
        newest = {"id": 120, "name": "r120", "strategy": "fedavg", "secagg": True, "status": "running", "error": "",
                  "started": "2026-01-01T00:00:00+00:00", "finished": None, "model_version_id": None, "epsilon": None,
                  "visible_to_partner": None, "rounds": [first_round]}  # fmt: skip
        page.route("**/v1/federation/runs", lambda r: r.fulfill(json=[newest], headers={"X-Total-Count": "120"}))
        page.click("nav button[data-page='models']")
        page.click("nav button[data-page='federation']")
        page.wait_for_selector("#runs:has-text('the 1 newest of 120 runs')", timeout=30_000)
        # A private run still going shows the budget it has spent so far.
        assert "DP ε 1.23 after round 1" in page.inner_text(".run[data-run='120']")
        page.unroute("**/v1/federation/runs")

        # Federation page: the run, and each partner's shared metric over rounds as a plot.
        page.click("nav button[data-page='models']")
        page.click("nav button[data-page='federation']")
        page.wait_for_selector("#fed-plot svg polyline", timeout=30_000)
        assert page.locator("#fed-plot svg polyline").count() == 4
        assert page.locator("#fed-plot svg polyline[stroke-dasharray='6 4']").count() == 1  # the consortium mean
        assert "browser-run" in page.inner_text("#runs") and page.locator("#fed-controls").is_visible()
        assert page.locator("#fed-scope").count() == 0  # the operator's key: no partner scope to explain
        # The legend names every partner in full, and each round says who was excluded and why.
        assert legend(page) == ["consortium mean", *PARTNERS]
        assert "1 exclusion(s)" in page.inner_text(".run[data-run='2']")
        assert "completed, 3 rounds" in page.inner_text(".run[data-run='2']")
        assert page.inner_text(".run[data-run='2']").endswith("DP ε 2.50")
        assert page.inner_text("#fed-rounds tr[data-round='2'] td.excluded") == f"hospital_c: {EXCLUSION}"
        assert page.inner_text("#fed-rounds tr[data-round='1'] td.excluded") == "none"
        assert page.inner_text("#fed-rounds tr[data-round='3'] td.epsilon") == "1.50"  # the DP budget spent so far
        # A failed run says why, also when no round was aggregated.
        failed = page.locator(".run[data-run='1']")
        assert "failed, 0 rounds" in failed.inner_text()
        assert failed.locator(".run-error").inner_text() == f"error: {RUN_ERROR}"
        failed.click()
        assert page.inner_text("#fed-rounds") == "no round was aggregated" and page.locator("#fed-controls").is_hidden()
        browser.close()


def test_a_partners_key_sees_its_own_metrics_and_the_consortium_mean(server: tuple[str, str]) -> None:
    address, _ = server
    with open_registry(get_settings().registry_url).begin() as session:
        key, _ = repository.create_api_key(session, "scientist-at-a", partner="pharma_a")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{address}#key={key}")
        page.click("nav button[data-page='federation']")
        page.wait_for_selector("#fed-plot svg polyline", timeout=30_000)
        assert legend(page) == ["consortium mean", "pharma_a"]
        assert "belongs to partner pharma_a" in page.inner_text("#fed-scope")
        # Another partner's exclusion is counted, its reason is not shown.
        assert "1 exclusion(s)" in page.inner_text(".run[data-run='2']")
        excluded = page.inner_text("#fed-rounds tr[data-round='2'] td.excluded")
        assert excluded == "1 other partner(s), reasons shown to the operator"
        page.click("nav button[data-page='models']")
        page.wait_for_selector("#models-table tr:has-text('consortium-admet')", timeout=30_000)
        scores = page.locator("#models-table tr:has-text('consortium-admet') td.metrics").first.inner_text()
        assert "pharma_a: valid 0.550, test 0.500; consortium mean: valid 0.550 (3 partners)" in scores
        assert "pharma_b" not in scores
        browser.close()


def test_patients_page_shows_a_kept_report(server: tuple[str, str], kept_clinical_report: str) -> None:
    address, key = server
    kept = clinical.clinical_report(get_settings().home, kept_clinical_report)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{address}#key={key}")
        page.click("nav button[data-page='patients']")
        row = page.locator(f"#reports-table tr[data-report='{kept_clinical_report}']")
        row.wait_for(timeout=30_000)
        auroc = f"{kept.metrics.auroc:.3f} ({kept.metrics.auroc_low:.3f}–{kept.metrics.auroc_high:.3f})"
        assert auroc in row.inner_text()
        row.click()
        page.wait_for_selector("#clinical-report:not([hidden])", timeout=30_000)
        metrics = page.inner_text("#report-metrics")
        assert auroc in metrics and f"{kept.metrics.calibration_slope:.3f}" in metrics
        first = page.locator("#report-covariates tbody tr").first.inner_text()
        assert kept.top_covariates[0].covariate in first
        image = page.locator("#report-image")
        assert image.get_attribute("src").startswith("blob:")  # fetched with the key, not by a bare <img> request
        page.wait_for_function("document.querySelector('#report-image').naturalWidth > 100", timeout=30_000)
        browser.close()


def legend(page: sync_api.Page) -> list[str]:
    """The federation plot's lines, as its legend names them."""
    return [s.inner_text() for s in page.locator("#fed-plot .plot-legend span").all()]


INTERACTION_S = 2.0  # the most a sort or filter of 1,000 molecules may take, click to repainted rows


def timed(page: sync_api.Page, action: Callable[[], None], done: str) -> float:
    """Seconds from ``action`` until the page's JavaScript expression ``done`` holds."""
    started = time.monotonic()
    action()
    page.wait_for_function(done, timeout=30_000)
    return time.monotonic() - started


def column_values(page: sync_api.Page, endpoint: str) -> list[float]:
    """The values of one endpoint column in the rows now in the DOM (the virtualised table's window)."""
    position = page.locator("#molecule-table th").all_inner_texts().index(endpoint) + 1
    cells = page.locator(f"#molecule-table tbody tr[data-row] td:nth-child({position})").all_inner_texts()
    return [float(cell.lstrip("<>")) for cell in cells]


def test_a_thousand_molecules_in_the_table_the_editor_and_atc_percentiles(server: tuple[str, str]) -> None:
    address, key = server
    drugs = approved_drugs().iloc[:250]
    # 1,000 rows: 250 drugs, each four times under its own name (the server profiles each distinct SMILES once).
    lines = [
        f"{smiles} {name.split()[0]}-{copy}"
        for copy in range(4)
        for smiles, name in zip(drugs["smiles"], drugs["name"], strict=True)
    ]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(accept_downloads=True, viewport={"width": 1400, "height": 1000})
        page.goto(f"{address}#key={key}")
        page.fill("#smiles-input", "\n".join(lines))
        page.click("#profile-button")
        page.wait_for_selector("#table-count:has-text('of 1000 molecules')", timeout=240_000)
        assert page.inner_text("#table-count").startswith("1000 of 1000")
        in_dom = page.locator("#molecule-table tbody tr[data-row]").count()
        assert 10 < in_dom < 100  # only the rows in view (and a margin) are drawn
        assert "click a row" in page.inner_text("#profiles")  # no 1,000 cards

        # Sort by an endpoint: largest first, then smallest first.
        first_herg = "document.querySelector('#molecule-table th.sorted[data-column=\"hERG\"]') !== null"
        took = timed(page, lambda: page.click("#molecule-table th[data-column='hERG']"), first_herg)
        values = column_values(page, "hERG")
        assert took < INTERACTION_S and values == sorted(values, reverse=True) and len(values) > 10
        ascending = "document.querySelector('th[data-column=\"hERG\"]').dataset.direction === 'ascending'"
        took = timed(page, lambda: page.click("#molecule-table th[data-column='hERG']"), ascending)
        assert took < INTERACTION_S and column_values(page, "hERG") == sorted(column_values(page, "hERG"))

        # Filter by a traffic light: only the rows whose hERG light is red are left.
        page.select_option("#table-light-endpoint", "hERG")
        filtered = "!document.querySelector('#table-count').textContent.startsWith('1000 of')"
        took = timed(page, lambda: page.select_option("#table-light", "red"), filtered)
        kept = int(page.inner_text("#table-count").split()[0])
        assert took < INTERACTION_S and 0 < kept < 1000
        position = page.locator("#molecule-table th").all_inner_texts().index("hERG") + 1
        lights = page.locator(f"#molecule-table tbody tr[data-row] td:nth-child({position})").evaluate_all(
            "cells => cells.map(cell => cell.className)"
        )
        assert lights and all("red" in light for light in lights)

        # The current view downloads as CSV: the filtered rows, in order, with each endpoint's light.
        with page.expect_download() as download_info:
            page.click("#table-download")
        view = pd.read_csv(download_info.value.path())
        assert len(view) == kept and set(view["hERG_light"]) == {"red"}
        assert list(view["hERG"]) == sorted(view["hERG"]) and "Lipinski" not in view and "molecular_weight" in view

        # The depiction on hover; the full card on click.
        row = page.locator("#molecule-table tbody tr[data-row]").nth(2)
        row.hover()
        page.wait_for_selector("#depiction-tip svg", state="visible", timeout=10_000)
        name = row.locator("td").nth(1).inner_text()
        row.click()
        page.wait_for_selector(f".molecule.selected h2:has-text('{name}')", timeout=10_000)
        assert page.locator(".molecule.selected .physchem tr[data-rule='Lipinski']").count() == 1

        # Endpoint checkboxes: an endpoint unticked leaves the table and the cards.
        page.click("#endpoint-chooser summary")
        page.uncheck("#endpoint-boxes input[data-endpoint='AMES']")
        assert "AMES" not in page.locator("#molecule-table th").all_inner_texts()
        assert page.locator(".molecule tr[data-endpoint='AMES']").count() == 0
        assert page.locator(".molecule tr[data-endpoint='hERG']").count() == 1
        page.check("#endpoint-boxes input[data-endpoint='AMES']")

        # Percentiles among one ATC class: they change when the class changes.
        page.fill("#smiles-input", f"{ASPIRIN} aspirin")
        page.click("#profile-button")
        page.wait_for_selector("#profile-status:has-text('all approved drugs')", timeout=60_000)
        shown = {}
        for code in ("", "N", "C"):
            if code:
                page.select_option("#atc-class", code)  # profiles again, against that class
                page.wait_for_selector(f"#profile-status:has-text('of ATC {code}')", timeout=60_000)
            shown[code] = page.locator(".molecule .percentile").all_inner_texts()
        assert shown["N"] != shown[""] and shown["C"] != shown["N"] and len(shown["N"]) == 5

        # The structure editor: a molecule drawn (through JSME's own API) is profiled.
        page.click("#editor-toggle")
        page.wait_for_selector("#editor-status:has-text('draw, or edit')", timeout=60_000)  # loaded, list read
        # It shows the list's first molecule to edit (JSME reads SMILES in a moment).
        page.wait_for_function("window.structureEditor.smiles() !== ''", timeout=30_000)
        assert Chem.CanonSmiles(page.evaluate("window.structureEditor.smiles()")) == Chem.CanonSmiles(ASPIRIN)
        page.evaluate("window.structureEditor.readGenericMolecularInput('c1ccccc1O')")
        page.click("#editor-profile")
        page.wait_for_selector(".molecule h2:has-text('drawn')", timeout=60_000)
        card = page.locator(".molecule").first
        assert "canonical SMILES: Oc1ccccc1" in card.inner_text()
        assert card.locator(".physchem tr[data-property='molecular_weight'] td.num").inner_text() == "94.11"
        browser.close()
