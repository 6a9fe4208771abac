//! Integration tests of the reputation jobs.

mod alignment;
mod clusters;
mod contribution;
mod epochs;
mod patrol;
mod seeds;
mod support;
mod topology;
mod trust;
