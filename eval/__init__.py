"""Evaluation sets and (with the evaluation issue) the runner. Uses ``rag``; never imported by it."""
