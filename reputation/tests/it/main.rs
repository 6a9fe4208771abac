//! Integration tests of the reputation jobs.

mod clusters;
mod contribution;
mod trust;
