//! Public crime feeds: what every connector shares.

pub mod taxonomy;
