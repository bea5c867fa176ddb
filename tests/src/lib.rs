//! End-to-end tests for bridge-net live in `tests/tests/`.
