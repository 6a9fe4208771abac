//! Integration tests of the reputation jobs.

mod clusters;
mod trust;
