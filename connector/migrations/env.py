"""Alembic environment: run by Store.migrate() with a live connection."""
from alembic import context

from connector.store import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # `alembic` CLI use: take the URL from -x url=... or alembic.ini
    from sqlalchemy import create_engine

    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    connection = create_engine(url).connect()

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
