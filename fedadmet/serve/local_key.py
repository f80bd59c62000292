"""The API key of the person at this machine, so that `fedadmet serve` can open the web page ready to use."""

from __future__ import annotations

from fedadmet.config import Settings
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry

LOCAL_USER = "local"


def local_api_key(settings: Settings) -> str:
    """The key stored (mode 600) in FEDADMET_HOME if the registry still accepts it, else a new one."""
    path = settings.local_key_file
    sessions = open_registry(settings.registry_url)
    if path.is_file():
        key = path.read_text().strip()
        with sessions() as session:
            if repository.user_for_key(session, key) is not None:
                return key
    with sessions.begin() as session:
        key, _ = repository.create_api_key(session, LOCAL_USER)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(key)
    path.chmod(0o600)
    return key
