"""Alembic's entry point: Store.migrate() hands in its connection; the CLI reads alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool

from tcra.mco.store import VERSION_TABLE, Base


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,  # what `alembic revision --autogenerate` compares against
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying tables
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("tcra migrations run against a database; --sql (offline) is not supported")
given: Connection | None = context.config.attributes.get("connection")
if given is None:
    engine = engine_from_config(context.config.get_section(context.config.config_ini_section, {}),
                                poolclass=pool.NullPool)
    with engine.connect() as connection:
        run(connection)
else:
    run(given)
