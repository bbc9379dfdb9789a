"""`python -m assistant kb ingest|list|delete|search --tenant T ...`: a tenant's stored knowledge base."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from assistant.core.paths import default_ledger

    kb = subparsers.add_parser(
        "kb", help="a tenant's knowledge base in the ledger: ingest, list, delete, search"
    )
    actions = kb.add_subparsers(dest="kb_action", required=True)
    ingest = actions.add_parser("ingest", help="add or replace Markdown, text and PDF documents")
    ingest.add_argument("paths", nargs="+", type=Path, help="files or folders (recursively)")
    listing = actions.add_parser("list", help="the tenant's documents")
    delete = actions.add_parser("delete", help="remove one document")
    delete.add_argument("doc_id", help="the document's id (its file name, see `kb list`)")
    search = actions.add_parser("search", help="what a question would retrieve")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=4, help="passages to show (default 4)")
    for parser in (ingest, listing, delete, search):
        parser.add_argument("--tenant", required=True, help="tenant id, e.g. acme")
        parser.add_argument("--ledger", default=default_ledger(), help="DuckDB ledger file")
        parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from assistant.ledger import Ledger
    from assistant.rag import store

    store.check_tenant(args.tenant)
    read_only = args.kb_action in ("list", "search")
    lake = str(args.ledger).startswith("ducklake:")
    if read_only and not lake and not Path(args.ledger).exists():
        print(f"no ledger at {args.ledger} yet: ingest documents with `kb ingest` first")
        return 0
    with Ledger(Path(args.ledger), read_only=read_only, wait_s=5.0) as ledger:
        if args.kb_action == "ingest":
            say = (lambda path: None) if args.json else (
                lambda path: print(f"  read {path}", file=sys.stderr)
            )
            results = store.ingest_files(ledger, args.tenant, args.paths, progress=say)
            rows = [asdict(r) for r in results]
            if args.json:
                print(json.dumps(rows, indent=2))
            else:
                for r in results:
                    print(f"{r.status:9} {r.doc_id} ({r.kind}, {r.chunks} chunks, {r.chars} chars)")
            return 0
        if args.kb_action == "list":
            documents = store.list_documents(ledger, args.tenant)
            if args.json:
                print(json.dumps(documents, indent=2))
            elif not documents:
                print(f"tenant {args.tenant} has no stored documents: `kb ingest --tenant "
                      f"{args.tenant} FILES`")
            else:
                for d in documents:
                    print(f"{d['doc_id']}  {d['kind']}, {d['chunks']} chunks, {d['chars']} chars, "
                          f"from {d['source']} at {d['ingested_at']}")
            return 0
        if args.kb_action == "delete":
            store.delete_document(ledger, args.tenant, args.doc_id)
            print(f"deleted {args.doc_id} from tenant {args.tenant}")
            return 0
        from assistant.rag.bm25 import KnowledgeBase

        base = KnowledgeBase(args.tenant, [])
        base.add_chunks(store.stored_chunks(ledger, args.tenant))
        passages = base.search(args.query, tenant=args.tenant, k=args.k)
    if args.json:
        print(json.dumps([{"source": p.source, "score": p.score, "text": p.text}
                          for p in passages], indent=2))
    elif not passages:
        print("nothing matched")
    for p in [] if args.json else passages:
        print(f"[{p.score:.3f}] {p.source}\n    {p.text[:200].replace(chr(10), ' ')}")
    return 0

