//! Wake-ups for alert streams: "person P has alerts up to id N".
//!
//! The inbox in the operational store is the truth; a wake-up only tells a stream to read
//! it. Within one process they go through a map of `watch` channels, one per person with
//! an open stream. Across processes (the matcher in `vigil speed`, streams in `vigil
//! serve`) they go through Redis pub/sub when `redis.url` is set. Pub/sub drops messages
//! while a subscriber reconnects, so streams also re-read the inbox every few seconds.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use redis::aio::ConnectionManager;
use tokio::sync::watch;

/// Sends and receives wake-ups; cheap to clone.
#[derive(Clone, Default)]
pub struct Notifier {
    local: Arc<Mutex<HashMap<String, watch::Sender<u64>>>>,
    redis: Option<RedisChannel>,
}

#[derive(Clone)]
struct RedisChannel {
    client: redis::Client,
    conn: ConnectionManager,
    channel: String,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("redis", &self.redis.as_ref().map(|r| &r.channel))
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// Wake-ups within this process only.
    pub fn local() -> Notifier {
        Notifier::default()
    }

    /// Wake-ups within this process and through Redis channel `{prefix}alerts`.
    pub fn with_redis(url: &str, prefix: &str) -> redis::RedisResult<Notifier> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Notifier {
            local: Arc::default(),
            redis: Some(RedisChannel {
                client,
                conn,
                channel: format!("{prefix}alerts"),
            }),
        })
    }

    /// Waits for wake-ups of `user`; the value is the newest alert id announced.
    pub fn subscribe(&self, user: &str) -> watch::Receiver<u64> {
        let mut map = self.local.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, tx| tx.receiver_count() > 0);
        map.entry(user.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    fn wake_local(&self, user: &str, last: u64) {
        let map = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = map.get(user) {
            tx.send_if_modified(|v| {
                let newer = last > *v;
                *v = (*v).max(last);
                newer
            });
        }
    }

    /// Announces new alerts, here and (best effort) to other processes.
    pub async fn publish(&self, news: &[(String, u64)]) {
        for (user, last) in news {
            self.wake_local(user, *last);
        }
        let Some(r) = &self.redis else { return };
        if news.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        for (user, last) in news {
            pipe.cmd("PUBLISH")
                .arg(&r.channel)
                .arg(format!("{user} {last}"))
                .ignore();
        }
        let mut conn = r.conn.clone();
        if let Err(error) = pipe.query_async::<()>(&mut conn).await {
            // Streams re-read their inbox every few seconds; this only costs latency.
            tracing::warn!(%error, "cannot publish alert wake-ups to Redis");
        }
    }

    /// Relays wake-ups from Redis to this process's streams until the task is dropped;
    /// reconnects after failures. Does nothing without Redis.
    pub async fn listen(self) {
        let Some(r) = self.redis.clone() else { return };
        loop {
            match r.client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(&r.channel).await {
                    Ok(()) => {
                        tracing::info!(channel = %r.channel, "listening for alert wake-ups");
                        let mut messages = pubsub.on_message();
                        while let Some(msg) = messages.next().await {
                            let Ok(text) = msg.get_payload::<String>() else {
                                continue;
                            };
                            if let Some((user, last)) = text.split_once(' ')
                                && let Ok(last) = last.parse()
                            {
                                self.wake_local(user, last);
                            }
                        }
                        tracing::warn!("alert wake-up subscription ended; reconnecting");
                    }
                    Err(error) => tracing::warn!(%error, "cannot subscribe to alert wake-ups"),
                },
                Err(error) => tracing::warn!(%error, "cannot reach Redis for alert wake-ups"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
