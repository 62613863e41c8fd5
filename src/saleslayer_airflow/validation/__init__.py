"""Validating mapped rows and splitting them into per-table files, with a rejects file."""
