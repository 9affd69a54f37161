//! On-device risk hints: how a place compares with the rest of the city at an hour of the
//! week, from past reports only.
//!
//! - [`grid`]: the cells risk is counted in (square grid for analysts, H3 for devices).
//! - [`features`]: per-cell counts before a day, in the cell and its neighbour rings; the
//!   hour-of-week profile and category mix a device caches.
//! - [`hint`]: the level, kinds and wording of a hint.
//! - `model` and `eval` (feature `model`): the candle Poisson regression, its training,
//!   its files, and the PAI / hit-rate evaluation against the count map.

pub mod features;
pub mod grid;
pub mod hint;

#[cfg(feature = "model")]
pub mod eval;
#[cfg(feature = "model")]
pub mod model;

pub use features::{CellStats, Event, Features, History};
pub use grid::{CellGrid, CellId, GridSpec, SquareGrid};
pub use hint::{CategoryShare, CityReference, RiskHint, RiskLevel};
#[cfg(feature = "model")]
pub use model::{Manifest, RiskError, RiskModel, TrainOptions, train};
