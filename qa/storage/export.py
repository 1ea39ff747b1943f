"""``qa feedback export``: feedback as CSV or JSON Lines, read straight from the store."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from pathlib import Path
from typing import TextIO

from qa.errors import StorageError
from qa.storage.records import FeedbackRecord
from qa.storage.sql import SQLStore, engine_url


async def _read(url: str) -> list[FeedbackRecord]:
    store = SQLStore(url)
    try:
        await store.open()
        return await store.feedback()
    finally:
        await store.close()


def write_feedback(records: list[FeedbackRecord], fmt: str, stream: TextIO) -> None:
    fields = list(FeedbackRecord.model_fields)
    if fmt == "csv":
        writer = csv.DictWriter(stream, fieldnames=fields)
        writer.writeheader()
        for record in records:
            writer.writerow(record.model_dump())
    else:
        for record in records:
            stream.write(json.dumps(record.model_dump(), ensure_ascii=False) + "\n")


def export_feedback(url: str, fmt: str, output: Path | None) -> int:
    """Write every feedback record to ``output`` (stdout when None); returns how many."""
    target = engine_url(url)
    path = target.database or ""
    if target.get_backend_name() == "sqlite" and path not in ("", ":memory:") and not Path(path).is_file():
        raise StorageError(f"No database at {path}; nothing has been recorded yet.")
    records = asyncio.run(_read(url))
    if output is None:
        write_feedback(records, fmt, sys.stdout)
    else:
        with output.open("w", encoding="utf-8", newline="") as stream:
            write_feedback(records, fmt, stream)
    return len(records)
