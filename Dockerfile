# The connectors on the official Apache Airflow 3.3.2 image (Python 3.11), with exactly the
# locked package set the tests ran against.
#
#   docker build -t saleslayer-airflow .
#
# On Astro, the same steps work on an Astro Runtime 3.3 "-base" image (no ONBUILD steps); keep
# AIRFLOW_HOME's dags/, include/ and plugins/ side by side, as the DAG loader finds
# include/connectors relative to dags/.
FROM apache/airflow:3.3.2-python3.11

# The full resolved set (Airflow's constraints file is not used: requirements.lock replaces it).
COPY --chown=airflow:root requirements.lock /opt/saleslayer-airflow/requirements.lock
RUN pip install --no-cache-dir -r /opt/saleslayer-airflow/requirements.lock

# The package itself, installed like any other (it is not loose in plugins/).
COPY --chown=airflow:root pyproject.toml README.md /opt/saleslayer-airflow/
COPY --chown=airflow:root src /opt/saleslayer-airflow/src
RUN pip install --no-cache-dir --no-deps /opt/saleslayer-airflow

# What the DAG processor reads: the loader, the connector files, the plugin folder.
COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root include /opt/airflow/include
COPY --chown=airflow:root plugins /opt/airflow/plugins
