"""The ``airflow`` command line, started after Airflow's in-process Execution API is built:
how ``bench/pipeline.py`` launches ``airflow dags test``.

    .venv/bin/python bench/airflow_launcher.py dags test <dag_id> <logical date> -c '<conf>'

``airflow dags test`` runs the tasks in its own process and answers their calls with an
Execution API app built in that process too (``InProcessExecutionAPI``, lru-cached by
``airflow.sdk.execution_time.supervisor.in_process_api_server``), when the first task starts:
FastAPI (about 1 s of CPU), then, on the task's first call, cadwyn generating the routes of every
API version (about 3 s of CPU on a 2-core machine, counted against the first task,
``fetch_source``). In a deployment that app lives in the api-server, built once when it starts:
no task pays it. So this
launcher builds the same cached instance and sends it one request (``GET /health``, which makes
cadwyn generate its routes) before the command line runs, prints what that cost on one line::

    AIRFLOW_STARTUP wall_s=4.2 cpu_s=4.1 build_s=1.1 build_cpu_s=1.0 first_request_s=3.1
    first_request_cpu_s=3.1 check_s=0.002

and hands over to ``airflow``'s own ``main``. Plain ``airflow dags test`` builds the app
(``build``) just before it stamps the first task's start, and makes the first request (the
routes) just after: only ``first_request`` lands in fetch_source's figures, so that is what the
benchmark reports as taken out of the task; ``build`` is Airflow start-up too, but outside any
task either way. ``check_s`` is a second request, timed to show that nothing is left to build.
With ``BENCH_PROFILE=<file>`` in the environment the command line runs under cProfile (after the
build, so the profile is the command's), its stats written to that file at the end.

Exit status: the command line's; 3 when the app could not be built or did not answer (the
message says so).
"""

from __future__ import annotations

import contextlib
import cProfile
import importlib
import os
import sys
import time

#: The line the benchmark reads from the command's output.
MARKER = "AIRFLOW_STARTUP"
#: Where to write a cProfile of the command line, when set.
PROFILE_ENV = "BENCH_PROFILE"
#: Modules the app's build imports that ``airflow dags test`` has imported anyway by its first
#: task's first call (found by comparing ``sys.modules`` at that call, plain, with what the build
#: adds): imported before the clock starts, so that the figure is only what the first task would
#: have paid. Without this it was 1-1.5 s of CPU too high (219 modules: Airflow's ORM models,
#: serialization). A module Airflow no longer has is skipped.
PRELOADED = (
    "airflow.cli.cli_parser",
    "airflow.cli.commands.dag_command",
    "airflow.sdk.execution_time.supervisor",
    "airflow.models.dag",
    "airflow.models.dagbag",
    "airflow.models.dagrun",
    "airflow.models.serialized_dag",
    "airflow.models.taskinstance",
    "airflow.models.trigger",
    "airflow.models.revoked_token",
    "airflow.models.task_state_store",
    "airflow.models.asset_state_store",
    "airflow.serialization.serialized_objects",
    "asgiref.sync",
    "difflib",
    "unittest.mock",
)


class LauncherError(Exception):
    """The in-process Execution API could not be built or did not answer; the message says how."""


def build_execution_api() -> dict[str, float]:
    """Build the Execution API app the CLI's tasks will use, make it generate its routes; the
    seconds (wall) and CPU seconds (every thread of this process) that took."""
    import httpx
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    wall0, cpu0 = time.perf_counter(), time.process_time()
    api = in_process_api_server()
    transport = api.transport  # builds the app and starts its lifespan in a thread
    built, built_cpu = time.perf_counter(), time.process_time()
    # The in-process client's own base URL; the transport never opens a socket.
    with httpx.Client(transport=transport, base_url="http://in-process.invalid./") as client:
        answer = client.get("/health")
        first, first_cpu = time.perf_counter(), time.process_time()
        again = client.get("/health")
        checked = time.perf_counter() - first
    for response in (answer, again):
        if response.status_code != 200:
            raise LauncherError(
                f"the in-process Execution API answered GET /health with "
                f"{response.status_code}: {response.text[:200]}; Airflow "
                "(airflow.api_fastapi.execution_api) may have changed how it is built"
            )
    return {
        "wall_s": first - wall0,
        "cpu_s": first_cpu - cpu0,
        "build_s": built - wall0,
        "build_cpu_s": built_cpu - cpu0,
        "first_request_s": first - built,
        "first_request_cpu_s": first_cpu - built_cpu,
        "check_s": checked,
    }


def main(argv: list[str]) -> int:
    """Build the Execution API, print its cost, run ``airflow <argv>``."""
    # Airflow's import (config, settings, ORM) is not the Execution API's: a task process in a
    # deployment pays it too, so it stays out of the figure (and before the first task anyway).
    import airflow  # noqa: F401

    for module in PRELOADED:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    try:
        figures = build_execution_api()
    except (LauncherError, ImportError, AttributeError) as exc:
        print(f"{MARKER} failed: {exc}", file=sys.stderr, flush=True)
        return 3
    print(MARKER + "".join(f" {k}={v:.3f}" for k, v in figures.items()), flush=True)
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", *argv]
    profile_to = os.environ.get(PROFILE_ENV)
    if not profile_to:
        airflow_main()  # type: ignore[no-untyped-call]  # Airflow's own, untyped
        return 0
    profiler = cProfile.Profile()
    try:
        profiler.runcall(airflow_main)
    finally:
        profiler.dump_stats(profile_to)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
