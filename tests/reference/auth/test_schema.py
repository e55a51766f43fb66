"""Migrations 0002 and 0005 and the typed models of auth and users agree: autogenerate sees
nothing to do."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, MetaData, create_engine, inspect, pool

from harness.stack.sandbox import Sandbox, ServerUrls
from reference import migrations
from reference.auth import models as auth_models
from reference.users import models as users_models

pytestmark = pytest.mark.integration

MINE = ("auth", "users")


def _mine(name: str | None, type_: str, parent_names: dict[str, str | None]) -> bool:
    if type_ == "schema":
        return name in MINE
    return parent_names.get("schema_name") in MINE


def test_autogenerate_finds_no_difference(sandbox: Sandbox) -> None:
    metadata = MetaData(naming_convention=auth_models.Base.metadata.naming_convention)
    for model in (
        auth_models.User,
        auth_models.Identity,
        auth_models.RevokedToken,
        auth_models.RevokedUser,
        users_models.Profile,
    ):
        model.__table__.to_metadata(metadata)
    engine = create_engine(sandbox.database_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "include_schemas": True,
                    "include_name": _mine,
                    "compare_type": True,
                    "compare_server_default": True,
                },
            )
            diff = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_0002_upgrades_and_downgrades_on_its_own(servers: ServerUrls) -> None:
    with Sandbox(servers) as box:
        engine = create_engine(box.database_url, poolclass=pool.NullPool)
        try:
            migrations.upgrade(box.database_url, "0002")
            assert _tables(engine) >= {"auth.users", "auth.identities", "users.profiles"}
            migrations.downgrade(box.database_url, "0001")
            assert not _tables(engine) & {"auth.users", "auth.identities", "users.profiles"}
            migrations.upgrade(box.database_url)
            assert _tables(engine) >= {"auth.users", "auth.identities", "users.profiles"}
        finally:
            engine.dispose()


def _tables(engine: Engine) -> set[str]:
    inspector = inspect(engine)
    return {f"{schema}.{name}" for schema in MINE for name in inspector.get_table_names(schema)}
