"""Schema migrations (Alembic, shipped in ``qa/storage/migrations``) and the check at start.

``upgrade`` brings a database to the newest revision (``qa db upgrade``); ``schema_state``
tells whether a database is at it. Both use the store's own async engine, so the same URL and
drivers serve the server and the migrations.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None  # the package ships its migrations
    return head


@dataclass(frozen=True, slots=True)
class SchemaState:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    def describe(self) -> str:
        return f"schema revision {self.current or 'none'}, this program needs {self.head}"


async def schema_state(engine: AsyncEngine) -> SchemaState:
    """The database's revision and the newest one this program ships."""

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        await connection.execution_options(qa_read_only=True)  # never queue behind a writer
        current = await connection.run_sync(read)
    return SchemaState(current, head_revision())


async def upgrade(engine: AsyncEngine, revision: str = "head") -> SchemaState:
    """Apply every migration up to ``revision`` in one transaction; returns the new state."""

    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)
    return await schema_state(engine)
