"""Retrieval, generation, citations and the answer API (``from rag import answer``)."""
