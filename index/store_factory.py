"""Which store a configuration names: the one place that knows both backends (index/store_api.py
is their interface and imports neither)."""

from __future__ import annotations

from index.config import Config
from index.store_api import Store


def open_store(config: Config) -> Store:
    """The store ``config`` names: the database at ``config.store`` (a postgresql:// URL, checked by
    Config) when it is set, else the folder ``config.index_dir``."""
    if config.store:
        from index.pg_store import PostgresStore  # psycopg and pgvector load only for a database

        return PostgresStore(config.store)
    from index.store import FolderStore

    return FolderStore(config.index_dir)
