//! The committed SDL (`schema.graphql` at the repository root) is the schema: this fails when
//! the schema changes without it. Regenerate with
//! `DAIRA_WRITE_SDL=1 cargo test -p api --test sdl`.

#[test]
fn committed_sdl_matches_the_schema() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema.graphql");
    let sdl = api::gql::sdl();
    if std::env::var_os("DAIRA_WRITE_SDL").is_some() {
        std::fs::write(&path, &sdl).expect("write schema.graphql");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == sdl,
        "schema.graphql is out of date with the schema: run `DAIRA_WRITE_SDL=1 cargo test -p api --test sdl` and commit it"
    );
}

#[test]
fn limits_allow_introspection_and_refuse_abuse() {
    const { assert!(api::gql::DEPTH_MAX >= 15) };
    assert_eq!(api::gql::cost(Some(1_000_000), None, 3), 1 + 100 * 3);
}
