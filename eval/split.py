"""Split a question file once, at random, into train and test halves (stratified by category).

    python eval/split.py eval/article/questions.jsonl --seed 20261130

writes ``train.jsonl`` and ``test.jsonl`` beside the input and records the seed and counts in
``split.json``. Run once: tuning reads train only; figures are reported on test. Re-running with
the same seed and questions reproduces the same split.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", type=Path)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--test-share", type=float, default=0.5)
    args = parser.parse_args(argv)
    lines = [line for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_category: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        by_category[json.loads(line).get("category", "none")].append(line)
    rng = random.Random(args.seed)
    train: list[str] = []
    test: list[str] = []
    for category in sorted(by_category):
        items = by_category[category]
        rng.shuffle(items)
        cut = round(len(items) * args.test_share)
        test += items[:cut]
        train += items[cut:]
    folder = args.questions.parent
    (folder / "train.jsonl").write_text("\n".join(train) + "\n", encoding="utf-8")
    (folder / "test.jsonl").write_text("\n".join(test) + "\n", encoding="utf-8")
    record = {
        "source": args.questions.name,
        "seed": args.seed,
        "test_share": args.test_share,
        "train": len(train),
        "test": len(test),
    }
    (folder / "split.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(record))


if __name__ == "__main__":
    main()
