"""Build the Python-docs evaluation corpus from Debian's python3.11-doc package.

Usage::

    python eval/pydocs/prepare.py [--source DIR] [--pages FILE] [--all] OUT_DIR

Each selected page is copied into OUT_DIR as a flat file named by its path
relative to the HTML root with '/' replaced by '-', so
``tutorial/datastructures.html`` becomes ``tutorial-datastructures.html`` and
its doc_id is ``tutorial-datastructures``. Symlinks are resolved: the file
content is copied, never the link.

By default the pages listed in pages.txt (beside this script) are copied;
``--all`` copies every .html page under tutorial/, library/ and reference/
instead (for scale benchmarks). Standard library only.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

DEFAULT_SOURCES: tuple[Path, ...] = (
    Path("/usr/share/doc/python3.11/html"),
    Path("/usr/share/doc/python3.11-doc/html"),
)
DEFAULT_PAGES: Path = Path(__file__).resolve().parent / "pages.txt"
ALL_SECTIONS: tuple[str, ...] = ("tutorial", "library", "reference")
NOT_INSTALLED: str = "error: python3.11-doc is not installed (apt-get install python3.11-doc)"


def find_source() -> Path | None:
    """Return the first default HTML root that exists, or None."""
    for candidate in DEFAULT_SOURCES:
        if candidate.is_dir():
            return candidate
    return None


def read_page_list(pages_file: Path) -> list[str]:
    """Relative page paths from a list file: one per line, '#' comments and blanks skipped."""
    pages: list[str] = []
    for raw in pages_file.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            pages.append(line)
    return pages


def all_pages(source: Path) -> list[str]:
    """Every .html page under the tutorial, library and reference sections."""
    pages: list[str] = []
    for section in ALL_SECTIONS:
        root = source / section
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*.html")):
            pages.append(path.relative_to(source).as_posix())
    return pages


def flat_name(relative: str) -> str:
    """'tutorial/datastructures.html' -> 'tutorial-datastructures.html'."""
    return relative.strip("/").replace("/", "-")


def copy_pages(source: Path, pages: list[str], out_dir: Path) -> int:
    """Copy each page's content (symlinks resolved) into out_dir; return the count."""
    out_dir.mkdir(parents=True, exist_ok=True)
    copied = 0
    for relative in pages:
        src = (source / relative).resolve()
        if not src.is_file():
            raise FileNotFoundError(f"page not found: {source / relative}")
        dest = out_dir / flat_name(relative)
        if dest.is_symlink():
            dest.unlink()
        shutil.copyfile(src, dest, follow_symlinks=True)
        copied += 1
    return copied


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Copy Python 3.11 documentation pages into a flat corpus directory."
    )
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="directory to write the pages into")
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help="HTML root of the docs (default: first existing of "
        + ", ".join(str(p) for p in DEFAULT_SOURCES)
        + ")",
    )
    parser.add_argument(
        "--pages",
        type=Path,
        default=DEFAULT_PAGES,
        help="page list file (default: pages.txt beside this script)",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="copy every .html under tutorial/, library/ and reference/ instead of the page list",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    source: Path | None = args.source if args.source is not None else find_source()
    if source is None or not source.is_dir():
        if args.source is not None:
            print(f"error: source directory not found: {args.source}", file=sys.stderr)
        else:
            print(NOT_INSTALLED, file=sys.stderr)
        return 2
    try:
        pages = all_pages(source) if args.all else read_page_list(args.pages)
        count = copy_pages(source, pages, args.out_dir)
    except (OSError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"copied {count} pages from {source} to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
