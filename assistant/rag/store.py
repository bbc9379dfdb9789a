"""Each tenant's knowledge base, kept in the ledger: documents ingested once, chunked, searched later.

``ingest_files`` reads Markdown, plain text and PDF (text layer, through pypdf) files, cuts them
into chunks (``chunk_document``) and stores them in ``kb_documents`` / ``kb_chunks`` under the
tenant, replacing an earlier version of the same document (same ``doc_id``) in one transaction and
skipping one whose content has not changed. Every read and write names its tenant in a
parameterised ``WHERE tenant = ?``: tenant A's questions never see tenant B's chunks.

Replays and live sessions search the dataset's own knowledge folder plus their tenant's stored
chunks (``stored_chunks``), through the same BM25 index.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from assistant.core.errors import LedgerError, WorkbenchError
from assistant.ledger.queries import kb
from assistant.ledger.records import utc_now
from assistant.ledger.store import Ledger
from assistant.rag.bm25 import Chunk, chunk_document

KINDS = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".pdf": "pdf"}
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
"""Largest file ingested (50 MiB): a bigger one is refused with this limit named."""
_TENANT = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")  # as a dataset's tenant (datasets.SLUG)
_DOC_ID = re.compile(r"[^\x00-\x1f#]{1,200}")


class KnowledgeError(WorkbenchError):
    """A document that cannot be ingested, or a knowledge-base request that is not allowed."""


@dataclass(frozen=True, slots=True)
class Ingested:
    doc_id: str
    kind: str
    chunks: int
    chars: int
    status: str  # "added" / "replaced" / "unchanged"


def check_tenant(tenant: str) -> str:
    if not isinstance(tenant, str) or not _TENANT.fullmatch(tenant):  # match() passed "a\n"
        raise KnowledgeError(
            f"tenant id {tenant!r} is not valid: use 1-64 lowercase letters, digits and '-', "
            "starting with a letter or digit"
        )
    return tenant


def read_document(path: Path) -> tuple[str, str]:
    """``(kind, text)`` of a Markdown, text or PDF file; KnowledgeError naming the file and fix."""
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        raise KnowledgeError(
            f"{path}: cannot ingest {path.suffix or 'files without an extension'}; "
            f"use one of {', '.join(sorted(KINDS))}"
        )
    try:
        size = path.stat().st_size
    except OSError as e:
        raise KnowledgeError(f"{path}: cannot read it ({e.strerror or e})") from e
    if size > MAX_DOCUMENT_BYTES:
        raise KnowledgeError(
            f"{path}: {size / 2**20:.0f} MiB is more than the {MAX_DOCUMENT_BYTES // 2**20} MiB "
            "a document may have; split it into smaller files"
        )
    if kind == "pdf":
        return kind, _pdf_text(path)
    try:
        return kind, path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise KnowledgeError(f"{path}: not UTF-8 text ({e.reason}); save it as UTF-8") from e
    except OSError as e:
        raise KnowledgeError(f"{path}: cannot read it ({e.strerror or e})") from e


def _pdf_text(path: Path) -> str:
    import pypdf  # imported where used
    from pypdf.errors import PdfReadError

    try:
        reader = pypdf.PdfReader(path)
        if reader.is_encrypted:
            raise KnowledgeError(f"{path}: the PDF is encrypted; decrypt it first")
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as e:
        raise KnowledgeError(f"{path}: not a readable PDF ({e}); export it again") from e
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise KnowledgeError(
            f"{path}: the PDF has no text layer (a scan?); run OCR on it or export the text"
        )
    return text


def _files(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in KINDS))
        elif path.exists():
            found.append(path)
        else:
            raise KnowledgeError(f"{path} does not exist; pass existing files or folders")
    return found


def ingest_files(
    ledger: Ledger,
    tenant: str,
    paths: Iterable[Path],
    *,
    chunk_words: int = 90,
    progress: Callable[[Path], None] | None = None,
) -> list[Ingested]:
    """Ingest files (and folders, recursively) into ``tenant``'s knowledge base.

    The document id is the file name; every file is read and checked before anything is
    written, then all of them are stored in one transaction.
    """
    check_tenant(tenant)
    files = _files(paths)
    if not files:
        raise KnowledgeError(f"no {', '.join(sorted(KINDS))} files to ingest")
    documents: list[tuple[Path, str, str]] = []
    seen: dict[str, Path] = {}
    for path in files:
        doc_id = path.name
        if doc_id in seen:
            raise KnowledgeError(
                f"two documents are named {doc_id!r} ({seen[doc_id]} and {path}); rename one"
            )
        seen[doc_id] = path
        kind, text = read_document(path)
        documents.append((path, kind, text))
        if progress is not None:
            progress(path)
    results: list[Ingested] = []
    cur = ledger.cursor()
    cur.begin()
    try:
        for path, kind, text in documents:
            results.append(_store(cur, tenant, path, kind, text, chunk_words))
        cur.commit()
    except BaseException:
        cur.rollback()
        raise
    return results


def _store(
    cur: duckdb.DuckDBPyConnection, tenant: str, path: Path, kind: str, text: str, words: int
) -> Ingested:
    doc_id = path.name
    if not _DOC_ID.fullmatch(doc_id):
        raise KnowledgeError(f"{path}: the file name cannot be a document id; rename it")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    old = kb.document_sha256(cur, tenant, doc_id)
    chunks = chunk_document(doc_id, text, max_words=words)
    if old == digest:
        return Ingested(doc_id, kind, len(chunks), len(text), "unchanged")
    kb.delete_document_rows(cur, tenant, doc_id)
    kb.insert_document(
        cur,
        tenant=tenant,
        doc_id=doc_id,
        source=str(path),
        kind=kind,
        sha256=digest,
        chars=len(text),
        chunks=[(c.chunk_id, c.doc_id, c.heading, c.text) for c in chunks],
        ingested_at=utc_now(),
    )
    return Ingested(doc_id, kind, len(chunks), len(text), "replaced" if old is not None else "added")


def stored_chunks(ledger: Ledger, tenant: str) -> list[Chunk]:
    """Every chunk of ``tenant``'s stored knowledge base, in document order."""
    return [
        Chunk(chunk_id=r[0], doc_id=r[1], heading=r[2], text=r[3])
        for r in kb.chunk_rows(ledger, tenant)
    ]


def list_documents(ledger: Ledger, tenant: str) -> list[dict[str, object]]:
    return kb.document_rows(ledger, tenant)


def delete_document(ledger: Ledger, tenant: str, doc_id: str) -> None:
    """Remove one document of ``tenant`` (LedgerError when that tenant has no such document)."""
    cur = ledger.cursor()
    if not kb.has_document(cur, tenant, doc_id):
        raise LedgerError(f"tenant {tenant!r} has no document {doc_id!r}; see `kb list`")
    cur.begin()
    try:
        kb.delete_document_rows(cur, tenant, doc_id)
        cur.commit()
    except BaseException:
        cur.rollback()
        raise
