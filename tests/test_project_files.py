"""The project files agree with each other: settings cover the examples' connections and pools,
the Dockerfile installs the locked set and copies what the DAG loader reads, pins match the lock,
and CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from saleslayer_airflow.config import find_connector_files, load_connector
from tests.conftest import EXAMPLES, ROOT


def _lock(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        if m := re.match(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)", line):
            pins[re.sub(r"[-_.]+", "-", m[1]).lower()] = m[2]
    return pins


def test_airflow_settings_declare_every_connection_and_pool_the_examples_use() -> None:
    settings = yaml.safe_load((ROOT / "airflow_settings.yaml").read_text(encoding="utf-8"))
    conns = {c["conn_id"] for c in settings["airflow"]["connections"]}
    pools = {p["pool_name"] for p in settings["airflow"]["pools"]}
    for path in find_connector_files([EXAMPLES]):
        config = load_connector(path)
        used = {config.source.conn_id, config.target.conn_id}
        used |= {a.conn_id for a in (*config.alerting.on_failure, *config.alerting.on_success)}
        assert used <= conns, f"{path.name} uses undeclared connections {used - conns}"
        assert config.target.pool in pools, f"{path.name} uses undeclared pool"


def test_runtime_pins_equal_the_lock_and_the_dev_lock_agrees() -> None:
    runtime, dev = _lock("requirements.lock"), _lock("requirements-dev.lock")
    pins = _lock("requirements.txt")
    assert pins, "requirements.txt pins the runtime set"
    for name, version in pins.items():
        assert runtime.get(name) == version, (
            f"{name}: requirements.txt {version}, lock {runtime.get(name)}"
        )
    for name, version in runtime.items():
        assert dev.get(name) == version, f"{name}: runtime lock {version}, dev lock {dev.get(name)}"
    assert runtime["apache-airflow"] == "3.3.2"


def test_dockerfile_installs_the_lock_and_copies_what_the_loader_reads() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    base = re.search(r"^FROM apache/airflow:(\S+)-python(\S+)$", text, re.M)
    assert base, "FROM the official Airflow image, pinned"
    assert base[1] == _lock("requirements.lock")["apache-airflow"]
    assert base[2] == "3.11"
    assert re.search(r"^RUN pip install .*-r \S*requirements\.lock$", text, re.M)
    assert re.search(r"^RUN pip install .*--no-deps /opt/saleslayer-airflow$", text, re.M)
    copies = dict(re.findall(r"^COPY --chown=\S+ (dags|include|plugins) (\S+)$", text, re.M))
    assert set(copies) == {"dags", "include", "plugins"}
    parents = {str(Path(dest).parent) for dest in copies.values()}
    assert len(parents) == 1, "dags/ and include/ must be siblings: the loader finds ../include"
    assert all(Path(dest).name == src for src, dest in copies.items())
    loader = (ROOT / "dags" / "saleslayer_connectors.py").read_text(encoding="utf-8")
    assert '"include" / "connectors"' in loader


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    assert re.search(r"^make test$", ci, re.M)


def test_plugins_folder_holds_only_small_airflow_plugins() -> None:
    # Airflow runs every .py here as a top-level module in every process: the package must not
    # live here, only AirflowPlugin definitions.
    for path in (ROOT / "plugins").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "AirflowPlugin" in text, f"{path} is not an Airflow plugin"
        assert len(text.splitlines()) < 200, f"{path}: keep plugins small; code goes in src/"


def test_loader_file_passes_airflow_safe_mode_heuristic() -> None:
    from airflow.utils.file import might_contain_dag_via_default_heuristic

    assert might_contain_dag_via_default_heuristic(str(ROOT / "dags" / "saleslayer_connectors.py"))


def test_package_is_installed_as_a_distribution_not_found_by_path() -> None:
    # Imports work in Airflow processes because the package is installed, not because a folder
    # happens to be on sys.path (plugins/ and dags/ are, src/ is not).
    from importlib.metadata import distribution

    dist = distribution("saleslayer-airflow")
    assert dist.version == __import__("saleslayer_airflow").__version__
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts == {"saleslayer-airflow": "saleslayer_airflow.cli:main"}
