"""Shared helpers for the benchmark scripts: the machine, percentiles, JSON results."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
DEV_QUESTIONS = REPO / "eval" / "dev_questions.jsonl"
ARTICLE = REPO / "corpus" / "kim-russia-visit.txt"
PACKAGES = ("onnxruntime", "sentence-transformers", "torch", "faiss-cpu", "bm25s", "fastapi", "uvicorn")


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, load, Python and the versions that matter for the figures."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        ram_gb = round(pages / 1024**3, 1)
    except (ValueError, OSError):
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "-"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "versions": versions,
    }


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    """p50/p95/mean in milliseconds, rounded for tables."""
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(percentile(ms, 0.95), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "n": len(ms),
    }


def questions() -> list[str]:
    return [json.loads(line)["q"] for line in DEV_QUESTIONS.read_text().splitlines() if line.strip()]


def write_result(name: str, payload: dict[str, Any], out: Path | None) -> None:
    """Print the result and store it as ``benchmarks/results/<name>.json`` (or ``out``)."""
    payload = {"benchmark": name, "machine": machine(), **payload}
    text = json.dumps(payload, indent=2)
    target = out or RESULTS / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text + "\n")
    sys.stdout.write(text + "\n")


def rss_mb(pid: int | None = None) -> float:
    """Resident set size of a process (this one by default), in MB."""
    import psutil

    return round(float(psutil.Process(pid).memory_info().rss) / 1024**2, 1)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) a live process has used so far, in seconds."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def peak_rss_mb(pid: int | None = None) -> float | None:
    """The kernel's high-water mark of resident memory (VmHWM) of a live process, in MB."""
    try:
        for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None
