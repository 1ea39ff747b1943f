"""Build the Python-docs training corpus: the pages listed in pages.txt beside this script.

Usage::

    python eval/pydocs-train/prepare.py [--source DIR] OUT_DIR

The same copying as ``eval/pydocs/prepare.py`` (flat file names, symlinks resolved), with this
directory's page list as the default: 30 library and reference pages and 6 HOWTO and FAQ pages
(tutorial-style prose) that the held-out set (``eval/pydocs/pages.txt``) does not use, so
everything tuned on ``questions.jsonl`` here is measured on pages the held-out questions never
see. Standard library only.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

HERE: Path = Path(__file__).resolve().parent
PAGES: Path = HERE / "pages.txt"


def _held_out_prepare() -> ModuleType:
    # Loaded by path: this script is also called prepare.py, so a plain import would find itself.
    path = HERE.parent / "pydocs" / "prepare.py"
    spec = importlib.util.spec_from_file_location("pydocs_prepare", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not any(arg == "--pages" or arg.startswith("--pages=") for arg in args):
        args = ["--pages", str(PAGES), *args]
    result: int = _held_out_prepare().main(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
