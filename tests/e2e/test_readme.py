"""The README's first code block, run as written in a notebook of a logged-in user's server.

The block is read from README.md itself (tests/support/markdown.py), never copied here, and
runs as one notebook cell in the reader's server: a container (compose) or a local process
(native); the e2e marker runs this test in both stack runs. Notebook code must reach the fruit
API at the address its server was given ($FRUIT_API_URL): inside a container, ``localhost`` is
not the front door, and a block that used it would fail here with httpx's ConnectError.
"""

from __future__ import annotations

from playwright.sync_api import Page

from tests.support.jupyterlab import results, run_as
from tests.support.markdown import first_block
from tests.support.stack import REPO, Stack

README = REPO / "README.md"

#: The next cell: what the block's last expression gave (IPython keeps it as ``_``).
REPORT = "import json\nprint('RESULT answer', json.dumps(_))\n"


def test_readme_python_block_runs_as_written_in_a_notebook(page: Page, stack: Stack) -> None:
    block = first_block(README, "python")
    try:
        outputs = run_as(page, stack, "reader", [block.code, REPORT])
    except AssertionError as e:
        # A cell that raises stops Run All before the sentinel: show what the notebook shows.
        shown = page.locator(".jp-OutputArea-output").all_inner_texts()
        raise AssertionError(
            f"{block} did not run as written in the reader's server ({stack.runtime} runtime): "
            f"{e}\nthe notebook's outputs: {shown}"
        ) from None
    assert not [o for o in outputs if "Traceback" in o], outputs
    answer = results(outputs).get("answer")
    assert isinstance(answer, dict), f"{block} did not end in the fruit API's answer: {outputs}"
    assert answer["kind"] == "usual" and "apple" in answer["fruits"], answer
