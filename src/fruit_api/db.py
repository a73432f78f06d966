"""Fruit storage: one SQLAlchemy Core table ``fruits(kind, name)``."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    delete,
    insert,
    inspect,
    select,
)
from sqlalchemy.exc import IntegrityError

KINDS = ("usual", "exotic")
SEED = {"usual": ("apple", "banana", "pear"), "exotic": ("mangosteen", "rambutan", "durian")}

metadata = MetaData()
fruits = Table(
    "fruits",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(64), nullable=False),
    UniqueConstraint("kind", "name", name="uq_fruits_kind_name"),
)


class FruitStore:
    """Lists, adds and removes fruits; creates and seeds the table on first start."""

    def __init__(self, database_url: str) -> None:
        self.engine = create_engine(database_url)
        first_start = not inspect(self.engine).has_table("fruits")
        metadata.create_all(self.engine)
        if first_start:
            self._seed()

    def _seed(self) -> None:
        rows = [{"kind": k, "name": n} for k, names in SEED.items() for n in names]
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(fruits), rows)
        except IntegrityError:
            pass  # another process seeded at the same moment

    def list(self, kind: str) -> list[str]:
        """Names of this kind, sorted."""
        query = select(fruits.c.name).where(fruits.c.kind == kind).order_by(fruits.c.name)
        with self.engine.connect() as conn:
            return list(conn.scalars(query))

    def add(self, kind: str, name: str) -> bool:
        """Add a fruit; False if it already exists."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(fruits).values(kind=kind, name=name))
        except IntegrityError:
            return False
        return True

    def remove(self, kind: str, name: str) -> bool:
        """Remove a fruit; False if it was not there."""
        query = delete(fruits).where(fruits.c.kind == kind, fruits.c.name == name)
        with self.engine.begin() as conn:
            return conn.execute(query).rowcount > 0
