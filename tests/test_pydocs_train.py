"""The Python-docs training set: its pages are disjoint from the held-out set's, its prepare
script copies exactly its own pages, and every question passes the held-out set's validator.

Only file lists and the training questions are read here: the held-out questions are never
opened (they are reported, never tuned on; docs/evaluation.md).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from qa.corpus.documents import load_corpus
from qa.eval.items import EvidenceLocator, load_items
from tests.conftest import REPO

PYDOCS = Path("/usr/share/doc/python3.11/html")
needs_pydocs = pytest.mark.skipif(
    not PYDOCS.is_dir(), reason="python3.11-doc is not installed (apt-get install python3.11-doc)"
)
TRAIN = REPO / "eval" / "pydocs-train"
HELD_OUT = REPO / "eval" / "pydocs"


def script(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_pages_are_not_held_out_pages() -> None:
    prepare = script(HELD_OUT / "prepare.py", "pydocs_prepare_for_test")
    train = prepare.read_page_list(TRAIN / "pages.txt")
    held_out = prepare.read_page_list(HELD_OUT / "pages.txt")
    assert len(train) == len(set(train)) >= 30
    assert not set(train) & set(held_out)


@needs_pydocs
def test_prepare_copies_exactly_the_training_pages(tmp_path: Path) -> None:
    prepare = script(TRAIN / "prepare.py", "pydocs_train_prepare_for_test")
    assert prepare.main([str(tmp_path)]) == 0
    pages = script(HELD_OUT / "prepare.py", "pydocs_prepare_for_names").read_page_list(TRAIN / "pages.txt")
    expected = {page.replace("/", "-") for page in pages}
    assert {p.name for p in tmp_path.iterdir()} == expected
    assert not any(p.is_symlink() for p in tmp_path.iterdir())
    source = (PYDOCS / "library" / "graphlib.html").read_bytes()
    assert (tmp_path / "library-graphlib.html").read_bytes() == source


@needs_pydocs
def test_training_questions_pass_the_validator_and_their_evidence_is_in_the_corpus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    validate = script(HELD_OUT / "validate.py", "pydocs_validate_for_test")
    questions = TRAIN / "questions.jsonl"
    assert validate.main(["--pages", str(TRAIN / "pages.txt"), "--questions", str(questions)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("OK")

    # The evaluator finds every evidence string in the document text the index is built from.
    assert script(TRAIN / "prepare.py", "pydocs_train_prepare_for_corpus").main([str(tmp_path)]) == 0
    documents = {d.doc_id: d for d in load_corpus(tmp_path)}
    locator = EvidenceLocator(documents)
    items = load_items(questions)
    assert sum(item.unanswerable for item in items) >= 15 and len(items) >= 60
    for item in items:
        if not item.unanswerable:
            found = locator.spans(item.evidence, item.doc_id)
            assert found and all(doc_id == item.doc_id for doc_id, _, _ in found), item.id
