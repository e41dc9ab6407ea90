"""Documents -> chunks -> embeddings -> FAISS + BM25 store.

Kept light on purpose: importing ``index`` loads no model and no heavy library.
"""

from index.config import Config
from index.records import Chunk, Document

__all__ = ["Config", "Chunk", "Document"]
