"""``rag index | ask | chat | eval``: argument parsing and friendly errors, nothing else.

User mistakes (missing files, no index, bad options, a damaged model) end with one
clear ``error:`` line and exit status 1 (2 for bad usage); never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from index.config import Config

DEFAULT_PATHS = ["seeds"]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="where the index lives (default: ./data in a checkout; "
                                                      "env RAG_DATA_DIR)")
    parser.add_argument("--embedder", help="sentence-transformers model name or folder (default: the packaged "
                                           "all-MiniLM-L6-v2; env RAG_EMBEDDER)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Local, offline chatbot that answers from your "
                                                             "documents with citations.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("index", help="add, update and remove documents in the index")
    p.add_argument("paths", nargs="*", default=None, metavar="PATH",
                   help=f"files or folders of .txt/.md/.html/.pdf (default: {' '.join(DEFAULT_PATHS)})")
    p.add_argument("--rebuild", action="store_true", help="re-embed everything from scratch")
    p.add_argument("--remove", nargs="+", default=[], metavar="FILE", help="drop these documents from the index")
    p.add_argument("--chunk-tokens", type=int, help="chunk size in cl100k tokens (default 200)")
    p.add_argument("--chunk-overlap", type=int, help="overlap between chunks in tokens (default 40)")
    p.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                   help="wait this long for another running `rag index` instead of refusing")
    _common(p)

    for name, text in [("ask", "answer one question from the indexed documents"),
                       ("chat", "open the chat UI in the browser"),
                       ("eval", "run an evaluation set")]:
        p = sub.add_parser(name, help=text)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        _common(p)
    return parser


def _config(args) -> Config:
    return Config.from_env(data_dir=args.data_dir, embedder=args.embedder,
                           chunk_tokens=getattr(args, "chunk_tokens", None),
                           chunk_overlap=getattr(args, "chunk_overlap", None))


def cmd_index(args) -> int:
    from index.pipeline import build_index

    config = _config(args)
    paths = args.paths or ([] if args.remove else DEFAULT_PATHS)
    report = build_index(paths, config, rebuild=args.rebuild, remove=args.remove, lock_timeout=args.wait,
                         say=lambda message: print(message, file=sys.stderr))
    print(report.summary())
    print(f"Index: {config.index_dir}")
    return 0


def cmd_not_yet(args) -> int:
    print(f"error: `rag {args.command}` is not available yet in this version; "
          "for now `rag index` builds the index.", file=sys.stderr)
    return 2


def _known_errors() -> tuple[type[BaseException], ...]:
    from index.embedder import EmbedderUnavailable
    from index.loaders import LoaderError
    from index.pipeline import IndexBusy, NothingToIndex
    from index.store import IndexCorrupt, IndexMissing
    from index.tokens import TokenizerUnavailable
    from rag.weights import ModelIntegrityError, ModelUnavailable

    return (EmbedderUnavailable, LoaderError, IndexBusy, NothingToIndex, IndexCorrupt, IndexMissing,
            TokenizerUnavailable, ModelIntegrityError, ModelUnavailable, ValueError)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"index": cmd_index, "ask": cmd_not_yet, "chat": cmd_not_yet, "eval": cmd_not_yet}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("interrupted; the previous index is unchanged", file=sys.stderr)
        return 130
    except _known_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
