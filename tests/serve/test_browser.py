"""End to end in headless Chromium: paste → profile, upload → progress → download, models and federation pages."""

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import uvicorn
from playwright import sync_api

from fedadmet.config import get_settings
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry
from fedadmet.serve.app import create_app
from fedadmet.serve.local_key import local_api_key
from tests.serve.test_api import molecules_csv

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


@pytest.fixture
def server(serve_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    monkeypatch.setenv("FEDADMET_JOB_CHUNK_ROWS", "10")  # several progress steps for the bar
    get_settings.cache_clear()
    settings = get_settings()
    key = local_api_key(settings)
    with open_registry(settings.registry_url).begin() as session:
        run = repository.start_run(session, "browser-run", "fedavg", True, {})
        for number in (1, 2, 3):
            scores = {p: {"valid_score": 0.4 + 0.05 * number + i / 100} for i, p in enumerate(["pharma_a", "uni_b"])}
            repository.record_round(session, run.id, number, ["pharma_a", "uni_b"], {"evaluate": scores})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(settings, serve_model_dir), host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not instance.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/", key
    instance.should_exit = True
    thread.join(timeout=30)


def test_chemist_workflow_in_a_real_browser(server: tuple[str, str], tmp_path: Path) -> None:
    address, key = server
    upload = tmp_path / "batch.csv"
    upload.write_bytes(molecules_csv(35))
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(accept_downloads=True)
        page.goto(f"{address}#key={key}")

        # Paste → profile with depiction, radar and percentile.
        page.fill("#smiles-input", "CC(=O)Oc1ccccc1C(=O)O aspirin\nc1ccccc1O phenol\nC1CC broken")
        page.click("#profile-button")
        page.wait_for_selector(".molecule >> nth=2", timeout=60_000)
        cards = page.locator(".molecule")
        assert cards.count() == 3
        first = cards.nth(0)
        assert "aspirin" in first.locator("h2").inner_text()
        assert first.locator(".depiction svg").count() == 1
        assert first.locator(".radar polygon.shape").count() == 1
        assert first.locator("tr[data-endpoint='hERG'] .dot").count() == 1
        percentile = first.locator("tr[data-endpoint='Solubility_AqSolDB'] .percentile").inner_text()
        assert percentile.endswith("%") and 0 <= int(percentile[:-1]) <= 100
        assert [h.inner_text() for h in first.locator(".groups h3").all()] == ["ABSORPTION", "TOXICITY"]
        assert "cannot parse" in cards.nth(2).inner_text() or "ring" in cards.nth(2).inner_text()

        # Upload → progress → download.
        page.click("nav button[data-page='batch']")
        page.set_input_files("#batch-file", str(upload))
        page.click("#batch-button")
        page.wait_for_selector("#batch-progress:not([hidden])", timeout=30_000)
        page.wait_for_selector("#batch-download:not([hidden])", timeout=120_000)
        assert page.locator("#batch-progress").evaluate("bar => bar.value") == 1
        assert "36 molecules, 1 with errors" in page.inner_text("#batch-status")
        with page.expect_download() as download_info:
            page.click("#batch-download")
        downloaded = pd.read_csv(download_info.value.path())
        assert len(downloaded) == 36 and "hERG" in downloaded.columns

        # Models page: registry entries with metrics and lineage.
        page.click("nav button[data-page='models']")
        page.wait_for_selector("#models-table tbody tr", timeout=30_000)
        models_text = page.inner_text("#models-table")
        assert "fedadmet-served (serving)" in models_text and "centralised" in models_text and "hERG" in models_text

        # Federation page: the run, and each partner's shared metric over rounds as a plot.
        page.click("nav button[data-page='federation']")
        page.wait_for_selector("#fed-plot svg polyline", timeout=30_000)
        assert page.locator("#fed-plot svg polyline").count() == 2
        assert "browser-run" in page.inner_text("#runs")
        browser.close()
