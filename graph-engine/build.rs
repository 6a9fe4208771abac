//! Marks the build when `DAIRA_TEST_POSTGRES_URL` names a PostgreSQL server for the tests: the
//! PostgreSQL halves of the backend suites then run, and otherwise they are reported as ignored,
//! with the reason, rather than passing without running.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(daira_postgres)");
    println!("cargo::rerun-if-env-changed=DAIRA_TEST_POSTGRES_URL");
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var("DAIRA_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=daira_postgres");
    }
}
