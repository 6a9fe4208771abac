//! DAIRA's vocabulary and rules, with no IO.
//!
//! A graph of [`VertexKind`]s (users, their masks, worlds, works, …) joined by [`EdgeKind`]s
//! changes only through [`Event`]s. An actor asks for a change with a [`Command`];
//! [`decide`] checks it against a read-only [`View`] of the graph and answers with the events
//! to append or a [`Rejection`]. Vertex ids are 64-bit and time-ordered ([`Id`],
//! [`IdGenerator`]). Who owns a mask is private: [`View::owner_of`] lets the rules use the link,
//! and nothing here ever returns it.

mod command;
mod decide;
pub mod economy;
mod event;
pub mod governance;
mod id;
pub mod jury;
mod kinds;
pub mod ledger;
mod mix;
mod props;
pub mod talk;
pub mod tally;
mod text;
pub mod visibility;

pub use command::{Actor, Command, EdgeBatch, ImportBatch, NewContract, NewProposal, NewVertex};
pub use decide::{
    AUTHORS_MAX, BULK_EDGES_PER_EVENT, BULK_VERTICES_PER_EVENT, MASKS_PER_USER_MAX, PERSONAL_PROPS, REMIX_WALK_MAX,
    Rejection, VIEWERS_MAX, View, decide, privilege,
};
pub use event::{Bulk, Erasure, Event, Lock, Sealed};
pub use id::{EPOCH_MS, Id, IdGenerator, NODE_MAX};
pub use kinds::{EDGE_KIND_COUNT, EdgeKind, MaskKind, UnknownName, VertexKind, WeightError};
pub use mix::{SplitMix64, mix64};
pub use props::{
    ERASED, F32s, Handle, I64s, LIST_LEN_MAX, NO_TIME, NO_WEIGHT, PROPS_MAX, Props, TEXT_BYTES_MAX, U32s, U64s, Value,
    check_props, time_of, weight_of,
};
pub use text::clean_text;
