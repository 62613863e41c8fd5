"""The row-by-row validate/split engine the columnar engine replaced, kept as the reference
implementation the tests compare the columnar engine with (same outputs, byte for byte)."""
