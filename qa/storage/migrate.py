"""Schema migrations (Alembic, shipped in ``qa/storage/migrations``) and the check at start.

``upgrade`` brings a database to the newest revision (``qa db upgrade``); ``schema_state``
tells whether a database is at it. Both are operations the store runs on its own connections
(``SQLStore.run``), so the same URL and drivers serve the server and the migrations.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

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


def schema_state(connection: Connection) -> SchemaState:
    """The database's revision and the newest one this program ships."""
    return SchemaState(MigrationContext.configure(connection).get_current_revision(), head_revision())


def upgrade(connection: Connection, revision: str = "head") -> SchemaState:
    """Apply every migration up to ``revision`` (in the caller's transaction); returns the new state."""
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
    return schema_state(connection)
