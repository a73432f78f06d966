"""The R demo notebook in the user image (compose: the native runtime has no R): the reader
runs it in JupyterLab, lists the usual fruits through hubtokens::bearer(), and is refused
fruits:write with an R condition of class hubtokens_scope_not_allowed and the broker's
message."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.support.jupyterlab import CELL_TIMEOUT, login, open_notebook, run_all, wait_for_lab
from tests.support.stack import Stack

NOTEBOOK = "fruits-demo-r.ipynb"


def test_r_demo_notebook_lists_fruits_and_explains_a_missing_scope(
    page: Page, compose_stack: Stack
) -> None:
    login(page, compose_stack, "reader")
    wait_for_lab(page, "reader")
    open_notebook(page, compose_stack, "reader", NOTEBOOK)
    expect(page.get_by_role("button", name="R | Idle")).to_be_visible(timeout=CELL_TIMEOUT)
    run_all(page)
    outputs = page.locator(".jp-OutputArea-output")
    expect(outputs.filter(has_text="usual fruits:")).to_contain_text(
        "apple banana pear", timeout=CELL_TIMEOUT
    )
    refused = outputs.filter(has_text="Not allowed:")
    expect(refused).to_contain_text("fruits:write", timeout=CELL_TIMEOUT)
    expect(refused).to_contain_text("fruit-writer")
    expect(outputs.filter(has_text="fruits:read granted: TRUE")).to_be_visible()
    expect(outputs.filter(has_text="fruits:write granted: FALSE")).to_be_visible()
    page.screenshot(path="test-results/reader-r-demo-notebook.png", full_page=True)
