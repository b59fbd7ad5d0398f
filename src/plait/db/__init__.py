"""Database: typed ORM tables, the engine pair, and Alembic migrations."""
