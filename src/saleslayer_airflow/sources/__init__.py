"""Fetching ERP exports into staging: one module per protocol on Airflow's provider hooks.

    base.py         the landed-file record; choosing and streaming files from a file server
    http.py         a file at a URL (HttpHook), and the HTTP client the API source shares
    ftp.py          FTP and FTPS (FTPHook / FTPSHook)
    sftp.py         SFTP (SFTPHook)
    api.py          a paginated JSON API landed as JSON Lines, resumable page by page
    selection.py    listings normalised, glob and pick rule
    stability.py    the size-stable check
    fingerprint.py  per-file digests and the combined fingerprint
    recheck.py      the timer trigger a waiting fetch defers on (on_missing: wait)
    errors.py       transient and terminal fetch errors

The connector's last import, which an unchanged export is compared with, is
saleslayer_airflow.import_history (written by the report stage, read here).

Nothing here is imported when DAGs are parsed; the fetch operator imports it when it runs.
"""
