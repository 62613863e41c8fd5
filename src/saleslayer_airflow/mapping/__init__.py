"""Mapping source rows onto Sales Layer tables, as the connector's `tables:` declares."""
