"""A throw-away PostgreSQL database for tests and benchmarks: created empty, dropped after use."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from sqlalchemy import create_engine, text


@contextlib.contextmanager
def scratch_postgres(admin_url: str, prefix: str = "panic_scratch") -> Iterator[str]:
    """Yield the URL of a new database on the server of `admin_url`; drop it (connections and all) after.

    Raises sqlalchemy's OperationalError when the server cannot be reached.
    """
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin_url.rsplit("/", 1)[0] + "/" + name
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
