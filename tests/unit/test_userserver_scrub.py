"""userserver.scrub: no JWT survives a save, wherever an output holds it; the rest is kept."""

from __future__ import annotations

import copy
import json
import logging

import jwt
import nbformat
import pytest

from userserver.scrub import PLACEHOLDER, make_pre_save_hook, scrub_notebook, scrub_text

TOKEN = jwt.encode(
    {"aud": "fruit-api", "scope": "fruits:read", "sub": "0c5d-reader", "exp": 2_000_000_000},
    "k" * 32,
)
NOT_TOKENS = [
    "eyJhbGciOi",  # a JWT's first characters only
    "abc.def.ghi",
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA",
    "<AccessToken audience='fruit-api' scope='fruits:read' expires_at=2026-11-29T10:00:00Z>",
]


def notebook(*outputs, widgets=None) -> dict:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(token.value)")
    cell.outputs = [nbformat.from_dict(output) for output in outputs]
    nb.cells.append(cell)
    if widgets is not None:
        nb.metadata["widgets"] = widgets
    return json.loads(nbformat.writes(nb))


def saved_text(nb: dict) -> str:
    return json.dumps(nb)


@pytest.mark.parametrize(
    "output",
    [
        {"output_type": "stream", "name": "stdout", "text": f"{TOKEN}\n"},
        {"output_type": "stream", "name": "stdout", "text": ["Bearer ", f"{TOKEN}\n"]},
        {
            "output_type": "execute_result",
            "execution_count": 1,
            "metadata": {},
            "data": {"text/plain": [f"'{TOKEN}'"]},
        },
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {"text/html": [f"<pre>{TOKEN[:40]}", f"{TOKEN[40:]}</pre>"]},
        },
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {"application/json": {"tokens": [{"access_token": TOKEN}], "n": 1}},
        },
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {"application/vnd.custom+json": {"value": f"Bearer {TOKEN}"}},
        },
        {
            "output_type": "error",
            "ename": "ValueError",
            "evalue": f"bad token {TOKEN}",
            "traceback": [f"ValueError: bad token {TOKEN}"],
        },
    ],
    ids=["stream", "stream-lines", "text/plain", "text/html-split", "json", "+json", "error"],
)
def test_a_token_is_removed_wherever_an_output_holds_it(output):
    nb = notebook(output)
    assert scrub_notebook(nb) >= 1
    assert TOKEN not in saved_text(nb) and PLACEHOLDER in saved_text(nb)
    nbformat.validate(nbformat.reads(saved_text(nb), as_version=4))


def test_a_token_printed_in_two_writes_is_found_whole():
    half = len(TOKEN) // 2
    nb = notebook(
        {"output_type": "stream", "name": "stdout", "text": TOKEN[:half]},
        {"output_type": "stream", "name": "stdout", "text": TOKEN[half:] + "\n"},
        {"output_type": "stream", "name": "stderr", "text": "a warning\n"},
    )
    assert scrub_notebook(nb) == 1
    outputs = nb["cells"][0]["outputs"]
    assert [o["name"] for o in outputs] == ["stdout", "stderr"]  # merged as JupyterLab shows
    assert "".join(outputs[0]["text"]) == PLACEHOLDER + "\n"
    assert TOKEN[:half] not in saved_text(nb) and TOKEN[half:] not in saved_text(nb)


def test_widget_state_is_scrubbed():
    state = {
        "application/vnd.jupyter.widget-state+json": {
            "state": {"m1": {"state": {"value": TOKEN, "description": "token"}}},
            "version_major": 2,
            "version_minor": 0,
        }
    }
    nb = notebook(widgets=state)
    assert scrub_notebook(nb) == 1 and TOKEN not in saved_text(nb)
    model = nb["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]
    assert model["state"]["m1"]["state"]["description"] == "token"


def test_two_tokens_in_one_json_list_are_both_removed():
    nb = notebook(
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {"application/json": [TOKEN, TOKEN.replace("eyJ", "eyJx", 1)]},
        }
    )
    assert scrub_notebook(nb) == 2
    assert nb["cells"][0]["outputs"][0]["data"]["application/json"] == [PLACEHOLDER] * 2


@pytest.mark.parametrize("text", NOT_TOKENS)
def test_what_is_not_a_token_is_kept(text):
    assert scrub_text(text) == (text, 0)
    output = {"output_type": "stream", "name": "stdout", "text": [text + "\n", "next\n"]}
    nb = notebook(output)
    before = copy.deepcopy(nb)
    assert scrub_notebook(nb) == 0 and nb == before


def test_the_hook_changes_notebooks_only_and_says_so(caplog):
    hook = make_pre_save_hook(logging.getLogger("test.scrub"))
    text_file = {"type": "file", "format": "text", "content": TOKEN}
    hook(model=text_file, path="notes.txt", contents_manager=None)
    assert text_file["content"] == TOKEN  # a file the user writes is theirs
    model = {
        "type": "notebook",
        "content": notebook({"output_type": "stream", "name": "stdout", "text": TOKEN}),
    }
    with caplog.at_level(logging.INFO):
        hook(model=model, path="work/demo.ipynb", contents_manager=None)
    assert TOKEN not in saved_text(model["content"])
    assert "removed 1 token(s) from work/demo.ipynb" in caplog.text
