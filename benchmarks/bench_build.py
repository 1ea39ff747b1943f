"""Index build at scale: the Python docs (tutorial + library + reference), FAISS and Milvus.

Prepares the corpus with ``eval/pydocs/prepare.py`` (Debian's python3.11-doc), then:

1. raw ONNX throughput: the build embedder (every core) on article sentences in batches, the
   ceiling a build can reach (what ``bench_embed.py`` measures with ``--threads 0``);
2. ``qa index build`` (FAISS) in process with the build embedder: wall time, sentences/s, the
   embedding throughput inside the build (texts / time spent in the model) as a share of (1),
   peak RSS, index size on disk;
3. answer p50 over the pydocs questions on that index;
4. Milvus: a Milvus Lite server filled from the corpus (vectors copied from the FAISS build,
   as ``qa index build`` does), its fill time, and answer p50 through Milvus.

    python benchmarks/bench_build.py --all               # every page: long (tens of minutes)
    python benchmarks/bench_build.py --pages 2 --out /tmp/b.json   # seconds; what the test runs
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_embed import sentences as article_sentences
from benchmarks.common import REPO, peak_rss_mb, summary_ms, write_result

PYDOCS = REPO / "eval" / "pydocs"


SAMPLE_TEXTS = 2000  # build texts kept to measure raw throughput on the same mix of lengths


class TimedEmbedder:
    """Counts texts and time spent in the model during a build, and keeps a sample of them."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.texts = 0
        self.seconds = 0.0
        self.sample: list[str] = []

    @property
    def model_id(self) -> str:
        return str(self.inner.model_id)

    @property
    def dimension(self) -> int:
        return int(self.inner.dimension)

    def embed(self, texts: list[str]) -> Any:
        self.sample.extend(texts[: SAMPLE_TEXTS - len(self.sample)])
        started = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.seconds += time.perf_counter() - started
            self.texts += len(texts)


def prepare(out: Path, all_pages: bool, pages: int | None) -> int:
    command = [sys.executable, str(PYDOCS / "prepare.py"), *(["--all"] if all_pages else []), str(out)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    files = sorted(out.iterdir())
    if pages is not None:
        for extra in files[pages:]:
            extra.unlink()
        files = files[:pages]
    return len(files)


def answer_p50(settings: Any, questions: list[str], rounds: int) -> dict[str, float]:
    from qa.pipeline import QAPipeline

    pipeline = QAPipeline.load(settings)
    for question in questions[:5]:
        pipeline.ask(question)  # warm-up
    times = []
    for _ in range(rounds):
        for question in questions:
            started = time.perf_counter()
            pipeline.ask(question)
            times.append(time.perf_counter() - started)
    return summary_ms(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--all", action="store_true", help="Every tutorial/library/reference page.")
    parser.add_argument("--pages", type=int, default=None, help="Keep only the first N pages.")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--questions", type=int, default=None, help="Ask only the first N questions.")
    parser.add_argument("--raw-texts", type=int, default=2048)
    parser.add_argument("--no-milvus", action="store_true")
    parser.add_argument("--model-cache", type=Path, default=REPO / "index" / "models")
    parser.add_argument("--milvus-uri", default=None, help="Use this Milvus server (else start one).")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    import json

    from qa.config import EmbeddingSettings, IndexSettings, MilvusSettings, Settings
    from qa.embedding.factory import make_build_embedder
    from qa.index import build_index, read_manifest

    lines = (PYDOCS / "questions.jsonl").read_text().splitlines()
    questions = [json.loads(line)["q"] for line in lines if line.strip()][: args.questions]
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="qa-bench-build-") as tmp:
        root = Path(tmp)
        corpus, index = root / "corpus", root / "index"
        corpus.mkdir()
        result["pages"] = prepare(corpus, args.all, args.pages)
        settings = Settings(
            corpus_dir=corpus,
            index_dir=index,
            embedding=EmbeddingSettings(cache_dir=args.model_cache),
            database_url=f"sqlite:///{root / 'qa.db'}",
        )
        embedder = make_build_embedder(settings)
        texts = article_sentences(args.raw_texts)
        embedder.embed(texts[:64])
        started = time.perf_counter()
        embedder.embed(texts)
        raw = len(texts) / (time.perf_counter() - started)
        result["raw_onnx_texts_per_s_all_cores"] = round(raw, 1)

        timed = TimedEmbedder(embedder)
        started = time.perf_counter()

        def report(stage: str, done: int, total: int) -> None:
            if done == total or done % 10 == 0:
                elapsed = time.perf_counter() - started
                print(f"{stage}: {done}/{total} ({elapsed:.0f} s)", file=sys.stderr, flush=True)

        path = build_index(settings, timed, report, on_skip=lambda p, r: None)
        seconds = time.perf_counter() - started
        counts = read_manifest(index).counts
        in_build = timed.texts / timed.seconds if timed.seconds else 0.0
        # Article sentences are shorter than a build's mix (sentences, sentence pairs, chunks):
        # the fair ceiling is raw throughput on the build's own texts, in one large call.
        started_same = time.perf_counter()
        embedder.embed(timed.sample)
        raw_same = len(timed.sample) / (time.perf_counter() - started_same)
        result["raw_onnx_texts_per_s_build_texts"] = round(raw_same, 1)
        result["faiss_build"] = {
            "documents": counts.documents,
            "sentences": counts.sentences,
            "chunks": counts.chunks,
            "texts_embedded": timed.texts,
            "seconds": round(seconds, 1),
            "sentences_per_s": round(counts.sentences / seconds, 1),
            "embedding_texts_per_s": round(in_build, 1),
            "share_of_raw_throughput": round(in_build / raw, 3),
            "share_of_raw_on_build_texts": round(in_build / raw_same, 3),
            "index_mb": round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1024**2, 1),
            "peak_rss_mb": peak_rss_mb(),
        }
        del embedder, timed
        result["faiss_answer"] = answer_p50(settings, questions, args.rounds)

        if not args.no_milvus:
            from qa.index.milvus import MilvusIndex
            from qa.index.milvus_search import build_milvus
            from tests.milvus_server import milvus_server, new_prefix

            with contextlib.ExitStack() as stack:
                uri = args.milvus_uri or stack.enter_context(
                    milvus_server(root / "milvus", root / "milvus.log")
                )
                prefix = MilvusSettings(uri=uri, collection_prefix=new_prefix())
                milvus_settings = settings.model_copy(
                    update={"index": IndexSettings(backend="milvus"), "milvus": prefix}
                )
                started = time.perf_counter()
                filled = build_milvus(milvus_settings, make_build_embedder(milvus_settings))
                result["milvus_fill"] = {**filled, "seconds": round(time.perf_counter() - started, 1)}
                result["milvus_answer"] = answer_p50(milvus_settings, questions, args.rounds)
                data = root / "milvus"  # measured before the drop (None with --milvus-uri)
                result["milvus_fill"]["data_mb"] = (
                    round(sum(f.stat().st_size for f in data.rglob("*") if f.is_file()) / 1024**2, 1)
                    if data.exists()
                    else None
                )
                MilvusIndex(milvus_settings).drop()
        shutil.rmtree(index, ignore_errors=True)
    result["questions"] = len(questions)
    write_result("build", result, args.out)


if __name__ == "__main__":
    main()
