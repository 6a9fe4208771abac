//! Integration tests of the graph engine: one binary, a module per feature.

mod csr;
mod economy;
mod engine;
mod governance;
mod import;
mod sealing;
mod support;
