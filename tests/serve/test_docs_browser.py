"""/docs in headless Chromium: Swagger UI reads the OpenAPI 3.1 schema, lists the operations, and a
"Try it out" call of /v1/predict with the API key (through the Authorize dialog) answers 200."""

import json

from playwright import sync_api

from tests.serve.test_browser import CHROMIUM, CHROMIUM_ARGS, server  # noqa: F401  (server: a fixture)


def test_docs_list_the_operations_and_try_it_out_profiles_a_molecule(server: tuple[str, str]) -> None:  # noqa: F811
    address, key = server
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        offline = []  # every request must stay on this server: no CDN
        page.on("request", lambda request: offline.append(request.url.startswith(address)))
        page.goto(f"{address}docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        assert page.locator("text=Unable to render this definition").count() == 0
        paths = set(page.locator(".opblock-summary-path").all_inner_texts())
        assert {"/v1/predict", "/v1/models", "/v1/jobs", "/healthz"} <= {p.replace("\u200b", "") for p in paths}

        page.click("button.authorize")
        dialog = page.locator(".auth-container", has_text="X-API-Key")
        dialog.locator("input").fill(key)
        dialog.locator("button.authorize").click()
        page.click("button.btn-done, button.close-modal")

        predict = page.locator(".opblock-post", has=page.locator(".opblock-summary-path", has_text="/v1/predict"))
        predict.locator(".opblock-summary").click()
        predict.locator("button.try-out__btn").click()
        body = {"smiles": ["CCO ethanol"], "endpoints": ["hERG"]}
        predict.locator("textarea.body-param__text").fill(json.dumps(body))
        predict.locator("button.execute").click()
        status = predict.locator(".live-responses-table tr.response .response-col_status").first
        status.wait_for(timeout=60_000)
        assert status.inner_text().strip() == "200"
        answer = predict.locator(".live-responses-table tr.response .response-col_description pre").first.inner_text()
        assert '"id": "ethanol"' in answer and '"hERG"' in answer
        assert all(offline), "a request left the server"
        browser.close()
