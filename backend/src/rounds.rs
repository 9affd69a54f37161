//! What every long-running pipeline role does between rounds: back off after failures,
//! and stop when asked.

use std::{fmt::Display, future::Future, pin::Pin, time::Duration};

use prometheus_client::metrics::counter::Counter;

/// Decides the wait after each round: what a successful round asked for, or a backoff that
/// doubles from `idle` up to `max` after failures (logged and counted) and resets on the
/// next success.
#[derive(Debug)]
pub struct Rounds {
    role: &'static str,
    idle: Duration,
    max: Duration,
    backoff: Duration,
    failures: Counter,
}

impl Rounds {
    pub fn new(role: &'static str, idle: Duration, max: Duration, failures: Counter) -> Rounds {
        Rounds {
            role,
            idle,
            max,
            backoff: idle,
            failures,
        }
    }

    /// The wait after a round that ended with `result`.
    pub fn wait_after<E: Display>(&mut self, result: Result<Duration, E>) -> Duration {
        match result {
            Ok(wait) => {
                self.backoff = self.idle;
                wait
            }
            Err(error) => {
                self.failures.inc();
                let wait = self.backoff;
                tracing::warn!(%error, role = self.role, retry_in = ?wait, "round failed");
                self.backoff = (self.backoff * 2).min(self.max);
                wait
            }
        }
    }
}

/// Sleeps `wait`; returns true if `shutdown` completed first.
pub async fn stopped_during<F: Future<Output = ()>>(wait: Duration, shutdown: Pin<&mut F>) -> bool {
    tokio::select! {
        () = shutdown => true,
        () = tokio::time::sleep(wait) => false,
    }
}
