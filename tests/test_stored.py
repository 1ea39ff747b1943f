"""Index stamps and stored spans (``qa.index.stored``): pure logic, no Milvus needed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from qa.config import ChunkingSettings, EmbeddingSettings, Settings
from qa.corpus import segmentation
from qa.corpus.chunking import build_chunks, sentences_of
from qa.corpus.documents import Document, parse_document, read_document
from qa.index import manifest
from qa.index.stored import StoredDocument, index_stamp, index_tag, is_current
from tests.conftest import ARTICLE, REPO

PYDOCS = Path("/usr/share/doc/python3.11/html/library")
WRAPPING = """# Text wrapping

## width

(default: 70) The maximum length of wrapped lines. Longer words are broken.

- (see bpo-17482) Tabs are expanded first.
- Spaces are kept.

```
wrapper = TextWrapper(width=70)
```
"""


def stored_and_back(document: Document, splitter_joins_fragments: bool = True) -> StoredDocument:
    """``document`` through the JSON a Milvus documents row holds, split as a format did."""
    with pytest.MonkeyPatch.context() as patch:
        if not splitter_joins_fragments:  # before format 5 a fragment was a sentence of its own
            patch.setattr(segmentation, "_join_fragments", lambda text, spans: spans)
        sentences = sentences_of([document])
    chunks = build_chunks([document], sentences, 3, 1)
    return StoredDocument.from_json(StoredDocument.of(document, sentences, chunks).to_json())


def test_a_stamp_is_current_only_under_the_format_model_and_chunking_it_was_written_under(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings()
    content = hashlib.sha256(b"some text").hexdigest()
    tag = index_tag(settings)
    stamp = index_stamp(content, tag)
    assert len(stamp) == 64 and is_current(stamp, tag)
    assert index_stamp(content, index_tag(Settings())) == stamp
    assert index_stamp(hashlib.sha256(b"other text").hexdigest(), tag) != stamp
    assert not is_current(content, tag)  # a row written before stamps: the bare content hash
    others = [
        index_tag(settings.model_copy(update={"embedding": EmbeddingSettings(model_id="another-model")})),
        index_tag(settings.model_copy(update={"chunking": ChunkingSettings(sentences_per_chunk=4)})),
    ]
    monkeypatch.setattr(manifest, "FORMAT_VERSION", manifest.FORMAT_VERSION - 1)
    others.append(index_tag(settings))
    assert len(set(others)) == 3 and tag not in others
    assert not any(is_current(stamp, other) for other in others)


@pytest.mark.parametrize(
    "path",
    [
        ARTICLE,
        REPO / "tests" / "data" / "systemd-hacking.md",
        PYDOCS / "textwrap.html",
        PYDOCS / "graphlib.html",
        PYDOCS / "stdtypes.html",
    ],
    ids=lambda path: path.name,
)
def test_stored_sentences_split_again_exactly_as_the_file_splits(path: Path) -> None:
    if not path.is_file():
        pytest.skip(f"{path} is not installed (python3.11-doc)")
    document = read_document(path)
    stored = stored_and_back(document)
    assert stored.document.blocks == ()  # blocks are not stored: they are found again
    again = stored.to_split_again()
    assert bool(again.blocks) == bool(document.blocks)
    assert sentences_of([again]) == sentences_of([document])


def test_sentences_an_older_format_stored_are_split_by_the_current_rules() -> None:
    document = parse_document("wrapping", WRAPPING, "wrapping.md", markdown=True)
    older = stored_and_back(document, splitter_joins_fragments=False)
    assert "(default: 70)" in [document.text[start:end] for start, end, *_ in older.sentences]
    again = sentences_of([older.to_split_again()])
    assert again == sentences_of([document])
    texts = {sentence.text: sentence for sentence in again}
    assert texts["(default: 70) The maximum length of wrapped lines."].section == "width"
    assert texts["(see bpo-17482) Tabs are expanded first."].kind == "item"
    assert texts["wrapper = TextWrapper(width=70)"].kind == "code"
