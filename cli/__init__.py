"""The ``rag`` command. It sits above every layer and only dispatches to them."""

from cli.main import main

__all__ = ["main"]
