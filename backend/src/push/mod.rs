//! Push notifications to phones and browsers: a nudge that new alerts are in the inbox.
//!
//! Every provider implements [`PushProvider`]: Web Push and UnifiedPush
//! ([`webpush::EndpointPush`], VAPID and RFC 8291 encryption), Firebase Cloud Messaging
//! HTTP v1 ([`fcm::Fcm`]) and APNs over HTTP/2 with token authentication
//! ([`apns::Apns`]). [`Push`] holds the configured ones and picks by the device's address.
//!
//! The [`Pusher`] runs beside the alert matcher: told which people have new alerts, it
//! sends each of their devices one notification for what arrived since that device's
//! last push (retractions are not pushed; apps see them in the inbox), records how far
//! each device got, forgets a device whose provider says the token is gone, and retries
//! the rest. The inbox stays the truth: a push that never arrives loses nothing.

pub mod apns;
pub mod fcm;
pub mod jwt;
pub mod webpush;

use std::{
    collections::BTreeSet,
    future::Future,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use vigil_sync::watch::DeviceAddress;

use crate::db::Db;

/// What a provider did with one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Delivered,
    /// The provider says the token or subscription no longer exists: forget the device.
    Gone(String),
    /// Try again later (unreachable, rate-limited, 5xx).
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// Refused for a reason retrying will not mend (logged, not retried).
    Failed(String),
}

/// One notification (shared with the desktop app, so both say the same thing).
pub use vigil_sync::watch::Notice as Message;

/// The JSON a Web Push or UnifiedPush message carries (well under one record).
pub fn payload(message: &Message) -> Vec<u8> {
    serde_json::to_vec(message).unwrap_or_default()
}

/// A way to reach devices.
pub trait PushProvider {
    /// The provider's wire name (`web_push`, `unified_push`, `fcm`, `apns`).
    fn name(&self) -> &'static str;
    /// Sends `message` to `to`.
    fn send(&self, to: &DeviceAddress, message: &Message) -> impl Future<Output = Sent> + Send;
}

/// A `Retry-After` header in seconds, if any.
pub(crate) fn retry_after(r: &reqwest::Response) -> Option<Duration> {
    r.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
        .map(Duration::from_secs)
}

/// `[push]`: how to reach devices.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    /// Send push notifications at all (the inbox and the stream work without).
    pub enabled: bool,
    /// The VAPID key (P-256, PKCS#8 PEM) [default: `data_dir/vapid.pem`, made on first
    /// start]. Scale-out, point every process at the same file.
    pub vapid_key_file: Option<PathBuf>,
    /// How push services can reach the operator (`mailto:` or `https:`).
    pub vapid_subject: String,
    /// Seconds a push service keeps an undelivered message.
    pub ttl_seconds: u32,
    /// Accept Web Push and UnifiedPush endpoints on loopback or private addresses, or over
    /// plain http (a self-hosted distributor on the LAN, tests). Off: the server would
    /// otherwise POST wherever a client points it.
    pub allow_private_endpoints: bool,
    pub fcm: Option<FcmConfig>,
    pub apns: Option<ApnsConfig>,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            enabled: true,
            vapid_key_file: None,
            vapid_subject: "mailto:admin@localhost".into(),
            ttl_seconds: 3600,
            allow_private_endpoints: false,
            fcm: None,
            apns: None,
        }
    }
}

/// `[push.fcm]`: Firebase Cloud Messaging (Android).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcmConfig {
    /// The service account's JSON key file from the Firebase console.
    pub service_account_file: PathBuf,
    #[serde(default = "default_fcm_url")]
    pub base_url: String,
}

fn default_fcm_url() -> String {
    "https://fcm.googleapis.com".into()
}

/// `[push.apns]`: Apple Push Notification service (iOS).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnsConfig {
    /// The `.p8` signing key from the Apple developer account.
    pub key_file: PathBuf,
    /// The key's id (10 characters).
    pub key_id: String,
    /// The team id (10 characters).
    pub team_id: String,
    /// The app's bundle id.
    pub topic: String,
    /// `https://api.push.apple.com`, or `https://api.sandbox.push.apple.com` for
    /// development builds.
    #[serde(default = "default_apns_url")]
    pub base_url: String,
}

fn default_apns_url() -> String {
    "https://api.push.apple.com".into()
}

/// The configured providers.
#[derive(Debug)]
pub struct Push {
    web: webpush::EndpointPush,
    unified: webpush::EndpointPush,
    fcm: Option<fcm::Fcm>,
    apns: Option<apns::Apns>,
    vapid: Arc<webpush::Vapid>,
}

/// Reads the VAPID key at `path`, making one there if the file does not exist.
pub fn vapid_key(path: &Path) -> anyhow::Result<jwt::Es256> {
    if !path.exists() {
        let der = jwt::Es256::generate()?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, jwt::der_to_pem(&der))
            .with_context(|| format!("cannot write a new VAPID key to {}", path.display()))?;
        tracing::info!(path = %path.display(), "made a new VAPID key");
    }
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the VAPID key {}", path.display()))?;
    jwt::Es256::from_pkcs8(&jwt::pem_to_der(&pem)?).with_context(|| {
        format!(
            "{} is not a P-256 key (push.vapid_key_file)",
            path.display()
        )
    })
}

impl Push {
    /// The providers `config` names; `data_dir` holds the VAPID key by default.
    pub fn from_config(config: &PushConfig, data_dir: &Path) -> anyhow::Result<Push> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        let key_file = config
            .vapid_key_file
            .clone()
            .unwrap_or_else(|| data_dir.join("vapid.pem"));
        let vapid = Arc::new(webpush::Vapid::new(
            vapid_key(&key_file)?,
            config.vapid_subject.clone(),
        ));
        let fcm = match &config.fcm {
            None => None,
            Some(f) => {
                let text = std::fs::read_to_string(&f.service_account_file).with_context(|| {
                    format!(
                        "cannot read push.fcm.service_account_file {}",
                        f.service_account_file.display()
                    )
                })?;
                let account: fcm::ServiceAccount = serde_json::from_str(&text)
                    .context("push.fcm.service_account_file is not a service-account JSON key")?;
                Some(
                    fcm::Fcm::new(http.clone(), account, &f.base_url)
                        .context("push.fcm.service_account_file: private_key")?,
                )
            }
        };
        let apns = match &config.apns {
            None => None,
            Some(a) => {
                let pem = std::fs::read_to_string(&a.key_file).with_context(|| {
                    format!("cannot read push.apns.key_file {}", a.key_file.display())
                })?;
                let key = jwt::Es256::from_pkcs8(&jwt::pem_to_der(&pem)?)
                    .context("push.apns.key_file is not a P-256 .p8 key")?;
                Some(apns::Apns::new(
                    key,
                    a.key_id.clone(),
                    a.team_id.clone(),
                    a.topic.clone(),
                    &a.base_url,
                )?)
            }
        };
        Ok(Push {
            web: webpush::EndpointPush {
                name: "web_push",
                http: http.clone(),
                vapid: vapid.clone(),
                ttl: config.ttl_seconds,
            },
            unified: webpush::EndpointPush {
                name: "unified_push",
                http,
                vapid: vapid.clone(),
                ttl: config.ttl_seconds,
            },
            fcm,
            apns,
            vapid,
        })
    }

    /// The VAPID public key browsers subscribe with (`applicationServerKey`).
    pub fn vapid_public_key(&self) -> String {
        self.vapid.public_key()
    }

    /// Sends through the provider `to` belongs to.
    pub async fn send(&self, to: &DeviceAddress, message: &Message) -> Sent {
        match to {
            DeviceAddress::WebPush { .. } => self.web.send(to, message).await,
            DeviceAddress::UnifiedPush { .. } => self.unified.send(to, message).await,
            DeviceAddress::Fcm { .. } => match &self.fcm {
                Some(p) => p.send(to, message).await,
                None => Sent::Failed("FCM is not configured ([push.fcm])".into()),
            },
            DeviceAddress::Apns { .. } => match &self.apns {
                Some(p) => p.send(to, message).await,
                None => Sent::Failed("APNs is not configured ([push.apns])".into()),
            },
        }
    }
}

/// Tells the [`Pusher`] who has new alerts; cheap to clone.
#[derive(Debug, Clone)]
pub struct PushQueue(mpsc::UnboundedSender<Vec<String>>);

impl PushQueue {
    pub fn notify(&self, users: Vec<String>) {
        if !users.is_empty() {
            let _ = self.0.send(users);
        }
    }
}

/// Sends pushes for new alerts; see the module documentation.
#[derive(Debug)]
pub struct Pusher {
    db: Db,
    push: Arc<Push>,
    news: mpsc::UnboundedReceiver<Vec<String>>,
    retry: BTreeSet<String>,
    metrics: crate::alerts::metrics::AlertMetrics,
}

/// How often devices whose push must be retried are tried again.
const RETRY_EVERY: Duration = Duration::from_secs(15);
/// Sends in flight at once.
const CONCURRENCY: usize = 16;

impl Pusher {
    pub fn new(db: Db, push: Arc<Push>) -> (PushQueue, Pusher) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            PushQueue(tx),
            Pusher {
                db,
                push,
                news: rx,
                retry: BTreeSet::new(),
                metrics: Default::default(),
            },
        )
    }

    pub fn with_metrics(mut self, metrics: crate::alerts::metrics::AlertMetrics) -> Pusher {
        self.metrics = metrics;
        self
    }

    /// Pushes what `user`'s devices have not had yet; `true` if one must be retried.
    pub async fn deliver(&self, user: &str) -> bool {
        let devices = match self.db.devices_of(user).await {
            Ok(d) => d,
            Err(error) => {
                tracing::warn!(%error, "cannot read devices; will retry");
                return true;
            }
        };
        let mut retry = false;
        for device in devices {
            let alerts = match self
                .db
                .alerts_after(
                    &crate::db::UserId(user.to_owned()),
                    device.last_alert_id,
                    50,
                )
                .await
            {
                Ok(a) => a,
                Err(error) => {
                    tracing::warn!(%error, "cannot read alerts; will retry");
                    retry = true;
                    continue;
                }
            };
            let Some(last) = alerts.last().map(|a| a.id) else {
                continue;
            };
            let outcome = match Message::for_alerts(&alerts) {
                Some(message) => self.push.send(&device.address, &message).await,
                None => Sent::Delivered,
            };
            let provider = device.address.provider();
            let done = match &outcome {
                Sent::Delivered => {
                    self.metrics.push(provider, "delivered");
                    self.db.device_pushed(&device.id, last).await
                }
                Sent::Gone(reason) => {
                    tracing::info!(device = %device.id, provider, %reason, "push token gone; device forgotten");
                    self.metrics.push(provider, "gone");
                    self.db.forget_device(&device.id).await
                }
                Sent::Failed(reason) => {
                    tracing::warn!(device = %device.id, provider, %reason, "push refused; not retried");
                    self.metrics.push(provider, "failed");
                    self.db.device_pushed(&device.id, last).await
                }
                Sent::Retry { reason, .. } => {
                    tracing::warn!(device = %device.id, provider, %reason, "push failed; will retry");
                    self.metrics.push(provider, "retry");
                    retry = true;
                    Ok(())
                }
            };
            if let Err(error) = done {
                tracing::warn!(%error, "cannot record a push; it may be sent again");
            }
        }
        retry
    }

    /// Pushes until `shutdown` completes.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        use futures::StreamExt;
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(RETRY_EVERY);
        loop {
            let users: BTreeSet<String> = tokio::select! {
                () = shutdown.as_mut() => return,
                news = self.news.recv() => match news {
                    Some(users) => {
                        let mut all: BTreeSet<String> = users.into_iter().collect();
                        while let Ok(more) = self.news.try_recv() {
                            all.extend(more);
                        }
                        all
                    }
                    None => return,
                },
                _ = tick.tick() => std::mem::take(&mut self.retry),
            };
            let this = &self;
            let again: Vec<String> = futures::stream::iter(users)
                .map(|u| async move { this.deliver(&u).await.then_some(u) })
                .buffer_unordered(CONCURRENCY)
                .filter_map(|u| async move { u })
                .collect()
                .await;
            self.retry.extend(again);
        }
    }
}
