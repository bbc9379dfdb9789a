"""Knowledge base: each tenant's stored documents and chunks (``kb_documents``, ``kb_chunks``).

Every statement names its tenant in a bound ``WHERE tenant = ?``. The writers take a cursor so
the caller (``assistant.rag.store``) holds them in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

    from assistant.ledger.store import Ledger

DOCUMENT_COLUMNS = ("doc_id", "kind", "chunks", "chars", "source", "ingested_at")


def document_sha256(cur: duckdb.DuckDBPyConnection, tenant: str, doc_id: str) -> str | None:
    """The stored content hash of one of ``tenant``'s documents, or None if it has none."""
    old = cur.execute(
        "SELECT sha256 FROM kb_documents WHERE tenant = ? AND doc_id = ?", [tenant, doc_id]
    ).fetchall()
    return str(old[0][0]) if old else None


def has_document(cur: duckdb.DuckDBPyConnection, tenant: str, doc_id: str) -> bool:
    found = cur.execute(
        "SELECT count(*) FROM kb_documents WHERE tenant = ? AND doc_id = ?", [tenant, doc_id]
    ).fetchall()
    return bool(found[0][0])


def delete_document_rows(cur: duckdb.DuckDBPyConnection, tenant: str, doc_id: str) -> None:
    """Remove one document of ``tenant`` and its chunks (inside the caller's transaction)."""
    cur.execute(
        "DELETE FROM kb_chunks WHERE tenant = ? AND doc_id = ?", [tenant, doc_id]
    ).fetchall()
    cur.execute(
        "DELETE FROM kb_documents WHERE tenant = ? AND doc_id = ?", [tenant, doc_id]
    ).fetchall()


def insert_document(
    cur: duckdb.DuckDBPyConnection,
    *,
    tenant: str,
    doc_id: str,
    source: str,
    kind: str,
    sha256: str,
    chars: int,
    chunks: Sequence[tuple[str, str, str | None, str]],  # (chunk_id, doc_id, heading, text)
    ingested_at: datetime,
) -> None:
    """Store one document of ``tenant`` and its chunks (inside the caller's transaction)."""
    if chunks:
        cur.executemany(
            "INSERT INTO kb_chunks (tenant, chunk_id, doc_id, heading, text) VALUES (?, ?, ?, ?, ?)",
            [[tenant, *chunk] for chunk in chunks],
        )
    cur.execute(
        "INSERT INTO kb_documents (tenant, doc_id, source, kind, sha256, chars, chunks, "
        "ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [tenant, doc_id, source, kind, sha256, chars, len(chunks), ingested_at],
    ).fetchall()


def chunk_rows(ledger: Ledger, tenant: str) -> list[tuple[Any, ...]]:
    """``(chunk_id, doc_id, heading, text)`` of every chunk of ``tenant``, in document order."""
    rows: list[tuple[Any, ...]] = ledger.cursor().execute(
        "SELECT chunk_id, doc_id, heading, text FROM kb_chunks WHERE tenant = ? "
        "ORDER BY doc_id, TRY_CAST(split_part(chunk_id, '#', -1) AS INTEGER), chunk_id",
        [tenant],
    ).fetchall()
    return rows


def document_rows(ledger: Ledger, tenant: str) -> list[dict[str, object]]:
    """``tenant``'s documents by id, each as a dict of :data:`DOCUMENT_COLUMNS`."""
    rows = ledger.cursor().execute(
        "SELECT doc_id, kind, chunks, chars, source, CAST(ingested_at AS VARCHAR) "
        "FROM kb_documents WHERE tenant = ? ORDER BY doc_id",
        [tenant],
    ).fetchall()
    return [dict(zip(DOCUMENT_COLUMNS, r, strict=True)) for r in rows]
