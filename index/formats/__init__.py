"""Readers of the document formats beyond plain text, Markdown and HTML (index/loaders.py).

One module per family; each has ``read(path, raw) -> Extracted`` and raises ``FormatError`` with
the reason a file cannot be read. They are imported only when a file of their kind is loaded, so a
missing optional piece (Tesseract for OCR) only affects those files.
"""

from index.formats.base import Extracted, FormatError

__all__ = ["Extracted", "FormatError"]
