"""The tests' throwaway PostgreSQL (tests/support/postgres.py and the fixtures in tests/conftest.py)."""

import resource
from pathlib import Path

import psycopg
import pytest
import sqlalchemy

from tests import conftest
from tests.support import postgres
from tests.support.database import engine_of, run, stored_bytes
from tests.support.postgres import PostgresHome


def table_names(url: str) -> list[str]:
    engine = sqlalchemy.create_engine(url)
    try:
        return sqlalchemy.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_each_test_gets_a_new_empty_database(database_url):
    assert table_names(database_url) == []
    engine = sqlalchemy.create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("CREATE TABLE written (value TEXT)"))
        connection.execute(sqlalchemy.text("INSERT INTO written VALUES (:value)"), {"value": "kept"})
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("SELECT value FROM written")).scalar_one() == "kept"
    engine.dispose()


def test_a_database_is_dropped_after_its_test_even_with_a_connection_left_open(postgres_cluster):
    with postgres_cluster.fresh_database() as url:
        assert url.startswith(f"postgresql+psycopg://postgres@127.0.0.1:{postgres_cluster.port}/")
        name = url.rsplit("/", 1)[1]
        # Left open, as a killed `serve` process leaves its connections.
        left_open = psycopg.connect(f"host=127.0.0.1 port={postgres_cluster.port} user=postgres dbname={name}")
    with psycopg.connect(f"host=127.0.0.1 port={postgres_cluster.port} user=postgres dbname=postgres") as admin:
        assert admin.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone() == (0,)
    assert _is_terminated(left_open)
    left_open.close()


def _is_terminated(connection) -> bool:
    try:
        connection.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False


def test_the_server_runs_as_a_user_other_than_root(postgres_cluster):
    with psycopg.connect(f"host=127.0.0.1 port={postgres_cluster.port} user=postgres dbname=postgres") as admin:
        data = admin.execute("SELECT current_setting('data_directory')").fetchone()[0]
    assert Path(data).stat().st_uid != 0
    assert Path(postgres_cluster.socket_dir, f".s.PGSQL.{postgres_cluster.port}").is_socket()


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_a_cluster_starts_quickly_and_is_gone_once_removed(postgres_cluster):
    home = PostgresHome.create()
    # What initdb and the start cost in CPU, not in wall time: with four workers and two busy loops on two cores
    # the same start took 25 s of wall time.
    before = children_cpu_seconds()
    try:
        cluster = home.cluster()
        seconds = children_cpu_seconds() - before
        with psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=postgres dbname=postgres") as connection:
            assert connection.execute("SHOW fsync").fetchone() == ("off",)
            assert connection.execute("SHOW full_page_writes").fetchone() == ("off",)
        assert home.cluster() == cluster  # a second worker finds it running
    finally:
        home.remove()
    assert 0 < seconds < 10, f"initdb and start took {seconds:.1f} s of CPU"
    assert not home.path.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=postgres dbname=postgres", connect_timeout=2)


@pytest.mark.parametrize("ci", [None, "true"])
def test_missing_binaries_skip_the_test_except_under_ci(monkeypatch, tmp_path, ci):
    monkeypatch.setattr(postgres, "SERVER_ROOT", tmp_path)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    outcome = pytest.skip.Exception if ci is None else pytest.fail.Exception
    with pytest.raises(outcome, match="postgresql is not installed"):
        conftest.require_postgres()


def test_the_stored_bytes_hold_what_was_written_and_change_only_with_a_write(database_url):
    engine = engine_of(database_url)
    run(engine, "CREATE TABLE kept (value TEXT)")
    run(engine, "INSERT INTO kept VALUES (:value)", {"value": "written-value-7c1e"})
    run(engine, "UPDATE kept SET value = :value", {"value": "replaced-value-2b9d"})
    before = stored_bytes(engine)
    assert b"replaced-value-2b9d" in before
    assert run(engine, "SELECT value FROM kept") == [("replaced-value-2b9d",)]
    assert stored_bytes(engine) == before, "reading changes nothing on disk"
    run(engine, "INSERT INTO kept VALUES ('another')")
    assert stored_bytes(engine) != before
    engine.dispose()
