"""``rag index | ask | chat | eval | users | feedback``: argument parsing and friendly errors, nothing else.

User mistakes (missing files, no index, bad options, a damaged model: ``index.errors.UserError``)
end with one clear ``error:`` line and exit status 1 (2 for bad usage), never a traceback. Any
other exception is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from index.config import Config
from index.errors import ConfigError, UserError

DEFAULT_PATHS = ["seeds"]
TOP_K_HELP = f"passages to retrieve (default {Config.top_k}; env RAG_TOP_K)"  # defaults are Config's, never copied


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, help="where the index lives (default: ./data in a checkout; env RAG_DATA_DIR)"
    )
    parser.add_argument(
        "--store",
        metavar="URL",
        help="keep the index in PostgreSQL + pgvector instead of the "
        "local folder: postgresql://user:pass@host/db[?schema=NAME] "
        "(env RAG_STORE)",
    )
    parser.add_argument(
        "--embedder",
        help=f"sentence-transformers model name or folder (default: the packaged {Config.embedder}; env RAG_EMBEDDER)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag", description="Local, offline chatbot that answers from your documents with citations."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("index", help="add, update and remove documents in the index")
    p.add_argument(
        "paths",
        nargs="*",
        default=None,
        metavar="PATH",
        help=f"files or folders of .txt/.md/.html/.pdf (default: {' '.join(DEFAULT_PATHS)})",
    )
    p.add_argument("--rebuild", action="store_true", help="re-embed everything from scratch")
    p.add_argument("--remove", nargs="+", default=[], metavar="FILE", help="drop these documents from the index")
    p.add_argument(
        "--chunk-tokens",
        type=int,
        help=f"chunk size in cl100k tokens (default {Config.chunk_tokens}; env RAG_CHUNK_TOKENS)",
    )
    p.add_argument(
        "--chunk-overlap",
        type=int,
        help=f"overlap between chunks in tokens (default {Config.chunk_overlap}; env RAG_CHUNK_OVERLAP)",
    )
    p.add_argument(
        "--wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="wait this long for another running `rag index` instead of refusing",
    )
    p.add_argument(
        "--no-prepare",
        action="store_true",
        help="after a change, do not have the local LLM read the new documents now (the first question "
        "will; env RAG_PREPARE_ON_INDEX=0)",
    )
    _common(p)

    p = sub.add_parser("ask", help="answer one question from the indexed documents, with sources")
    p.add_argument("question", help="the question (quote it)")
    p.add_argument(
        "--generator",
        help="llm (default, local llama.cpp), extractive (no LLM), or the base URL "
        "of an OpenAI-compatible server (http://host:port)",
    )
    p.add_argument("--top-k", type=int, help=TOP_K_HELP)
    p.add_argument("--retrieval", choices=["hybrid", "dense", "bm25"], default="hybrid")
    p.add_argument("--json", action="store_true", help="print the whole Answer as JSON")
    p.add_argument(
        "--document",
        action="append",
        metavar="NAME",
        dest="documents",
        help="answer only from this document: a file name, path, glob (quote it) or title; repeatable",
    )
    _common(p)

    p = sub.add_parser("chat", help="chat about the indexed documents in the browser (or --terminal)")
    p.add_argument("--generator", help="llm (default), extractive, or an OpenAI-compatible base URL")
    p.add_argument("--top-k", type=int, help=TOP_K_HELP)
    p.add_argument("--host", default="127.0.0.1", help="address the web UI listens on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port of the web UI (default 7860)")
    p.add_argument("--terminal", action="store_true", help="chat in this terminal instead of the browser")
    p.add_argument("--no-warm-up", action="store_true", help="don't load the models before the first question")
    p.add_argument(
        "--auth",
        metavar="FILE",
        help="users file (`rag users add`): turns accounts on; each user sees only their own conversations "
        "and only administrators may add or remove documents (env RAG_AUTH)",
    )
    p.add_argument(
        "--document",
        action="append",
        metavar="NAME",
        dest="documents",
        help="answer only from this document (a file name, path, glob or title; repeatable); the browser "
        "chat starts with it chosen",
    )
    _common(p)

    p = sub.add_parser("users", help="accounts of the browser chat: add, remove, list (`rag chat --auth FILE`)")
    users = p.add_subparsers(dest="users_command", metavar="ACTION")
    users.required = True
    for action, text in (
        ("add", "add a user (asks for the password twice, without echo)"),
        ("remove", "remove a user"),
        ("list", "list the users"),
    ):
        q = users.add_parser(action, help=text)
        if action != "list":
            q.add_argument("name", metavar="NAME")
        if action == "add":
            q.add_argument("--admin", action="store_true", help="may add and remove documents in the chat")
            q.add_argument("--replace", action="store_true", help="set a new password for an existing user")
            q.add_argument(
                "--password-stdin", action="store_true", help="read the password from standard input (scripts)"
            )
        q.add_argument(
            "--auth", metavar="FILE", help="the users file (default: env RAG_AUTH, else <data dir>/users.json)"
        )
        q.add_argument("--data-dir", type=Path, help="where the index and the chat's data live (env RAG_DATA_DIR)")

    p = sub.add_parser("feedback", help="the chat's thumbs up/down: export them as an evaluation set")
    feedback = p.add_subparsers(dest="feedback_command", metavar="ACTION")
    feedback.required = True
    q = feedback.add_parser("export", help="write the rated answers as an eval/ JSONL set for `rag eval`")
    q.add_argument("out", type=Path, metavar="OUT.jsonl", help="the set to write (its documents go to OUT-docs/)")
    _common(q)

    p = sub.add_parser("eval", help="run an evaluation set and write its results and report")
    p.add_argument(
        "set",
        type=Path,
        metavar="SET",
        help="a JSONL set (eval/README.md), a SQuAD-format .json file, or a BEIR folder",
    )
    p.add_argument("--limit", type=int, help="a fixed random sample of N items (seeded, see --seed)")
    p.add_argument("--seed", type=int, default=0, help="seed of the --limit sample (default 0)")
    p.add_argument(
        "--generator",
        default="llm",
        help="llm (default), extractive, an OpenAI-compatible base URL, or none (retrieval only)",
    )
    p.add_argument("--retrieval", choices=["hybrid", "dense", "bm25"], default="hybrid")
    p.add_argument("--top-k", type=int, help=TOP_K_HELP.replace("to retrieve", "given to the generator"))
    p.add_argument("--out", type=Path, help="where results.json and report.md go (default: eval-results/<set>)")
    p.add_argument(
        "--docs", type=Path, help="documents folder of a JSONL set (default: found beside the set, else seeds/)"
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue a stopped run: items already answered in OUT/partial.jsonl are not asked again",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    _common(p)
    return parser


def _config(args) -> Config:
    return Config.load(
        data_dir=args.data_dir,
        embedder=args.embedder,
        store=args.store,
        chunk_tokens=getattr(args, "chunk_tokens", None),
        chunk_overlap=getattr(args, "chunk_overlap", None),
        top_k=getattr(args, "top_k", None) or None,  # --top-k 0 means the default, as it always did
    )


def cmd_index(args) -> int:
    from index.pipeline import build_index
    from index.progress import ProgressPrinter

    config = _config(args)
    paths = args.paths or ([] if args.remove else DEFAULT_PATHS)
    report = build_index(
        paths,
        config,
        rebuild=args.rebuild,
        remove=args.remove,
        lock_timeout=args.wait,
        say=lambda message: print(message, file=sys.stderr),
        on_stage=ProgressPrinter(sys.stderr),
    )
    print(report.summary())
    print(f"Index: {config.store_location}")
    if report.wrote and config.prepare_on_index and not args.no_prepare:
        _prepare_answers(config)
    return 0


def _prepare_answers(config: Config) -> None:
    """The changed index's prompt prefix read into the local LLM now, its KV state saved (rag.api)."""
    import time

    from index.progress import ProgressPrinter
    from rag.api import prepare_answers

    started = time.perf_counter()
    if prepare_answers(config, on_stage=ProgressPrinter(sys.stderr)):
        print(f"Model ready for these documents ({time.perf_counter() - started:.1f} s; saved for the chat).")


def _json(data) -> str:
    """JSON that stays inert if pasted into HTML: <, > and & are escaped as \\u003c etc."""
    import json

    text = json.dumps(data, ensure_ascii=False, indent=2)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def cmd_ask(args) -> int:
    from rag.api import stream_answer
    from rag.records import Answer

    config = _config(args)
    live = sys.stdout.isatty() and not args.json
    streamed, final = "", None
    for item in stream_answer(
        args.question,
        generator=args.generator or config.generator,
        top_k=args.top_k,
        retrieval=args.retrieval,
        config=config,
        documents=args.documents,
    ):
        if isinstance(item, Answer):
            final = item
        elif live and isinstance(item, str):  # the Sources record that comes first is shown at the end
            streamed += item
            print(item, end="", flush=True)
    if args.json:
        print(_json(final.to_dict()))
        return 0
    if live:
        print()
        if final.text.strip() != streamed.strip():
            print(f"\nVerified answer: {final.text}")
    else:
        print(final.text)
    for note in final.notices:
        print(f"note: {note}", file=sys.stderr)
    _print_sources(final)
    return 0


def _print_sources(final) -> None:
    if final.searched_for:
        print(f"(searched for: {final.searched_for})")
    if final.unsupported_sentences:
        print("Not supported by any passage: " + " | ".join(final.unsupported_sentences))
    if final.citations:
        print("\nSources:")
        for number in sorted({c.number for c in final.citations}):
            cites = [c for c in final.citations if c.number == number]
            print(f"[{number}] {cites[0].title} — {cites[0].source}")
            for c in cites:
                where = f"{c.location}, " if c.location else ""
                print(f'    "{c.text}"  ({where}chars {c.span_start}-{c.span_end})')


def cmd_chat(args) -> int:
    config = _config(args)
    generator = args.generator or config.generator
    if not args.terminal:
        from ui.app import launch

        if generator == "llm":  # the one-time join of the model, with its progress, before the page opens
            from index.progress import ProgressPrinter
            from rag.api import ensure_packaged_model

            ensure_packaged_model(config, ProgressPrinter(sys.stderr))

        auth = args.auth or config.auth or None
        default_users = _users_file(None, config)
        if not auth and default_users.is_file():
            print(f"note: {default_users} exists but accounts are off; use `rag chat --auth {default_users}`")
        launch(
            config,
            generator,
            host=args.host,
            port=args.port,
            warm=not args.no_warm_up,
            auth_file=auth,
            documents=args.documents,
        )
        return 0
    return _terminal_chat(args, config, generator)


def _users_file(given, config: Config) -> Path:
    return Path(given or config.auth or Path(config.data_dir) / "users.json")


def _read_password(from_stdin: bool) -> str:
    import getpass

    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        from ui.accounts import AccountError

        raise AccountError("the two passwords differ; nothing was changed")
    return first


def cmd_users(args) -> int:
    from ui import accounts

    config = Config.load(data_dir=args.data_dir)
    path = _users_file(args.auth, config)
    if args.users_command == "add":
        accounts.check_name(args.name)
        user = accounts.add_user(path, args.name, _read_password(args.password_stdin), args.admin, args.replace)
        print(
            f"{'updated' if args.replace else 'added'} {user.name}{' (administrator)' if user.admin else ''} in {path}"
        )
        print(f"Start the chat with accounts on: rag chat --auth {path}")
    elif args.users_command == "remove":
        accounts.remove_user(path, args.name)
        print(f"removed {args.name} from {path}")
    else:
        users = accounts.list_users(path)
        for user in users:
            print(f"{user.name}{'  (administrator)' if user.admin else ''}")
        if not users:
            print(f"no users in {path}")
    return 0


def cmd_feedback(args) -> int:
    from ui.feedback import export_feedback

    report = export_feedback(_config(args), args.out)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"wrote {report.items} items ({report.up} up-voted, {report.down} down-voted) to {args.out}; "
        f"{report.documents} documents in {report.docs_folder}"
    )
    print(f"Re-score them: rag eval {args.out}")
    return 0


def _terminal_chat(args, config, generator: str) -> int:
    """A chat with history in the terminal: /new starts over, /quit leaves."""
    from rag.api import ChatSession, get_engine
    from rag.records import Answer

    print("Loading the index and models...", file=sys.stderr)
    engine = get_engine(config, generator)
    engine.warm_up()
    if args.documents:
        from index.scope import resolve_documents

        chosen = resolve_documents(engine.snapshot().documents, args.documents)  # unknown names: an error now
        print(f"(answering from {len(chosen)} document(s) only)")
    session = ChatSession(generator=generator, top_k=args.top_k, config=config, documents=args.documents)
    interactive = sys.stdin.isatty()
    print("Ask about your documents. /new starts a new conversation, /quit (or Ctrl-D) leaves.")
    while True:
        try:
            question = input("\nyou> ") if interactive else sys.stdin.readline()
        except EOFError:
            break
        if not interactive and question == "":
            break
        question = question.strip()
        if question in ("/quit", "/exit"):
            break
        if question == "/new":
            session.reset()
            print("(new conversation)")
            continue
        if not question:
            continue
        print("bot> ", end="", flush=True)
        streamed, final = "", None
        try:
            for item in session.stream(question):
                if isinstance(item, Answer):
                    final = item
                elif isinstance(item, str):
                    streamed += item
                    print(item, end="", flush=True)
        except UserError as exc:  # the conversation goes on
            print(f"error: {exc}")
            continue
        print()
        if final.text.strip() != streamed.strip():
            print(f"(verified) {final.text}")
        _print_sources(final)
    return 0


def cmd_eval(args) -> int:
    import os
    import shlex

    from eval.evaluate import evaluate
    from eval.runner import RunSettings

    if args.limit is not None and args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    settings = RunSettings(
        generator=args.generator, retrieval=args.retrieval, top_k=args.top_k, limit=args.limit, seed=args.seed
    )
    out = args.out or Path("eval-results") / args.set.stem
    settings_env = [f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("RAG_")]
    command = shlex.join([*settings_env, "rag", *(sys.argv[1:] if args.argv is None else args.argv)])
    summary = evaluate(
        args.set,
        settings,
        out,
        _config(args),
        command=command,
        docs=args.docs,
        progress=not args.no_progress,
        resume=args.resume,
    )
    ret = summary["retrieval"]
    print(
        f"retrieval ({ret['n']} questions): nDCG@10 {ret['nDCG@10'] or 0:.4f}  MRR@10 {ret['MRR@10'] or 0:.4f}  "
        f"R@1 {ret['recall@1'] or 0:.3f}  R@5 {ret['recall@5'] or 0:.3f}  R@10 {ret['recall@10'] or 0:.3f}"
    )
    if "answers" in summary:
        a, c, ab = summary["answers"], summary["citations"], summary["abstention"]
        lat = summary["latency_seconds"]
        print(
            f"answers ({a['n']} answerable): EM {a['exact_match'] or 0:.3f}  F1 {a['f1'] or 0:.3f}  "
            f"contains {a['contains'] or 0:.3f}"
        )
        print(
            f"citations: recall {c['recall'] or 0:.3f}  precision {c['precision'] or 0:.3f}; abstention: "
            f"precision {_maybe(ab['precision'])}  recall {_maybe(ab['recall'])}"
        )
        print(
            f"latency: first token p50 {_maybe(lat['first_token']['p50'])} s  p95 "
            f"{_maybe(lat['first_token']['p95'])} s; total p50 {_maybe(lat['total']['p50'])} s  "
            f"p95 {_maybe(lat['total']['p95'])} s"
        )
    print(f"{summary['failed']} of {summary['items']} items failed; report: {out / 'report.md'}")
    return 0


def _maybe(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = argv
    handlers = {
        "index": cmd_index,
        "ask": cmd_ask,
        "chat": cmd_chat,
        "eval": cmd_eval,
        "users": cmd_users,
        "feedback": cmd_feedback,
    }
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        message = "interrupted; the previous index is unchanged"
        if args.command == "index":
            message += " (what was embedded is kept: the next `rag index` carries on from there)"
        print(message, file=sys.stderr)
        return 130
    except UserError as exc:  # only these: any other exception is a bug, and keeps its traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
