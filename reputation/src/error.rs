//! The one error type of the reputation jobs.

/// What can go wrong in a reputation job.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Seeds that are not masks of the graph, named.
    #[error("{} seed(s) not in the graph: {}", missing.len(), missing.iter().take(10).cloned().collect::<Vec<_>>().join(", "))]
    SeedsNotFound {
        /// The seeds not found (as given).
        missing: Vec<String>,
    },
    /// The epoch store could not be read or written.
    #[error("epoch store {}: {reason}", path.display())]
    Store {
        /// The file or folder.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The engine's log could not be read (to confirm kept epochs).
    #[error(transparent)]
    Log(#[from] graph_engine::Error),
    /// A parameter is out of its range.
    #[error("parameter {name} = {value} is out of range ({range})")]
    BadParameter {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: f64,
        /// The allowed range.
        range: &'static str,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
