//! Integration tests of the graph engine: one binary, a module per feature.

mod conformance;
mod csr;
mod engine;
mod import;
mod replay;
mod support;
