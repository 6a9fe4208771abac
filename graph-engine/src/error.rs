//! The one error type of the engine.

use schema::Rejection;

/// What can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The rules refused a command.
    #[error("rejected: {0}")]
    Rejected(#[from] Rejection),
    /// An import file is malformed or breaks a rule; names the file and line.
    #[error("{0}")]
    Import(#[from] crate::import::ImportError),
    /// The log backend failed (IO, connection, SQL).
    #[error("event log: {0}")]
    Log(#[from] sqlx::Error),
    /// Another writer appended first: the batch was not written.
    #[error("event log conflict: expected to append sequence {expected}, was given {found}")]
    Conflict {
        /// The sequence number the log expected.
        expected: u64,
        /// The one given.
        found: u64,
    },
    /// The log or a snapshot contradicts itself (a broken chain, an undecodable event).
    #[error("corrupt log or snapshot: {0}")]
    Corrupt(String),
    /// A limit was reached (queue full, too many vertices).
    #[error("limit exceeded: at most {limit} {what}")]
    LimitExceeded {
        /// What is limited.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The engine is shutting down or its writer stopped.
    #[error("the engine is shut down")]
    Shutdown,
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
