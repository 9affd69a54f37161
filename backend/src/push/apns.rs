//! Apple Push Notification service: HTTP/2 `POST /3/device/{token}` with a provider
//! token (a JWT signed ES256 with the team's `.p8` key), renewed every 30 minutes.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;
use vigil_sync::watch::DeviceAddress;

use super::{Message, PushProvider, Sent, jwt::Es256};

/// Apple refuses provider tokens older than an hour and asks for at most one new one
/// every 20 minutes.
const TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 60);

#[derive(Debug)]
pub struct Apns {
    http: reqwest::Client,
    key: Es256,
    key_id: String,
    team_id: String,
    topic: String,
    base_url: String,
    token: Mutex<Option<(String, Instant)>>,
}

impl Apns {
    /// `base_url` is `https://api.push.apple.com` (or the sandbox); an `http://` URL is
    /// spoken to as cleartext HTTP/2 (for a local server).
    pub fn new(
        key: Es256,
        key_id: String,
        team_id: String,
        topic: String,
        base_url: &str,
    ) -> reqwest::Result<Apns> {
        let mut http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(600));
        if base_url.starts_with("http://") {
            http = http.http2_prior_knowledge();
        }
        Ok(Apns {
            http: http.build()?,
            key,
            key_id,
            team_id,
            topic,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: Mutex::new(None),
        })
    }

    async fn provider_token(&self) -> String {
        let mut cached = self.token.lock().await;
        if let Some((token, made)) = cached.as_ref()
            && made.elapsed() < TOKEN_LIFETIME
        {
            return token.clone();
        }
        let token = self.key.sign(
            &json!({"alg": "ES256", "kid": self.key_id}),
            &json!({"iss": self.team_id, "iat": chrono::Utc::now().timestamp()}),
        );
        *cached = Some((token.clone(), Instant::now()));
        token
    }
}

impl PushProvider for Apns {
    fn name(&self) -> &'static str {
        "apns"
    }

    async fn send(&self, to: &DeviceAddress, message: &Message) -> Sent {
        let DeviceAddress::Apns { token } = to else {
            return Sent::Failed("not an APNs device token".into());
        };
        let body = json!({
            "aps": {"alert": {"title": message.title, "body": message.body},
                    "sound": "default", "thread-id": "vigil-alerts"},
            "alert_id": message.alert_id,
            "kind": message.kind,
        });
        let expires = chrono::Utc::now().timestamp() + 3600;
        let r = self
            .http
            .post(format!("{}/3/device/{token}", self.base_url))
            .header(
                "authorization",
                format!("bearer {}", self.provider_token().await),
            )
            .header("apns-topic", &self.topic)
            .header("apns-push-type", "alert")
            .header("apns-priority", "10")
            .header("apns-expiration", expires.to_string())
            .json(&body)
            .send()
            .await;
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                return Sent::Retry {
                    after: None,
                    reason: format!("APNs unreachable: {e}"),
                };
            }
        };
        let status = r.status().as_u16();
        let after = super::retry_after(&r);
        let answer: Value = r.json().await.unwrap_or_default();
        let reason = answer["reason"].as_str().unwrap_or("").to_owned();
        match (status, reason.as_str()) {
            (200, _) => Sent::Delivered,
            (410, _) | (400, "BadDeviceToken" | "DeviceTokenNotForTopic") => {
                Sent::Gone(format!("APNs: {reason}"))
            }
            (403, "ExpiredProviderToken" | "InvalidProviderToken") => {
                *self.token.lock().await = None;
                Sent::Retry {
                    after: None,
                    reason: format!("APNs: {reason}; signing a new provider token"),
                }
            }
            (429 | 500..=599, _) => Sent::Retry {
                after,
                reason: format!("APNs answered {status} {reason}"),
            },
            _ => Sent::Failed(format!("APNs answered {status}: {reason}")),
        }
    }
}
