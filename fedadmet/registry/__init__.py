"""Model registry: SQLAlchemy tables, Alembic migrations and repository functions.

SQLite file by default, PostgreSQL (or any SQLAlchemy URL) through ``FEDADMET_DATABASE_URL``.
"""
