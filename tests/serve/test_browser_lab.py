"""The design and campaign pages in headless Chromium (the lab's pages: design runs and campaigns)."""

import tomllib
from pathlib import Path

import pytest
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
        shown = cards.nth(0).inner_text().split("score ", 1)[1].split()[0]  # 3 significant digits
        assert float(shown) == pytest.approx(best.score, rel=0.01, abs=0.005)
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


POOL = [
    "CCO",
    "c1ccccc1O",
    "CC(=O)Oc1ccccc1C(=O)O",
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
    "c1ccc2c(c1)cccc2",
    "CCN(CC)CC",
    "Oc1ccc(cc1)C(=O)O",
    "CCCCCCCCO",
    "c1ccncc1",
    "CC(=O)Nc1ccc(O)cc1",
    "OC(=O)c1ccccc1",
]
SPEC = (
    '{"objective": {"terms": [{"column": "pIC50", "goal": "maximize", "low": 4, "high": 8},'
    ' {"column": "selectivity", "goal": "maximize", "low": 0, "high": 2}]}, "strategy": "greedy", "batch_size": 3}'
)


def test_campaign_page_creates_takes_in_results_and_the_curve_updates(
    server: tuple[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    address, key = server
    pool = tmp_path / "pool.csv"
    pool.write_text("compound_id,smiles\n" + "".join(f"C{i:02d},{s}\n" for i, s in enumerate(POOL)))
    first = tmp_path / "first.csv"  # six compounds measured before the first round
    first.write_text(
        "compound_id,endpoint,value\n"
        + "".join(f"C{i:02d},pIC50,{5 + i * 0.2}\nC{i:02d},selectivity,{1.5 - i * 0.2}\n" for i in range(6))
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{address}#key={key}")
        page.click("nav button[data-page='campaigns']")
        page.click("#campaign-new summary")
        page.fill("#campaign-name", "browser-campaign")
        page.set_input_files("#campaign-pool", str(pool))
        page.fill("#campaign-spec", SPEC)
        page.click("#campaign-create")
        page.wait_for_selector(".campaign[data-campaign='browser-campaign'].selected", timeout=60_000)
        assert "12 molecules" in page.locator("#campaign-status").inner_text()
        assert "no results taken in yet" in page.locator("#campaign-best").inner_text()

        page.set_input_files("#campaign-results", str(first))
        page.click("#campaign-upload")
        page.wait_for_selector("#campaign-best polyline[data-series='best so far']", state="attached")
        assert "12 value(s) stored of 12 row(s)" in page.locator("#campaign-status").inner_text()
        assert len(page.locator("#campaign-best polyline").get_attribute("points").split()) == 1
        assert page.locator("#campaign-pareto circle.point").count() == 6  # every compound measured in both
        assert page.locator("#campaign-pareto circle.point.front").count() >= 1

        page.click("#campaign-propose")
        page.wait_for_selector("#campaign-picks tbody tr >> nth=2", timeout=60_000)
        picks = page.locator("#campaign-picks tbody tr")
        assert picks.count() == 3 and picks.nth(0).locator("td.depiction svg").count() == 1
        picked = [row.get_attribute("data-compound") for row in picks.all()]
        assert not set(picked) & {f"C{i:02d}" for i in range(6)}  # measured compounds are never proposed

        second = tmp_path / "second.csv"  # the lab's results for the picks, one of them the best yet; one bad row
        rows = [f"{c},pIC50,{7.5 if n == 0 else 5.1}\n{c},selectivity,1.9\n" for n, c in enumerate(picked)]
        second.write_text("compound_id,endpoint,value\n" + "".join(rows) + "C99,pIC50,6\n")
        page.set_input_files("#campaign-results", str(second))
        page.click("#campaign-upload")
        page.wait_for_function(
            "document.querySelector('#campaign-best polyline').getAttribute('points').trim().split(' ').length === 2"
        )
        status = page.locator("#campaign-status").inner_text()
        assert "6 value(s) stored of 7 row(s)" in status and "row 7" in status and "C99" in status
        assert page.locator("#campaign-calibration circle.point").count() == 10  # observed against expected coverage
        assert "6 measured pick value(s)" in page.locator("#campaign-calibration h3").inner_text()
        measured = page.locator(f"#campaign-picks tr[data-compound='{picked[0]}']").inner_text()
        assert "/ 7.50" in measured
        browser.close()
