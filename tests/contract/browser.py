"""Swagger UI in a real browser, as a newcomer uses it: Debian's headless chromium via Playwright.

    python browser.py BASE_URL TOKEN CHROMIUM_PATH SCREENSHOT_PATH

Opens /docs/, authorizes with the token, runs "Try it out" on GET /v1/whoami and on the
number-check create example, and expects a 2xx shown in the page for both and no console error.
The whole page is kept as a screenshot whatever happens, and each operation tried beside it
(`swagger-ui-whoami.png`, ...), for the CI artifacts.
"""

import re
import sys

from playwright.sync_api import expect, sync_playwright

TIMEOUT_MS = 30_000


def authorize(page, token):
    page.locator("button.authorize").first.click()
    scheme = page.locator(".auth-container").filter(has_text="bearer")
    scheme.locator("input").fill(token)
    scheme.locator("button.authorize").click()
    expect(scheme.locator("h6")).to_have_text("Authorized")
    scheme.locator("button.btn-done").click()


def try_it_out(page, method, path, screenshot):
    operation = page.locator(f".opblock-{method}").filter(
        has=page.locator(f'.opblock-summary-path[data-path="{path}"]')
    )
    operation.locator(".opblock-summary").first.click()
    expect(operation.locator(".opblock-body")).to_be_visible()
    execute = operation.locator("button.execute")
    # The gateway's Swagger UI opens operations with "Try it out" already on (`tryItOutEnabled`).
    if not execute.is_visible():
        operation.locator("button.try-out__btn").click()
    execute.click()
    status = operation.locator(".live-responses-table .response .response-col_status").first
    expect(status).to_have_text(re.compile(r"^\s*\d{3}"))
    code = status.inner_text().strip()[:3]
    operation.screenshot(path=screenshot)
    if not code.startswith("2"):
        body = operation.locator(".live-responses-table .response .response-col_description").inner_text()
        raise AssertionError(f"{method.upper()} {path}: the page shows {code}: {body}")
    print(f"{method.upper()} {path}: {code} in the page")


def beside(screenshot, name):
    """`swagger-ui.png` → `swagger-ui-NAME.png`: one operation with its answer."""
    stem, dot, extension = screenshot.rpartition(".")
    return f"{stem}-{name}{dot}{extension}"


def main():
    base_url, token, chromium, screenshot = sys.argv[1:5]
    console_errors = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
        page.on("pageerror", lambda e: console_errors.append(str(e)))
        try:
            page.goto(f"{base_url}/docs/")
            expect(page.locator(".information-container .title")).to_contain_text("WhatsApp vendor gateway")
            authorize(page, token)
            try_it_out(page, "get", "/v1/whoami", beside(screenshot, "whoami"))
            try_it_out(page, "post", "/v1/number-checks", beside(screenshot, "number-checks"))
        finally:
            page.screenshot(path=screenshot, full_page=True)
            browser.close()
    if console_errors:
        sys.exit("console errors:\n" + "\n".join(console_errors))
    print(f"no console errors; screenshot {screenshot}")


if __name__ == "__main__":
    main()
