"""The row-by-row validate/split engine the columnar engine replaced, kept as the reference
implementation the tests compare the columnar engine with (same outputs, byte for byte).

Both engines apply the same value rules (``saleslayer_airflow.mapping.values``): a comparison
with the oracle checks the columnar machinery (fast paths, order, merges, parents), not the
rules' texts; the golden copy (tests/golden) checks those."""
