"""What a person sees of a run in the Airflow UI: extra links to the run's report and rejects
file, and the small Airflow plugin whose web app serves those files from staging.

Importing this package is cheap (no FastAPI, no Airflow API server): task processes load it.
"""
