"""Campaign tables: visibility by partner in the queries themselves, and migration 0007 undone and redone."""

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.orm import Session, sessionmaker

from fedadmet.exceptions import InputError
from fedadmet.registry import campaign_repository as repo
from fedadmet.registry.database import _alembic_config, _session_factory, open_registry, upgrade


def _sessions(tmp_path: Path) -> sessionmaker[Session]:
    _session_factory.cache_clear()
    return open_registry(f"sqlite:///{tmp_path / 'registry.db'}")


def _campaign(session: Session, name: str, partner: str | None) -> int:
    fields = {"spec": {}, "pool_source": "p.csv", "pool_sha256": "0" * 64, "pool_size": 3, "folder": "/x"}
    return repo.create_campaign(session, name=name, partner=partner, model_uri="/m", **fields).id


def test_a_partner_sees_its_own_campaigns_only_and_the_operator_sees_all(tmp_path: Path) -> None:
    sessions = _sessions(tmp_path)
    with sessions.begin() as session:
        alpha = _campaign(session, "a", "alpha")
        _campaign(session, "b", "beta")
        _campaign(session, "shared", None)
        with pytest.raises(InputError, match="exists already"):
            _campaign(session, "a", "beta")
    with sessions() as session:
        assert [c.name for c in repo.list_campaigns(session, "alpha")] == ["a"]
        assert [c.name for c in repo.list_campaigns(session, "gamma")] == []
        assert {c.name for c in repo.list_campaigns(session, None)} == {"a", "b", "shared"}
        assert repo.get_campaign(session, alpha, "beta") is None
        assert repo.get_campaign(session, "a", "beta") is None
        assert repo.get_campaign(session, "shared", "alpha") is None  # nobody's campaign: the operator's
        assert repo.get_campaign(session, str(alpha), "alpha").name == "a"


def test_the_campaign_migration_can_be_undone_and_redone(tmp_path: Path) -> None:
    sessions = _sessions(tmp_path)
    with sessions.begin() as session:
        _campaign(session, "kept", None)
    engine = sessions.kw["bind"]
    with engine.begin() as connection:
        config = _alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    assert "campaigns" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert {"campaigns", "campaign_picks", "campaign_measurements"} <= set(inspect(engine).get_table_names())
