//! Benches for bridge-net (see the `benches/` targets).
