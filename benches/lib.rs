//! Shared helpers for the benchmarks in this folder. Each bench is a `[[bench]]` target of this package.
