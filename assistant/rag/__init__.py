"""Per-tenant knowledge bases."""

from assistant.rag.bm25 import Chunk, KnowledgeBase, chunk_document

__all__ = ["Chunk", "KnowledgeBase", "chunk_document"]
