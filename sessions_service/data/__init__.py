"""Data: models, queries, migrations and every SQLite/PostgreSQL difference.

Functions take a SQLAlchemy ``Session`` first and never commit. Knows no Flask and no policy.
"""
