"""The columnar validate/split engine: readers -> mapping -> items -> tables (issue 12)."""
