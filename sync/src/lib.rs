//! Vigil's shared domain model and sync protocol.
//!
//! This crate is sans-IO: pure data and functions. Time is passed in (`now`), nothing
//! touches the network, the disk or a clock, and it compiles for `wasm32-unknown-unknown`
//! so the UI shares these exact types with the app and the backend.
//!
//! - [`category`]: the one incident taxonomy.
//! - [`incident`]: incidents, their ids, sources, locations and status.
//! - [`validate`]: the rules every report passes before it is accepted, with errors that
//!   name the field and say what to do.
//! - [`cell`]: H3 area cells used for aggregation and as partition keys.
//! - [`privacy`]: what public views show of a place (snapped to an H3 cell centre).
//! - [`conflict`]: who wins when a device's copy and the server's differ.
//! - [`protocol`]: sync protocol v1 messages (push, edits, pull, cursors).
//! - [`watch`]: watch areas and the alerts they raise.
//! - [`risk`]: risk features, the hint wording, and (feature `model`) the candle model.

pub mod category;
pub mod cell;
pub mod conflict;
pub mod incident;
pub mod privacy;
pub mod protocol;
pub mod risk;
pub mod validate;
pub mod watch;

pub use category::Category;
pub use cell::{AreaCell, CELL_RESOLUTION};
pub use incident::{
    Audience, Incident, IncidentId, Location, Report, ReportSubmission, Source, Status,
};
pub use protocol::{
    Change, Cursor, EditOutcome, EditRequest, EditResponse, EditResult, PROTOCOL_VERSION,
    PullResponse, PushOutcome, PushRequest, PushResponse, PushResult, ReportEdit,
};
pub use validate::{Limits, ValidationError};
