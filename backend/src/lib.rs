//! Vigil's backend: the HTTP API and (as later work lands) every Lambda role.
//!
//! - [`api`]: the axum app, built by [`api::router`].
//! - [`db`]: the operational store on SQLite (embedded) or PostgreSQL (scale-out).
//! - [`import`]: bulk loads of public data files.
//! - [`log`]: the event log (embedded files today; Kafka with the streaming work).
//! - [`events`]: the records on the incident topic.
//! - [`relay`]: publishes the store's change feed to the event log.
//! - [`speed`]: the speed layer and its real-time views.
//! - [`config`]: layered configuration (defaults, TOML, `VIGIL_*`, flags).
//! - [`serve`]: binding the API to a port with graceful shutdown.

pub mod api;
pub mod config;
pub mod db;
pub mod events;
pub mod import;
pub mod log;
pub mod relay;
pub mod rounds;
pub mod serve;
pub mod speed;
