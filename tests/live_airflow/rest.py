"""Airflow's REST API as its admin user, for the harnesses that start a real Airflow
(tests/live_airflow, tests/cluster): one token from the simple auth manager, then ``/api/v2``
calls with it."""

from __future__ import annotations

from typing import Any

import httpx

USER = "admin"


class AirflowApiError(RuntimeError):
    """A call to Airflow's REST API did not answer as expected; the message has the answer."""


class AirflowRest:
    """Mixed into a harness dataclass that has ``base_url``, ``password`` and ``_token``."""

    base_url: str
    password: str
    _token: str | None
    #: seconds per call (a loaded 2-core machine answers slowly, never this slowly)
    api_timeout: float = 60.0

    def token(self) -> str:
        """A JWT from the simple auth manager, for ``Authorization: Bearer``."""
        if self._token is None:
            answer = httpx.post(
                f"{self.base_url}/auth/token",
                json={"username": USER, "password": self.password},
                timeout=30,
            )
            if answer.status_code not in (200, 201):
                raise AirflowApiError(f"no API token: {answer.status_code} {answer.text}")
            self._token = str(answer.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call to ``/api/v2<path>`` with a bearer token."""
        headers = {"Authorization": f"Bearer {self.token()}"}
        return httpx.request(
            method,
            f"{self.base_url}/api/v2{path}",
            headers=headers,
            timeout=self.api_timeout,
            **kwargs,
        )

    def get(self, path: str, **params: Any) -> Any:
        """The JSON of a GET that must answer 200."""
        answer = self.api("GET", path, params=params)
        if answer.status_code != 200:
            raise AirflowApiError(f"GET {path}: {answer.status_code} {answer.text}")
        return answer.json()

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """A task try's log as the api-server serves it (from the workers, or the bucket with
        remote logging): each event's text and its errors, one per line."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        answer = self.api("GET", path)
        if answer.status_code != 200:
            return f"(no log: {answer.status_code} {answer.text[:300]})"
        lines = []
        for event in answer.json().get("content") or []:
            if not isinstance(event, dict):
                lines.append(str(event))
                continue
            lines.append(str(event.get("event", "")))
            lines += [
                f"  {e['exc_type']}: {e['exc_value']}" for e in event.get("error_detail") or []
            ]
        return "\n".join(lines)
