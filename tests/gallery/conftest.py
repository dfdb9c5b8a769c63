"""Gallery stores to test on: SQLite always; PostgreSQL where ``.ci/run`` started a server
(``SIAMKIT_TEST_POSTGRES``, a URL from ``.ci/postgres``). Each test gets an empty store."""

from __future__ import annotations

import os
import uuid

import pytest

POSTGRES = os.environ.get("SIAMKIT_TEST_POSTGRES")


def fresh_postgres_url() -> str:
    """A new, empty database on the test server, for one test."""
    import psycopg

    name = f"siamkit_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return POSTGRES.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "gallery.db")
    if not POSTGRES:
        pytest.skip("no PostgreSQL server for the tests (.ci/run starts one: SIAMKIT_TEST_POSTGRES)")
    return fresh_postgres_url()
