//! Integration tests of the graph engine.
