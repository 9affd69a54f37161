//! Firebase Cloud Messaging, HTTP v1 API: an OAuth 2.0 access token from the service
//! account (a JWT bearer grant signed RS256), then `POST /v1/projects/{id}/messages:send`.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use vigil_sync::watch::DeviceAddress;

use super::{Message, PushProvider, Sent, jwt::Rs256};

/// The scope messages need.
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// The fields of a service-account JSON key file that are used.
#[derive(Debug, Deserialize)]
pub struct ServiceAccount {
    pub project_id: String,
    pub client_email: String,
    pub private_key: String,
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".into()
}

#[derive(Debug)]
pub struct Fcm {
    pub(super) http: reqwest::Client,
    project_id: String,
    client_email: String,
    token_uri: String,
    key: Rs256,
    base_url: String,
    token: Mutex<Option<(String, Instant)>>,
}

impl Fcm {
    pub fn new(
        http: reqwest::Client,
        account: ServiceAccount,
        base_url: &str,
    ) -> Result<Fcm, super::jwt::KeyError> {
        let key = Rs256::from_pkcs8(&super::jwt::pem_to_der(&account.private_key)?)?;
        Ok(Fcm {
            http,
            project_id: account.project_id,
            client_email: account.client_email,
            token_uri: account.token_uri,
            key,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: Mutex::new(None),
        })
    }

    /// A valid access token, fetched again a minute before the last one expires.
    async fn access_token(&self) -> Result<String, Sent> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let now = chrono::Utc::now().timestamp();
        let assertion = self.key.sign(
            &json!({"alg": "RS256", "typ": "JWT"}),
            &json!({"iss": self.client_email, "scope": SCOPE, "aud": self.token_uri,
                    "iat": now, "exp": now + 3600}),
        );
        let answer = self
            .http
            .post(&self.token_uri)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| Sent::Retry {
                after: None,
                reason: format!("FCM token endpoint unreachable: {e}"),
            })?;
        if !answer.status().is_success() {
            let status = answer.status();
            let text = answer.text().await.unwrap_or_default();
            return Err(if status.is_server_error() {
                Sent::Retry {
                    after: None,
                    reason: format!("FCM token endpoint answered {status}"),
                }
            } else {
                Sent::Failed(format!(
                    "FCM refused the service account ({status}): {text}; check push.fcm.service_account_file"
                ))
            });
        }
        #[derive(Deserialize)]
        struct Token {
            access_token: String,
            expires_in: u64,
        }
        let token: Token = answer.json().await.map_err(|e| Sent::Retry {
            after: None,
            reason: format!("FCM token endpoint answered garbage: {e}"),
        })?;
        let until = Instant::now() + Duration::from_secs(token.expires_in.saturating_sub(60));
        *cached = Some((token.access_token.clone(), until));
        Ok(token.access_token)
    }
}

impl PushProvider for Fcm {
    fn name(&self) -> &'static str {
        "fcm"
    }

    async fn send(&self, to: &DeviceAddress, message: &Message) -> Sent {
        let DeviceAddress::Fcm { token } = to else {
            return Sent::Failed("not an FCM token".into());
        };
        let access = match self.access_token().await {
            Ok(t) => t,
            Err(sent) => return sent,
        };
        let body = json!({"message": {
            "token": token,
            "notification": {"title": message.title, "body": message.body},
            "data": {"alert_id": message.alert_id.to_string(), "kind": message.kind},
            "android": {"priority": "HIGH", "collapse_key": "vigil-alerts"},
        }});
        let url = format!(
            "{}/v1/projects/{}/messages:send",
            self.base_url, self.project_id
        );
        let r = match self
            .http
            .post(url)
            .bearer_auth(access)
            .json(&body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return Sent::Retry {
                    after: None,
                    reason: format!("FCM unreachable: {e}"),
                };
            }
        };
        let status = r.status().as_u16();
        let after = super::retry_after(&r);
        let answer: Value = r.json().await.unwrap_or_default();
        let code = answer["error"]["details"]
            .as_array()
            .and_then(|d| d.iter().find_map(|x| x["errorCode"].as_str()))
            .unwrap_or("")
            .to_owned();
        match (status, code.as_str()) {
            (200, _) => Sent::Delivered,
            (_, "UNREGISTERED") | (404, _) => Sent::Gone("FCM: the token is unregistered".into()),
            (401, _) => {
                *self.token.lock().await = None;
                Sent::Retry {
                    after: None,
                    reason: "FCM: the access token was refused; fetching a new one".into(),
                }
            }
            (429 | 500..=599, _) => Sent::Retry {
                after,
                reason: format!("FCM answered {status} {code}"),
            },
            _ => Sent::Failed(format!("FCM answered {status}: {answer}")),
        }
    }
}
