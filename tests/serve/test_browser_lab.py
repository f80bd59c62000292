"""The design and campaign pages in headless Chromium (the lab's pages: design runs and campaigns)."""

import tomllib
from pathlib import Path

from playwright import sync_api

from fedadmet.config import get_settings
from fedadmet.design.objective import parse_objective
from fedadmet.workflows import design
from fedadmet.workflows.keys import check_key
from fedadmet.workflows.store import open_store
from tests.design.conftest import OBJECTIVE_TOML, TERFENADINE
from tests.serve.test_browser import CHROMIUM, CHROMIUM_ARGS, server  # noqa: F401  (the running app)


def test_design_page_shows_the_best_molecules_their_profiles_and_the_score_plot(
    server: tuple[str, str],  # noqa: F811
    serve_model_dir: Path,
) -> None:
    address, key = server
    caller = check_key(open_store(get_settings().registry_url), key)
    run = design.run_design(
        [TERFENADINE],
        parse_objective(tomllib.loads(OBJECTIVE_TOML)),
        budget=24,
        seed=1,
        name="browser-design",
        model=serve_model_dir,
        user_id=caller.id,
    )
    best = run.ranked()[0]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{address}#key={key}")
        page.click("nav button[data-page='design']")
        page.wait_for_selector(f".design-run[data-run='{run.id}'].selected")
        assert "browser-design" in page.locator(f".design-run[data-run='{run.id}']").inner_text()
        page.wait_for_selector(".design-molecule .depiction svg", timeout=60_000)
        cards = page.locator(".design-molecule")
        assert 1 <= cards.count() <= 6
        assert cards.nth(0).get_attribute("data-smiles") == best.smiles  # best first
        assert f"score {best.score:.2f}" in cards.nth(0).inner_text()
        # The plot: best score so far per generation (and the population's mean), one point per generation.
        plot = page.locator("#design-plot svg")
        assert plot.count() == 1
        best_line = plot.locator("polyline[data-series='best so far']")
        assert len(best_line.get_attribute("points").split()) == len(run.generations)
        assert page.locator("#design-plot .plot-legend").inner_text().count("population mean") == 1
        # Profiles beside the starting molecule's: goals first, one column per molecule.
        header = page.locator("#design-profiles thead th").all_inner_texts()
        assert header[:2] == ["endpoint", "start 1"] and header[2] == "design 1"
        assert len(header) == 2 + cards.count()
        first_rows = page.locator("#design-profiles tbody tr").all()
        assert [row.get_attribute("data-endpoint") for row in first_rows[:2]] == ["hERG", "Solubility_AqSolDB"]
        assert len(first_rows[0].locator("td").all()) == len(header)
        browser.close()
