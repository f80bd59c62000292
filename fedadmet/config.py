"""One typed place for every setting. Values come from FEDADMET_* environment variables or defaults."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from fedadmet.chem.parallel import ParallelOptions
    from fedadmet.chem.standardize import MoleculeLimits


def _every_core() -> int:
    return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    """Runtime settings; read once per process through :func:`get_settings`."""

    model_config = SettingsConfigDict(env_prefix="FEDADMET_", extra="ignore")

    home: Path = Field(default=Path(".fedadmet"), description="Folder for caches and trained models.")
    n_jobs: int = Field(
        default_factory=_every_core, ge=1, description="Worker processes for chemistry; -1: one per core."
    )
    parallel_threshold: int = Field(
        default=2000,
        ge=1,
        description="Standardise, featurise and match alerts in worker processes from this many molecules on.",
    )
    max_heavy_atoms: int = Field(default=150, ge=1, description="Larger molecules are rejected as out of scope.")
    max_smiles_length: int = Field(default=2000, ge=1)
    progress: bool = Field(default=True, description="Show progress bars on long work.")
    model_dir: Path | None = Field(default=None, description="Model used by predict; default: see default_model.")
    database_url: str | None = Field(
        default=None, description="Registry database (SQLAlchemy URL); default: a SQLite file in home."
    )
    # Serving (REST API, web page, batch jobs).
    host: str = Field(default="127.0.0.1", description="Address `fedadmet serve` listens on.")
    port: int = Field(default=8000, ge=1, le=65535)
    api_max_molecules: int = Field(default=1000, ge=1, description="Most SMILES one POST /v1/predict may carry.")
    api_max_body_bytes: int = Field(default=1_000_000, ge=1024, description="Largest JSON request body.")
    upload_max_bytes: int = Field(default=50_000_000, ge=1024, description="Largest batch-job upload.")
    job_max_rows: int = Field(default=1_000_000, ge=1, description="Most molecules in one batch job.")
    job_chunk_rows: int = Field(default=500, ge=1, description="Rows a batch job profiles between checkpoints.")
    job_max_wait_s: float = Field(
        default=600.0,
        gt=0,
        description="A queued batch job that has waited this long runs next, even before shorter ones, and is "
        "not paused for shorter ones for as long again: shortest-first never starves a long job.",
    )
    batch_wait_ms: float = Field(
        default=4.0, ge=0, description="How long concurrent /v1/predict calls wait to be batched together."
    )
    batch_max_molecules: int = Field(default=256, ge=1, description="Largest micro-batch of concurrent calls.")
    serve_processes: int = Field(
        # One per core: measured with 20 clients on the same two cores, two workers answered 104 requests/s
        # (p99 358 ms) and one 64 (p99 579 ms); the event loop mostly waits, so it needs no core of its own.
        default_factory=_every_core,
        ge=0,
        description="Worker processes computing /v1/predict profiles (0: a thread of the server process).",
    )

    @field_validator("n_jobs", mode="before")
    @classmethod
    def _minus_one_is_every_core(cls, value: object) -> object:
        return _every_core() if str(value).strip() == "-1" else value

    @field_validator("model_dir", "database_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``FEDADMET_MODEL_DIR=`` (set but empty) means the default, not the current folder."""
        return None if isinstance(value, str) and not value.strip() else value

    def molecule_limits(self) -> MoleculeLimits:
        """The size limits that chemistry applies to every input molecule."""
        from fedadmet.chem.standardize import MoleculeLimits  # on use: reading settings needs no RDKit

        return MoleculeLimits(max_smiles_length=self.max_smiles_length, max_heavy_atoms=self.max_heavy_atoms)

    def parallel(self, progress: bool | None = None) -> ParallelOptions:
        """How chemistry over many molecules runs (worker processes, progress bars); ``progress``, when given,
        overrides the setting (servers and quiet steps turn the bars off)."""
        from fedadmet.chem.parallel import ParallelOptions

        return ParallelOptions(
            n_jobs=self.n_jobs,
            progress=self.progress if progress is None else progress,
            parallel_threshold=self.parallel_threshold,
        )

    @property
    def feature_cache_dir(self) -> Path:
        return self.home / "feature_cache"

    @property
    def registry_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'registry.db').resolve()}"

    @property
    def reference_cache_dir(self) -> Path:
        """Approved-drug references of model folders that cannot be written (e.g. installed read-only)."""
        return self.home / "reference"

    @property
    def jobs_dir(self) -> Path:
        return self.home / "jobs"

    @property
    def campaigns_dir(self) -> Path:
        """Where each campaign keeps its featurised pool and the lab's order files."""
        return self.home / "campaigns"

    @property
    def local_key_file(self) -> Path:
        """The API key `fedadmet serve` creates for the person at this machine (mode 600)."""
        return self.home / "local_api_key"

    @property
    def trained_model_dir(self) -> Path:
        """Where `fedadmet train` writes a user-trained default model."""
        return self.home / "models" / "default"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
