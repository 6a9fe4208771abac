//! Shared helpers: backends to run suites against, and small graph builders.

use graph_engine::{Engine, EngineConfig, NoProgress};
use schema::{Actor, Command, Id, MaskKind};

/// The PostgreSQL server for the backend suites: `DAIRA_TEST_POSTGRES_URL`. CI sets it; without
/// it the PostgreSQL half of each suite says it was skipped.
pub fn postgres_url() -> Option<String> {
    std::env::var("DAIRA_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())
}

/// A fresh PostgreSQL schema name for one test.
pub fn fresh_schema(test: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("t_{test}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

/// Engine configurations for every backend available: SQLite always, PostgreSQL when set.
pub fn configs(test: &str, dir: &std::path::Path) -> Vec<(String, EngineConfig)> {
    let mut configs = vec![("sqlite".to_string(), EngineConfig::new(dir.join("sqlite")))];
    match postgres_url() {
        Some(url) => {
            let mut config = EngineConfig::new(dir.join("pg"));
            config.database_url = Some(url);
            config.pg_schema = Some(fresh_schema(test));
            configs.push(("postgres".to_string(), config));
            eprintln!("{test}: running on SQLite and on PostgreSQL");
        }
        None => eprintln!("note: DAIRA_TEST_POSTGRES_URL not set; {test} ran on SQLite only"),
    }
    configs
}

pub async fn open(config: &EngineConfig) -> Engine {
    Engine::open(config, &NoProgress).await.expect("engine opens")
}

/// A user with one mask.
pub struct Person {
    pub user: Id,
    pub mask: Id,
}

impl Person {
    pub fn actor(&self) -> Actor {
        Actor { user: self.user, mask: self.mask }
    }
}

pub async fn person(engine: &Engine, handle: &str, kind: MaskKind) -> Person {
    let user = engine.new_id();
    engine.execute(Command::RegisterUser { user }).await.expect("register");
    let mask = engine.new_id();
    engine
        .execute(Command::CreateMask {
            user,
            mask,
            kind,
            handle: handle.into(),
            display_name: format!("{handle} ✨ عرض"),
            bio: "رسام جرافيتي من القاهرة".into(),
        })
        .await
        .expect("create mask");
    Person { user, mask }
}

pub async fn second_mask(engine: &Engine, user: Id, handle: &str, kind: MaskKind) -> Id {
    let mask = engine.new_id();
    engine
        .execute(Command::CreateMask {
            user,
            mask,
            kind,
            handle: handle.into(),
            display_name: handle.into(),
            bio: String::new(),
        })
        .await
        .expect("create mask");
    mask
}
