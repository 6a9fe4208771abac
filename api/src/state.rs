//! What the resolvers and handlers share: the engine, the index, the epochs, the accounts, the
//! caches, and the server's lifecycle signals.

use crate::{auth, caches, error, ids, metrics, ws};
use graph_engine::Engine;
use reputation::Epochs;
use search::{Blend, SearchIndex};
use std::sync::Arc;
use tokio::sync::watch;

/// Everything the resolvers and handlers share.
pub struct State {
    /// The engine.
    pub engine: Arc<Engine>,
    /// The search index.
    pub index: Arc<SearchIndex>,
    /// Score epochs.
    pub epochs: Arc<Epochs>,
    /// Accounts and sessions.
    pub auth: auth::AuthStore,
    /// Direct messages (end-to-end encrypted envelopes), keys and blocks, outside the log.
    pub messages: crate::messages::MessageStore,
    /// Global ids.
    pub ids: ids::GlobalIds,
    /// The key file's keys (export signing).
    pub keys: Arc<crate::keys::Keys>,
    /// How long an erased account's handles stay held.
    pub handle_cooling_off: std::time::Duration,
    /// The platform's fee on sales, in basis points.
    pub fee_bp: u16,
    /// Counters.
    pub metrics: metrics::Metrics,
    /// Views derived from the graph and the epochs (see [`caches`]).
    pub caches: caches::Caches,
    /// Shared subscription streams.
    pub hub: Arc<ws::Hub>,
    /// This process's replica id, when it is one of several on one PostgreSQL log.
    pub replica_id: Option<u16>,
    /// Up while this replica computes the epochs every replica serves (see [`crate::replica`]).
    pub epoch_leader: Option<Arc<std::sync::atomic::AtomicBool>>,
    pub(crate) epoch_numbers: watch::Receiver<u64>,
    pub(crate) shutdown: watch::Sender<bool>,
}

impl State {
    /// The lists at the graph's current position.
    pub fn listing(&self) -> Arc<caches::Listing> {
        self.caches.listing(&self.engine)
    }

    /// The works of a world.
    pub fn works_of_world(&self, world: schema::Id) -> Arc<Vec<u32>> {
        self.listing().works_by_world.get(&world).cloned().unwrap_or_default()
    }

    /// Searches with the latest epoch's reputation priors.
    pub async fn search(&self, request: search::Request) -> Result<Vec<search::Hit>, error::ApiError> {
        let result = match self.epochs.latest() {
            Some(set) => {
                self.index.search(&request, self.caches.priors(&self.engine, &set).as_ref(), &Blend::default())
            }
            None => self.index.search(&request, &search::NoSignals, &Blend::default()),
        };
        result.map_err(|e| match e {
            search::Error::Query(message) => error::ApiError::new(error::Code::BadUserInput, message).field("query"),
            other => error::ApiError::internal("search", other),
        })
    }

    /// Epoch numbers as they are published.
    pub fn epoch_numbers(&self) -> watch::Receiver<u64> {
        self.epoch_numbers.clone()
    }

    /// Resolves when the server is shutting down.
    pub fn shutdown_signal(&self) -> impl Future<Output = ()> + Send + 'static + use<> {
        let mut rx = self.shutdown.subscribe();
        async move {
            let _ = rx.wait_for(|&stop| stop).await;
        }
    }
}
