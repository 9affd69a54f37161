//! Vigil's backend: the HTTP API and (as later work lands) every Lambda role.
//!
//! - [`api`]: the axum app, built by [`api::router`].
//! - [`db`]: the operational store on SQLite (embedded) or PostgreSQL (scale-out).
//! - [`import`]: bulk loads of public data files.
//! - [`log`]: the event log (embedded files today; Kafka with the streaming work).
//! - [`events`]: the records on the incident topic.
//! - [`relay`]: publishes the store's change feed to the event log.
//! - [`speed`]: the speed layer and its real-time views.
//! - [`alerts`]: the alert matcher (watch areas, dedupe, rate limit, digests, retraction).
//! - [`push`]: push notifications (Web Push, UnifiedPush, FCM, APNs).
//! - [`lake`]: the data lake (a directory or an S3 bucket) and its Parquet table.
//! - [`archive`]: the consumer that writes every change to the lake.
//! - [`batch`]: the batch layer (DataFusion over the lake) and its views' store.
//! - [`config`]: layered configuration (defaults, TOML, `VIGIL_*`, flags).
//! - [`serving`]: answers merged from the batch views and the speed layer's delta.
//! - [`photo`]: removing where-and-when metadata from photos before they are stored.
//! - [`risk`]: the risk model: `vigil risk` for analysts, training and publishing in the batch.
//! - [`serve`]: binding the API to a port with graceful shutdown.

pub mod alerts;
pub mod api;
pub mod archive;
pub mod batch;
pub mod config;
pub mod db;
pub mod events;
pub mod import;
pub mod ingest;
pub mod lake;
pub mod log;
pub mod photo;
pub mod push;
pub mod relay;
pub mod risk;
pub mod rounds;
pub mod serve;
pub mod serving;
pub mod speed;
