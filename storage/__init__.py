"""Persistence: the schema, its Alembic migrations, and the queries the service runs."""
