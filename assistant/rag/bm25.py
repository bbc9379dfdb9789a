"""A tenant's knowledge base: documents cut into chunks, searched with BM25 (bm25s).

A ``KnowledgeBase`` belongs to one tenant and refuses searches made for another, so a question in
tenant A can never retrieve tenant B's chunks through it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from assistant.core.errors import WorkbenchError
from assistant.core.events import Passage
from assistant.core.text import content_terms


@dataclass(frozen=True, slots=True)
class Chunk:
    chunk_id: str  # "<doc_id>#<n>"
    doc_id: str
    heading: str
    text: str


def chunk_document(doc_id: str, text: str, *, max_words: int = 90) -> list[Chunk]:
    """Cut a Markdown/text document at headings and paragraphs into chunks of about ``max_words``.

    Lines are kept (a table row or a list item stays one line), and each chunk starts with the
    heading it sits under, so a chunk reads on its own.
    """
    chunks: list[Chunk] = []
    heading = ""
    lines: list[str] = []
    size = 0

    def emit() -> None:
        nonlocal size
        if lines:
            body = "\n".join(lines).strip()
            text_ = f"{heading}:\n{body}" if heading else body
            chunks.append(Chunk(f"{doc_id}#{len(chunks) + 1}", doc_id, heading, text_))
            lines.clear()
            size = 0

    for raw in text.splitlines():
        line = raw.rstrip()
        if line.lstrip().startswith("#"):
            emit()
            heading = line.lstrip("#").strip()
            continue
        words_in_line = line.split()
        if size and size + len(words_in_line) > max_words:
            emit()
        while len(words_in_line) > max_words:  # one very long line: cut it by words
            lines.append(" ".join(words_in_line[:max_words]))
            emit()
            words_in_line = words_in_line[max_words:]
        if words_in_line or lines:
            lines.append(" ".join(words_in_line))
            size += len(words_in_line)
    emit()
    return [c for c in chunks if c.text.replace(c.heading + ":", "").strip()]


class KnowledgeBase:
    def __init__(
        self, tenant: str, documents: Iterable[tuple[str, str]], *, chunk_words: int = 90
    ) -> None:
        self.tenant = tenant
        self.chunks: list[Chunk] = []
        for doc_id, text in documents:
            self.chunks.extend(chunk_document(doc_id, text, max_words=chunk_words))
        self._index: Any = None

    def add_chunks(self, chunks: Iterable[Chunk]) -> None:
        """Add stored chunks (``assistant.rag.store``); they replace same-named documents."""
        added = list(chunks)
        replaced = {c.doc_id for c in added}
        self.chunks = [c for c in self.chunks if c.doc_id not in replaced] + added
        self._index = None

    def _retriever(self) -> Any:
        if self._index is None:
            import bm25s  # imported where used

            retriever = bm25s.BM25()
            retriever.index(
                [content_terms(c.text) or ["_"] for c in self.chunks], show_progress=False
            )
            self._index = retriever
        return self._index

    def warm_up(self) -> None:
        """Build the index now, so the first question is not timed with it."""
        if self.chunks:
            self._retriever()

    def search(self, query: str, *, tenant: str, k: int = 4) -> list[Passage]:
        """The ``k`` best chunks for ``query`` (score > 0 only), as passages citing ``kb:<chunk>``."""
        if tenant != self.tenant:
            raise WorkbenchError(
                f"knowledge base of tenant {self.tenant!r} was asked for tenant {tenant!r}: refused"
            )
        terms = content_terms(query)
        if not terms or not self.chunks:
            return []
        retriever = self._retriever()
        k = min(k, len(self.chunks))
        ids, scores = retriever.retrieve([terms], k=k, show_progress=False)
        out = []
        for idx, score in zip(ids[0], scores[0], strict=True):
            if float(score) > 0:
                chunk = self.chunks[int(idx)]
                out.append(Passage(f"kb:{chunk.chunk_id}", chunk.text, round(float(score), 4)))
        return out
