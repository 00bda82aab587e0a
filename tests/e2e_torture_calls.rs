//! End-to-end test (being written).
