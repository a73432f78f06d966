"""Code blocks of the repository's Markdown files (README.md, docs/*.md), read from the files
themselves, so that a test runs what a reader copies, never a copy of it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: An opening fence (indented too: a block in a list item): three or more backticks or tildes,
#: then an info string whose first word is the language.
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*?)\s*$")


@dataclass(frozen=True)
class CodeBlock:
    path: Path
    line: int  # of the opening fence, 1-based
    language: str  # the info string's first word ("" without one)
    code: str

    def __str__(self) -> str:
        return f"{self.path.name}:{self.line} ({self.language or 'no language'})"


def code_blocks(path: Path, language: str | None = None) -> list[CodeBlock]:
    """The fenced code blocks of ``path`` in order (those of ``language`` only, if given),
    each with its code as written (the fence's indentation removed, as Markdown does)."""
    blocks: list[CodeBlock] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        info = opening["info"].split()
        closing = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not closing.match(lines[j]):
            line = lines[j]
            strip = min(indent, len(line) - len(line.lstrip(" ")))
            body.append(line[strip:])
            j += 1
        block = CodeBlock(path, i + 1, info[0] if info else "", "\n".join(body) + "\n")
        if language is None or block.language == language:
            blocks.append(block)
        i = j + 1
    return blocks


def first_block(path: Path, language: str) -> CodeBlock:
    """The first ``language`` block of ``path``; an AssertionError if it has none."""
    blocks = code_blocks(path, language)
    assert blocks, f"{path} has no ```{language} block"
    return blocks[0]
