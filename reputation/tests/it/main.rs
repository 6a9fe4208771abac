//! Integration tests of the reputation jobs.

mod trust;
