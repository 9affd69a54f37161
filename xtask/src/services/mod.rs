//! `cargo xtask services up|down|status`: the real engines that tests and the scale-out mode use.
//!
//! Each engine is a [`Service`] with the same four verbs (install, start, check, stop), listed
//! in [`all`]: PostgreSQL (Debian's cluster), Redis, Kafka, Cassandra and Garage (S3). Adding
//! one means one more module and one more entry there; the commands below need no change.
//! Every verb is idempotent, so `up` on a machine where everything already runs only checks,
//! and `down` where nothing runs does nothing.
//!
//! The engines other than PostgreSQL are installed into `$VIGIL_CACHE/engines` (or
//! `$VIGIL_CACHE/tools`) and keep their configs, data, pid files and logs in
//! `$VIGIL_CACHE/run/<service>/`, outside the clone; [`daemon`] and [`install`] hold what they
//! share, [`probe`] the wire handshakes that tell whether they answer.

mod cassandra;
mod daemon;
mod garage;
mod install;
mod kafka;
mod postgres;
mod probe;
pub mod redis;

use std::time::Instant;

use anyhow::{Result, bail};

use crate::util::human_duration;

pub use garage::test_env as s3_test_env;
pub use postgres::TEST_URL as POSTGRES_TEST_URL;
pub use redis::URL as REDIS_TEST_URL;
/// Kafka's bootstrap address on loopback.
pub const KAFKA_TEST_BROKERS: &str = "127.0.0.1:9092";
/// Where the tests find Cassandra (`services up cassandra`).
pub const CASSANDRA_TEST_NODES: &str = "127.0.0.1:9042";

/// One engine on the development machine, started on loopback.
pub trait Service {
    /// Short lowercase name used on the command line, e.g. `postgres`.
    fn name(&self) -> &'static str;

    /// Makes sure the engine is installed (or says exactly how to install it).
    fn install(&self) -> Result<()>;

    /// Starts the engine if it is not running, waits until it answers, and provisions what
    /// the project needs (roles, buckets, topics...).
    fn start(&self) -> Result<()>;

    /// Reports whether the engine is running and usable, without changing anything.
    fn check(&self) -> Result<Status>;

    /// Stops the engine if it runs.
    fn stop(&self) -> Result<()>;
}

/// What [`Service::check`] found.
#[derive(Debug)]
pub enum Status {
    /// Running and usable; the text says where.
    Running(String),
    /// Installed but not running or not usable; the text says why.
    Stopped(String),
    /// Not installed; the text says how to install it.
    Missing(String),
}

/// Every service, in start order (`down` stops them in reverse).
pub fn all() -> Vec<Box<dyn Service>> {
    vec![
        Box::new(postgres::Postgres),
        Box::new(redis::Redis),
        Box::new(kafka::Kafka),
        Box::new(cassandra::Cassandra),
        Box::new(garage::Garage),
    ]
}

/// Names of every service, for help and error messages.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|s| s.name()).collect()
}

/// The services named in `names` (all of them when `names` is empty), in start order.
fn select(names: &[String]) -> Result<Vec<Box<dyn Service>>> {
    for name in names {
        if !self::names().contains(&name.as_str()) {
            bail!(
                "unknown service `{name}`; known services: {}",
                self::names().join(", ")
            );
        }
    }
    Ok(all()
        .into_iter()
        .filter(|s| names.is_empty() || names.iter().any(|n| n == s.name()))
        .collect())
}

/// `services up`: installs, starts and provisions the selected services.
pub fn up(names: &[String]) -> Result<()> {
    for service in select(names)? {
        let started = Instant::now();
        eprintln!("==> {}: starting", service.name());
        service.install()?;
        service.start()?;
        eprintln!(
            "==> {}: ready ({})",
            service.name(),
            human_duration(started.elapsed())
        );
    }
    Ok(())
}

/// `services down`: stops the selected services, last started first.
pub fn down(names: &[String]) -> Result<()> {
    for service in select(names)?.into_iter().rev() {
        eprintln!("==> {}: stopping", service.name());
        service.stop()?;
    }
    Ok(())
}

/// `services status`: prints one line per service; fails if any is not running.
pub fn status(names: &[String]) -> Result<()> {
    let mut not_running = Vec::new();
    for service in select(names)? {
        let (state, detail) = match service.check()? {
            Status::Running(detail) => ("running", detail),
            Status::Stopped(detail) => {
                not_running.push(service.name());
                ("stopped", detail)
            }
            Status::Missing(detail) => {
                not_running.push(service.name());
                ("missing", detail)
            }
        };
        println!("{:<10} {state:<8} {detail}", service.name());
    }
    if !not_running.is_empty() {
        bail!(
            "not running: {}; start with `cargo xtask services up`",
            not_running.join(", ")
        );
    }
    Ok(())
}
