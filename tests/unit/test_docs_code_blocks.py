"""The code blocks of README.md and docs/*.md, read as tests/support/markdown.py reads them
for the e2e test that runs the README's first Python block in a user's server
(tests/e2e/test_readme.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.support.markdown import code_blocks, first_block
from tests.support.stack import REPO

README = REPO / "README.md"
DOCS = [README, *sorted((REPO / "docs").glob("*.md"))]
#: Languages of notebook code: it runs in a user's server, where localhost is not the front
#: door in every runtime (compose: the container itself).
NOTEBOOK_LANGUAGES = ("python", "r")
LOCALHOST = re.compile(r"\b(localhost|127\.0\.0\.1)\b")


def test_the_readme_python_block_ends_in_the_value_the_e2e_test_reads() -> None:
    block = first_block(README, "python")
    tree = ast.parse(block.code, filename=str(block))
    assert isinstance(tree.body[-1], ast.Expr), f"{block}: its last line is not an expression"
    assert "FRUIT_API_URL" in block.code


def test_notebook_code_in_the_docs_never_addresses_localhost() -> None:
    wrong = [
        f"{block}: {line.strip()}"
        for path in DOCS
        for block in code_blocks(path)
        if block.language in NOTEBOOK_LANGUAGES
        for line in block.code.splitlines()
        if LOCALHOST.search(line)
    ]
    assert wrong == [], "notebook code must use the server's $FRUIT_API_URL, not localhost"


def test_blocks_are_read_as_written(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Intro.\n\n```python\nx = 1\n\n  y = 2\n```\n\n"
        "1. In a list:\n\n   ```sh title\n   make up\n     --flag\n   ```\n\n"
        "~~~~r\nprint(1)\n```\n~~~~\n\n```\nplain\n```\n"
    )
    blocks = code_blocks(page)
    assert [(b.line, b.language) for b in blocks] == [
        (3, "python"),
        (11, "sh"),
        (16, "r"),
        (21, ""),
    ]
    assert [b.code for b in blocks] == [
        "x = 1\n\n  y = 2\n",
        "make up\n  --flag\n",
        "print(1)\n```\n",
        "plain\n",
    ]
    assert first_block(page, "sh").line == 11
    assert [b.line for b in code_blocks(page, "python")] == [3]
