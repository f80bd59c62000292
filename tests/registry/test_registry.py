"""Registry behaviour on SQLite and, where FEDADMET_TEST_POSTGRES_URL is set (CI sets it), on PostgreSQL."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.orm import Session

from fedadmet.exceptions import InputError
from fedadmet.registry import design_tables, repository
from fedadmet.registry.database import _alembic_config, _session_factory, open_registry, upgrade
from fedadmet.registry.tables import Base

POSTGRES_URL = os.environ.get("FEDADMET_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must run the registry tests on PostgreSQL: .ci/run sets FEDADMET_TEST_POSTGRES_URL")
        pytest.skip("FEDADMET_TEST_POSTGRES_URL not set (see README: registry on PostgreSQL)")
    _drop_everything(POSTGRES_URL)
    _session_factory.cache_clear()
    yield POSTGRES_URL
    _session_factory.cache_clear()


def _drop_everything(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        Base.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


def session_for(url: str) -> Session:
    return open_registry(url)()


def test_migrations_create_every_table(registry_url: str) -> None:
    engine = open_registry(registry_url).kw["bind"]
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables and "alembic_version" in tables
    assert design_tables.DesignCandidate.__tablename__ in tables
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0007"


def test_versions_are_numbered_per_model_with_lineage(registry_url: str) -> None:
    sessions = open_registry(registry_url)
    with sessions.begin() as session:
        first = repository.publish_version(session, "admet", kind="centralised", artifact_uri="/m/1", endpoints=["a"])
        second = repository.publish_version(
            session,
            "admet",
            kind="federated",
            artifact_uri="/m/2",
            endpoints=["a", "b"],
            metrics={"a": {"auc": 0.9}},
            lineage={"partners": ["p1", "p2"], "rounds": 3},
        )
        other = repository.publish_version(session, "tox", kind="centralised", artifact_uri="/t/1", endpoints=[])
    assert (first.version, second.version, other.version) == (1, 2, 1)
    with sessions() as session:
        listed = {(v.model.name, v.version): v for v in repository.list_versions(session)}
    assert listed[("admet", 2)].lineage == {"partners": ["p1", "p2"], "rounds": 3}
    assert listed[("admet", 2)].metrics == {"a": {"auc": 0.9}}


def test_api_keys_are_stored_hashed_and_can_be_revoked(registry_url: str) -> None:
    sessions = open_registry(registry_url)
    with sessions.begin() as session:
        key, row = repository.create_api_key(session, "alice")
        second, _ = repository.create_api_key(session, "alice")
    assert key != second and row.key_hash != key and key not in row.key_hash
    with sessions() as session:
        assert repository.user_for_key(session, key).name == "alice"
        assert repository.user_for_key(session, "fa_unknown") is None
    with sessions.begin() as session:
        assert repository.revoke_api_keys(session, row.prefix) == 1
    with sessions() as session:
        assert repository.user_for_key(session, key) is None
        assert repository.user_for_key(session, second).name == "alice"


def test_a_user_keeps_the_partner_it_was_created_with(registry_url: str) -> None:
    sessions = open_registry(registry_url)
    with sessions.begin() as session:
        key, _ = repository.create_api_key(session, "bea", partner="site_b")
        second, _ = repository.create_api_key(session, "bea")
        operator, _ = repository.create_api_key(session, "olga")
    with sessions() as session:
        assert repository.user_for_key(session, key).partner == "site_b"
        assert repository.user_for_key(session, second).partner == "site_b"
        assert repository.user_for_key(session, operator).partner is None
    refusals = [("bea", "site_c", "belongs to partner 'site_b'"), ("olga", "site_c", "belongs to the operator")]
    refusals += [("newcomer", " ", "partner name is empty"), ("newcomer", "site_b ", "ends with a space")]
    refusals += [("newcomer", "site\tb", "holds a tab or line break"), ("bea ", "site_c", "user name 'bea ' is blank")]
    refusals += [("", None, "is blank, padded")]
    for user, partner, reason in refusals:
        with sessions.begin() as session, pytest.raises(InputError, match=reason):
            repository.create_api_key(session, user, partner=partner)
    with sessions() as session:
        partners = {(k.user.name, k.user.partner) for k in repository.list_api_keys(session)}
        assert repository.known_partners(session) == set()
    assert partners == {("bea", "site_b"), ("olga", None)}
    with sessions.begin() as session:
        run = repository.start_run(session, "r", "fedavg", True, {})
        repository.record_round(session, run.id, 1, ["site_a", "site_b"], {}, {"site_c": "dropped out"})
    with sessions() as session:
        assert repository.known_partners(session) == {"site_a", "site_b", "site_c"}


def test_the_newest_migrations_can_be_undone_with_keys_and_jobs_stored(registry_url: str) -> None:
    sessions = open_registry(registry_url)
    with sessions.begin() as session:
        _, row = repository.create_api_key(session, "kept", partner="site_k")
        repository.create_job(
            session, "kept-job", filename="a.csv", folder="/x", model_uri="/m", n_rows=1, user_id=row.user_id
        )
    engine = sessions.kw["bind"]
    with engine.begin() as connection:
        config = _alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    assert "partner" not in {column["name"] for column in inspect(engine).get_columns("users")}
    upgrade(engine)
    with sessions() as session:
        assert repository.get_job(session, "kept-job").user_id == row.user_id


def test_jobs_move_through_their_states(registry_url: str) -> None:
    sessions = open_registry(registry_url)
    with sessions.begin() as session:
        repository.create_job(session, "j1", filename="a.csv", folder="/x", model_uri="/m", n_rows=10, user_id=None)
        repository.create_job(session, "j2", filename="b.csv", folder="/y", model_uri="/m", n_rows=5, user_id=None)
        repository.update_job(session, "j1", status="running", n_done=4)
    with sessions() as session:
        assert [j.id for j in repository.jobs_in_state(session, "running")] == ["j1"]
        assert [j.id for j in repository.jobs_in_state(session, "queued")] == ["j2"]
        assert repository.get_job(session, "j1").n_done == 4
    with sessions.begin() as session, pytest.raises(ValueError, match="unknown job status"):
        repository.update_job(session, "j2", status="exploded")
    with sessions.begin() as session, pytest.raises(KeyError):
        repository.update_job(session, "nope", status="failed")
    # Withdrawn by the owner: the running job is cancelled (a worker busy with it is told), a finished one's
    # files are marked deleted, and neither changes again.
    with sessions.begin() as session:
        repository.update_job(session, "j2", status="completed", n_done=5)
        cancelled, previous = repository.withdraw_job(session, "j1")
        assert (cancelled.status, previous) == ("cancelled", "running")
        assert cancelled.message == "cancelled by its owner after 4 of 10 rows"
        deleted, previous = repository.withdraw_job(session, "j2")
        assert (deleted.status, previous) == ("deleted", "completed")
        assert deleted.message == "completed; its files were deleted by its owner"
        assert repository.withdraw_job(session, "j2")[1] == "deleted"  # again: nothing changes
        assert repository.withdraw_job(session, "nope") is None
    with sessions.begin() as session:
        assert repository.update_job(session, "j1", n_done=6, status="running") is False
    with sessions() as session:
        assert (repository.get_job(session, "j1").status, repository.get_job(session, "j1").n_done) == ("cancelled", 4)
        assert repository.get_job(session, "j2").status == "deleted"


def test_a_withdrawal_and_a_worker_update_at_the_same_moment_never_overwrite_each_other(registry_url: str) -> None:
    """The worker read the job before its owner withdrew it, and writes after: the withdrawal stands. And a
    job the worker completed just before the withdrawal is deleted, not cancelled as if still running."""
    sessions = open_registry(registry_url)
    with sessions.begin() as session:
        repository.create_job(session, "w1", filename="a.csv", folder="/x", model_uri="/m", n_rows=10, user_id=None)
        repository.create_job(session, "w2", filename="b.csv", folder="/y", model_uri="/m", n_rows=10, user_id=None)
        repository.update_job(session, "w2", status="running")
    with sessions.begin() as worker:
        assert repository.get_job(worker, "w1").status == "queued"  # the worker holds a stale copy
        with sessions.begin() as owner:
            assert repository.withdraw_job(owner, "w1")[1] == "queued"
        assert repository.update_job(worker, "w1", status="running") is False
    with sessions.begin() as owner:
        stale = repository.get_job(owner, "w2")
        assert stale.status == "running"
        with sessions.begin() as worker:
            repository.update_job(worker, "w2", status="completed", n_done=10)
        job, previous = repository.withdraw_job(owner, "w2")
        assert (previous, job.status) == ("completed", "deleted")
    with sessions() as session:
        assert [repository.get_job(session, j).status for j in ("w1", "w2")] == ["cancelled", "deleted"]


def test_federation_rounds_are_replaced_when_recorded_again(registry_url: str) -> None:
    sessions = open_registry(registry_url)
    with sessions.begin() as session:
        run = repository.start_run(session, "run", "fedavg", True, {"rounds": 2})
        repository.record_round(session, run.id, 1, ["a", "b"], {"fit": {}}, {"c": "NaN update"}, bytes_sent=10)
        repository.record_round(session, run.id, 1, ["a"], {"fit": {"a": {"loss": 1.0}}}, bytes_sent=7)
        version = repository.publish_version(session, "fed", kind="federated", artifact_uri="/f", endpoints=[])
        repository.finish_run(session, run.id, "completed", version.id)
    with sessions() as session:
        stored = repository.get_run(session, run.id)
        assert stored.status == "completed" and stored.model_version_id == version.id
        assert [(r.round, r.partners, r.excluded, r.bytes_sent) for r in stored.rounds] == [(1, ["a"], {}, 7)]
        assert [r.id for r in repository.list_runs(session)] == [run.id]
