"""Import jobs: accepted calls that move ``prepare`` -> ``started`` -> ``end`` (or ``error``).

Jobs live in SQLite, so a restart in the middle of one resumes it: the next poll (or the
background tick) advances it from where it was. Items are written when a job reaches ``end``:
column by column when the job keeps its call as columns (:func:`bulk.job_batch`), else row by
row (:func:`importer.apply`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from saleslayer_airflow.emulator import bulk, importer
from saleslayer_airflow.emulator.settings import TrackingSettings
from saleslayer_airflow.emulator.storage import Job, Storage
from saleslayer_airflow.emulator.tenant import Tenant

FAILED_BY_FAULT = (
    "The import failed (emulated fault faults.tracking.job_failure_share); nothing was written"
)


class JobRunner:
    """Creates, advances and finishes import jobs."""

    def __init__(
        self,
        storage: Storage,
        tenant: Tenant,
        tracking: Callable[[], TrackingSettings],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._storage = storage
        self._tenant = tenant
        self._tracking = tracking
        self._clock = clock

    def submit(
        self,
        connector: str,
        batch: importer.Batch,
        counts: dict[str, object],
        *,
        fail: bool,
        at_once: bool = False,
        planned: importer.Plan | None = None,
        apply: Callable[[], importer.Counts] | None = None,
    ) -> Job:
        """Persist an accepted call as a job in ``prepare``; ``at_once``: apply it first (see
        :meth:`finish` for ``planned``; ``apply``, when given, applies it instead of
        :func:`importer.apply`: the column-wise path of :mod:`bulk`) and persist it ended, so its
        row is written once."""
        job = Job(
            id=uuid.uuid4().hex,
            connector=connector,
            created=self._clock(),
            status="prepare",
            polls=0,
            batch=batch,
            counts=counts,
            will_fail=fail,
        )
        if at_once:
            self._end(job, planned, apply)
        self._storage.add_job(job)
        return job

    def step(self, job: Job) -> int:
        """How far a job has come: polls answered, or elapsed time in steps, whichever is more."""
        settings = self._tracking()
        steps = job.polls
        if settings.seconds_per_step > 0:
            steps = max(steps, int((self._clock() - job.created) / settings.seconds_per_step))
        return steps

    def _percent(self, job: Job, step: int) -> int:
        if job.status in ("end", "error"):
            return 100
        if job.status == "prepare":
            return 0
        steps_to_end = max(self._tracking().steps_to_end, 1)
        return max(1, min(99, int(100 * step / steps_to_end)))

    def advance(self, job: Job) -> Job:
        """Move an open job to the status its step says, finishing it if its time has come."""
        if job.status in ("end", "error"):
            job.percent = 100
            return job
        step = self.step(job)
        if step >= self._tracking().steps_to_end:
            self.finish(job)
        elif step > 0 and job.status == "prepare":
            job.status = "started"
            self._storage.save_job(job)
        job.percent = self._percent(job, step)
        return job

    def poll(self, job_id: str) -> Job | None:
        """Answer one tracking poll: advance the job, then count the poll."""
        job = self._storage.job(job_id, batch=False)
        if job is None:
            return None
        self.advance(job)
        if job.status not in ("end", "error"):
            job.polls += 1
            self._storage.save_job(job)
        return job

    def finish(self, job: Job, planned: importer.Plan | None = None) -> None:
        """Apply the job's call (or fail it) and record the outcome. ``planned``: the call's
        plan, when the caller made it in the transaction this runs in (see importer.apply)."""
        self._end(job, planned)
        self._storage.save_job(job)

    def _end(
        self,
        job: Job,
        planned: importer.Plan | None,
        apply: Callable[[], importer.Counts] | None = None,
    ) -> None:
        connector = self._tenant.connector(job.connector)
        if job.will_fail:
            job.status, job.message = "error", FAILED_BY_FAULT
        elif connector is None:
            job.status = "error"
            job.message = f"connector {job.connector} is no longer in the tenant file"
        else:
            if not job.batch:  # read without it (a poll, a tick): it is needed now
                job.batch = self._storage.job_batch(job.id)
            form = bulk.job_form(job.batch)
            try:
                if apply is not None:
                    counts = apply()
                elif form is not None:
                    counts = bulk.apply_job(self._tenant, self._storage, connector, form)
                else:
                    counts = importer.apply(
                        self._tenant, self._storage, connector, job.batch, planned
                    )
            except importer.ImportRejected as exc:
                job.status, job.message = "error", f"The import failed: {exc}"
            else:
                tables = sorted(set(job.batch["upserts"]) | set(job.batch["deletes"]))
                job.counts = dict(counts.as_response(tables))
                job.status, job.message = "end", "Import finished"
        job.finished = self._clock()

    def tick(self) -> None:
        """Advance every open job (time-based progress); called by the background task."""
        for job in self._storage.open_jobs(batch=False):
            self.advance(job)
