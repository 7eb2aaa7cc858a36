"""Storage through SQLAlchemy: SQLite by default, PostgreSQL by URL."""
