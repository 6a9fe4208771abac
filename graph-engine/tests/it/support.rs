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

/// A backend the engine suites run on.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// A fresh engine configuration on this backend for one test.
    pub fn config(self, test: &str, dir: &std::path::Path) -> EngineConfig {
        match self {
            Backend::Sqlite => EngineConfig::new(dir.join("sqlite")),
            Backend::Postgres => {
                let mut config = EngineConfig::new(dir.join("pg"));
                config.database_url = Some(postgres_url().expect("DAIRA_TEST_POSTGRES_URL names the server"));
                config.pg_schema = Some(fresh_schema(test));
                config
            }
        }
    }
}

/// Runs each named `async fn(Backend)` as one test per backend: `…::sqlite::NAME` always, and
/// `…::postgres::NAME` against `DAIRA_TEST_POSTGRES_URL` — reported as ignored, with the
/// reason, when it is not set.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(daira_postgres), ignore = "set DAIRA_TEST_POSTGRES_URL to run it against PostgreSQL")]
                async fn $name() {
                    super::$name($crate::support::Backend::Postgres).await
                }
            )+
        }
    };
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
