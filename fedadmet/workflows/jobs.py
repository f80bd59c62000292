"""Batch prediction jobs that outlive the server process: submit, list, get, withdraw, fetch the result,
and the worker that runs and resumes them.

The upload is validated and stored before the job is acknowledged; a worker thread then profiles it in
chunks, each written to its own file before progress is recorded, so a server restart resumes a job at
its last finished chunk. Nothing about a job lives only in memory.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlalchemy.exc import SQLAlchemyError

from fedadmet.config import Settings
from fedadmet.data.loaders import find_smiles_column, read_molecules
from fedadmet.data.output import write_csv
from fedadmet.exceptions import InputError, TooLargeError
from fedadmet.inference import ERROR_COLUMN, Predictor
from fedadmet.registry import repository
from fedadmet.registry.tables import PredictionJob, as_utc, utcnow
from fedadmet.workflows.profiling import choose_endpoints, profile
from fedadmet.workflows.store import Store
from fedadmet.workflows.views import Page

log = logging.getLogger(__name__)
UPLOAD_KINDS = (".csv", ".tsv", ".tab", ".txt", ".smi", ".sdf", ".sd")
UPLOAD_SUFFIXES = tuple(f"{kind}{gz}" for kind in UPLOAD_KINDS for gz in ("", ".gz"))
RESULT_FILE = "result.csv"
OPTIONS_FILE = "options.json"
WORKER_RETRY_S = 5.0
PAUSED_MESSAGE = "paused while a shorter job runs"


@dataclass(frozen=True)
class JobView:
    """A job as its owner sees it."""

    id: str
    filename: str
    status: str
    rows: int
    done: int
    errors: int
    message: str
    created: datetime  # in UTC

    @property
    def progress(self) -> float:
        return round(self.done / self.rows, 4) if self.rows else 1.0

    @property
    def completed(self) -> bool:
        return self.status == "completed"


def job_view(job: PredictionJob) -> JobView:
    return JobView(
        job.id, job.filename, job.status, job.n_rows, job.n_done, job.n_errors, job.message, as_utc(job.created)
    )


class JobNotFoundError(InputError):
    """No such job of this user (another user's job is indistinguishable from none)."""


class JobNotReadyError(InputError):
    """The job has no result yet."""


class JobWithdrawnError(InputError):
    """The job was cancelled or its files deleted by its owner."""


@dataclass(frozen=True)
class JobResult:
    path: Path
    download_name: str


def upload_suffix(filename: str) -> str:
    name = filename.lower()
    for suffix in sorted(UPLOAD_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise InputError(f"unsupported file type: {filename!r}", expected=f"one of {', '.join(UPLOAD_SUFFIXES)}")


class JobService:
    """Accepts uploads, runs them one after another in a background thread, and recovers after restarts."""

    def __init__(self, sessions: Store, settings: Settings, model: Predictor, model_uri: str) -> None:
        self.sessions, self.settings, self.model, self.model_uri = sessions, settings, model, model_uri
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy_with: str | None = None  # the job the worker thread is profiling
        self._unpausable_until = 0.0  # monotonic time until which the current job runs on (it had waited long)

    # ------------------------------------------------------------------ requests
    def submit(
        self,
        filename: str,
        data: bytes,
        user_id: int | None,
        smiles_column: str | None = None,
        endpoints: Sequence[str] | None = None,
    ) -> JobView:
        """Store and validate an upload; raises InputError (nothing kept) if it cannot be profiled.
        ``endpoints``: only these endpoints' columns (see :func:`choose_endpoints`; default: all).

        Blocks while the file is parsed (seconds for a large SD file): call it from a worker thread.
        """
        chosen = None if endpoints is None else choose_endpoints(self.model.endpoints, endpoints)
        suffix = upload_suffix(filename)
        job_id = uuid.uuid4().hex
        folder = self.settings.jobs_dir / job_id
        folder.mkdir(parents=True)
        try:
            path = folder / f"upload{suffix}"
            path.write_bytes(data)
            frame = read_molecules(
                path,
                smiles_column,
                max_bytes=self.settings.upload_max_bytes,
                max_rows=self.settings.job_max_rows + 1,
                source=filename,
            )
            if frame[find_smiles_column(frame, smiles_column)].dropna().str.strip().eq("").all():
                raise InputError(f"{filename} holds no readable molecule", expected="SMILES or SD records")
            if len(frame) > self.settings.job_max_rows:
                raise TooLargeError(
                    f"{filename} holds more than {self.settings.job_max_rows} molecules",
                    expected=f"at most {self.settings.job_max_rows} per job (split the file)",
                )
            frame.to_csv(folder / "input.csv", index=False)  # one normalised form, whatever was uploaded
            path.unlink()
            options = {"smiles_column": smiles_column, "chunk_rows": self.settings.job_chunk_rows, "endpoints": chosen}
            (folder / OPTIONS_FILE).write_text(json.dumps(options))  # fixed for the job, whatever restarts bring
            with self.sessions.begin() as session:
                job = repository.create_job(
                    session,
                    job_id,
                    filename=filename[:255],
                    folder=str(folder),
                    model_uri=self.model_uri,
                    n_rows=len(frame),
                    user_id=user_id,
                )
                view = job_view(job)
        except BaseException:
            _discard(folder)
            raise
        self._wake.set()
        return view

    def list(self, user_id: int | None, limit: int, offset: int = 0) -> Page[JobView]:
        """The user's jobs, newest first (``limit`` of them from ``offset``, and how many there are): a
        client that lost a job's id finds it here."""
        with self.sessions() as session:
            jobs = repository.list_jobs(session, user_id, limit, offset)
            return Page(items=[job_view(job) for job in jobs], total=repository.count_jobs(session, user_id))

    def get(self, job_id: str, user_id: int | None) -> JobView | None:
        """The job if it exists and belongs to ``user_id`` (others' jobs are indistinguishable from none)."""
        with self.sessions() as session:
            job = repository.get_job(session, job_id)
        return job_view(job) if job is not None and job.user_id == user_id else None

    def result(self, job_id: str, user_id: int | None) -> JobResult:
        """The completed job's result file and the name to download it as; typed errors for a job that is
        not the user's, withdrawn, or not completed yet."""
        with self.sessions() as session:
            job = repository.get_job(session, job_id)
        if job is None or job.user_id != user_id:
            raise JobNotFoundError(f"no job {job_id!r} for this API key")
        if job.status in repository.WITHDRAWN_JOB_STATES:
            raise JobWithdrawnError(f"job {job_id} is {job.status}: {job.message}")
        if job.status != "completed":
            raise JobNotReadyError(f"job {job_id} is {job.status}; its result is ready when it is completed")
        stem = Path(job.filename).name.split(".")[0] or "molecules"
        return JobResult(Path(job.folder) / RESULT_FILE, f"{stem}_admet.csv")

    def withdraw(self, job_id: str, user_id: int | None) -> JobView | None:
        """Cancel the owner's unfinished job, or delete a finished one's files (upload, chunks, result).

        The job the worker is busy with stops at its next chunk, and the worker then removes its files (its
        next registry update is refused); any other job's files go at once. The registry row stays."""
        if self.get(job_id, user_id) is None:
            return None
        with self.sessions.begin() as session:
            withdrawn = repository.withdraw_job(session, job_id)
        assert withdrawn is not None
        job, previous = withdrawn
        if previous != "running" or self._busy_with != job_id:
            _discard(job.folder)
        return job_view(job)

    # ------------------------------------------------------------------ worker
    def start(self) -> None:
        self.recover()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="fedadmet-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def recover(self) -> None:
        """Jobs left running by a stopped server go back to the queue, to resume at their last chunk;
        withdrawn jobs whose files a stopped worker had not removed yet lose them now."""
        with self.sessions.begin() as session:
            for job in repository.jobs_in_state(session, *repository.WITHDRAWN_JOB_STATES):
                _discard(job.folder)
            for job in repository.jobs_in_state(session, "running"):
                repository.update_job(
                    session,
                    job.id,
                    status="queued",
                    message=f"server restarted; resuming at row {job.n_done + 1} of {job.n_rows}",
                )

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if not self._run_next():
                    self._wake.wait(timeout=1.0)
                    self._wake.clear()
            except Exception:  # e.g. the registry locked or unreachable for a moment: the job resumes later
                log.exception("the batch-job worker failed; it carries on in %.0f s", WORKER_RETRY_S)
                self._stop.wait(WORKER_RETRY_S)

    def _run_next(self) -> bool:
        """Run the job :func:`choose_job` picks; False if there is none. A job still "running" here is
        one this thread left when the registry failed under it; it resumes at its last finished chunk."""
        with self.sessions() as session:
            unfinished = repository.jobs_in_state(session, "running", "queued")
        if not unfinished:
            return False
        job, waited_long = choose_job(unfinished, utcnow(), self.settings.job_max_wait_s)
        self._busy_with = job.id
        self._unpausable_until = time.monotonic() + self.settings.job_max_wait_s if waited_long else 0.0
        try:
            self.run_job(self._busy_with)
        finally:
            self._busy_with = None
        return True

    def _shorter_job_waits(self, job_id: str, rows_left: int) -> bool:
        if time.monotonic() < self._unpausable_until:
            return False
        with self.sessions() as session:
            waiting = repository.jobs_in_state(session, "queued")
        return any(_rows_left(job) < rows_left for job in waiting if job.id != job_id)

    def run_job(self, job_id: str) -> None:
        """Profile a job chunk by chunk; a failure is recorded with its reason, never lost. Registry
        errors propagate (the job stays unfinished and is resumed), anything else fails the job only."""
        with self.sessions.begin() as session:
            job = repository.get_job(session, job_id)
            assert job is not None
            folder, n_rows, n_done, n_errors = Path(job.folder), job.n_rows, job.n_done, job.n_errors
            message = "" if job.message == PAUSED_MESSAGE else job.message  # a restart's note stays while it runs
            if not repository.update_job(session, job_id, status="running", message=message):
                _discard(folder)  # withdrawn since it was picked
                return
        try:
            self._profile_chunks(job_id, folder, n_rows, n_done, n_errors)
        except SQLAlchemyError:
            raise
        except Exception as exc:
            with self.sessions.begin() as session:
                failed = repository.update_job(session, job_id, status="failed", message=_failure_reason(exc, folder))
            if failed:
                log.exception("job %s failed", job_id)
            else:
                _discard(folder)

    def _profile_chunks(self, job_id: str, folder: Path, n_rows: int, n_done: int, n_errors: int) -> None:
        """Profile the chunks from row ``n_done`` on (those before are done and counted in ``n_errors``),
        then assemble the result."""
        frame = pd.read_csv(folder / "input.csv", dtype=str, keep_default_na=False, na_values=[""])
        options = json.loads((folder / OPTIONS_FILE).read_text()) if (folder / OPTIONS_FILE).is_file() else {}
        chunks_dir = folder / "chunks"
        chunks_dir.mkdir(exist_ok=True)
        size = options.get("chunk_rows", self.settings.job_chunk_rows)
        for start in range(n_done, n_rows, size):  # n_done is a multiple of size, or n_rows
            if self._stop.is_set():
                return  # left "running": the next server start resumes here
            chunk_file = chunks_dir / f"{start // size:06d}.csv"
            if not chunk_file.is_file():  # it can exist if the server stopped before recording it
                if start and self._shorter_job_waits(job_id, n_rows - start):
                    with self.sessions.begin() as session:
                        if not repository.update_job(session, job_id, status="queued", message=PAUSED_MESSAGE):
                            _discard(folder)
                    return
                result = profile(
                    frame.iloc[start : start + size],
                    predictor=self.model,
                    smiles_column=options.get("smiles_column"),
                    endpoints=options.get("endpoints"),
                    progress=False,
                )
                write_csv(result, chunk_file)
            n_errors += int(pd.read_csv(chunk_file, usecols=[ERROR_COLUMN])[ERROR_COLUMN].notna().sum())
            with self.sessions.begin() as session:
                progressed = repository.update_job(session, job_id, n_done=min(start + size, n_rows), n_errors=n_errors)
            if not progressed:  # withdrawn by its owner: stop here, within one chunk
                _discard(folder)
                return
        result_file = folder / RESULT_FILE
        parts = sorted(chunks_dir.glob("*.csv"))
        write_csv(pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in parts]), result_file)
        shutil.rmtree(chunks_dir)
        with self.sessions.begin() as session:
            completed = repository.update_job(session, job_id, status="completed", message="")
        if not completed:
            _discard(folder)


def _discard(folder: str | Path) -> None:
    """Remove a job's files (withdrawn, or refused at upload): its owner's molecules do not stay on the server."""
    shutil.rmtree(folder, ignore_errors=True)


def _failure_reason(exc: Exception, folder: Path) -> str:
    """What went wrong, for the job's owner: without the server's file paths."""
    detail = f"{exc.strerror}: {Path(exc.filename).name}" if isinstance(exc, OSError) and exc.filename else f"{exc}"
    return f"could not profile the stored upload: {type(exc).__name__}: {detail}".replace(str(folder), "<job>")


def _rows_left(job: PredictionJob) -> int:
    return job.n_rows - job.n_done


def choose_job(unfinished: Sequence[PredictionJob], now: datetime, max_wait_s: float) -> tuple[PredictionJob, bool]:
    """The job to run next, and whether it is one that had waited too long.

    Shortest first (fewest rows left, the oldest of equals), so that ten molecules do not wait hours behind
    a million: a running job yields at its next chunk when a shorter one arrives. But a queued job that has
    waited more than ``max_wait_s`` since it was queued or paused goes first (the longest-waiting), and then
    runs that long again before it yields, so a steady stream of short jobs cannot starve it.
    """
    waited_long = [j for j in unfinished if j.status == "queued" and _seconds_since(j.updated, now) > max_wait_s]
    if waited_long:
        return min(waited_long, key=lambda j: as_utc(j.updated)), True
    return min(unfinished, key=_rows_left), False  # stable: jobs_in_state gives the oldest first


def _seconds_since(moment: datetime, now: datetime) -> float:
    return (now - as_utc(moment)).total_seconds()
