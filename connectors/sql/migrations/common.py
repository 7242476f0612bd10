"""The one Alembic environment every context's history runs in: the context's tables only, its own
``alembic_version`` (in its own file, or its own PostgreSQL schema)."""
from __future__ import annotations

from alembic import context as alembic_context
from sqlalchemy import MetaData

from connectors.sql.db import make_engine
from connectors.sql.models import Base
from connectors.sql.stores import TABLES


def metadata_of(context: str) -> MetaData:
    md = MetaData(naming_convention=Base.metadata.naming_convention)
    for name in TABLES[context]:
        Base.metadata.tables[name].to_metadata(md)
    return md


def run(context: str) -> None:
    config = alembic_context.config
    target = metadata_of(context)
    if alembic_context.is_offline_mode():
        alembic_context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target,
                                  literal_binds=True, render_as_batch=True)
        with alembic_context.begin_transaction():
            alembic_context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        alembic_context.configure(connection=connection, target_metadata=target, render_as_batch=True)
        with alembic_context.begin_transaction():
            alembic_context.run_migrations()
    engine.dispose()
