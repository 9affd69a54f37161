//! Web Push message encryption (RFC 8291, `aes128gcm` content coding of RFC 8188) and
//! VAPID (RFC 8292) for the `Authorization` header.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::{
    aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey},
    agreement::{ECDH_P256, EphemeralPrivateKey, UnparsedPublicKey, agree_ephemeral},
    hkdf::{HKDF_SHA256, KeyType, Prk, Salt},
    rand::{SecureRandom, SystemRandom},
};
use serde_json::json;

use super::jwt::Es256;

/// Record size written in the header; one record holds any payload we send.
const RECORD_SIZE: u32 = 4096;
/// Largest plaintext we send: push services take bodies of up to 4096 bytes, and the
/// body is the 86-byte header, the plaintext, a delimiter byte and the 16-byte tag.
pub const MAX_PAYLOAD: usize = 4096 - 86 - 17;

/// Why a message could not be encrypted for a subscription.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncryptError {
    #[error("keys.p256dh is not an uncompressed P-256 point in base64url")]
    BadP256dh,
    #[error("keys.auth is not 16 bytes in base64url")]
    BadAuth,
    #[error("the payload is {0} bytes; at most {MAX_PAYLOAD} fit one record")]
    TooLarge(usize),
    #[error("the system's random source failed")]
    Random,
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand(prk: &Prk, info: &[&[u8]], len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    // Lengths here (12, 16, 32) are far below HKDF-SHA256's limit.
    if let Ok(okm) = prk.expand(info, Len(len)) {
        let _ = okm.fill(&mut out);
    }
    out
}

/// Decodes base64url with or without padding.
pub fn b64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .ok()
}

/// Encrypts `payload` for a subscription with public key `p256dh` and secret `auth`
/// (both base64url, as browsers give them). Returns the request body.
pub fn encrypt(payload: &[u8], p256dh: &str, auth: &str) -> Result<Vec<u8>, EncryptError> {
    let ua_public = b64(p256dh)
        .filter(|k| k.len() == 65 && k[0] == 4)
        .ok_or(EncryptError::BadP256dh)?;
    let auth = b64(auth)
        .filter(|a| a.len() == 16)
        .ok_or(EncryptError::BadAuth)?;
    if payload.len() > MAX_PAYLOAD {
        return Err(EncryptError::TooLarge(payload.len()));
    }
    let rng = SystemRandom::new();
    let as_private =
        EphemeralPrivateKey::generate(&ECDH_P256, &rng).map_err(|_| EncryptError::Random)?;
    let as_public = as_private
        .compute_public_key()
        .map_err(|_| EncryptError::Random)?
        .as_ref()
        .to_vec();
    let mut salt = [0u8; 16];
    rng.fill(&mut salt).map_err(|_| EncryptError::Random)?;
    let ecdh_secret = agree_ephemeral(
        as_private,
        &UnparsedPublicKey::new(&ECDH_P256, &ua_public),
        |secret| secret.to_vec(),
    )
    .map_err(|_| EncryptError::BadP256dh)?;
    // IKM = HKDF(auth, ecdh_secret, "WebPush: info" 0x00 ua_public as_public, 32)
    let prk_key = Salt::new(HKDF_SHA256, &auth).extract(&ecdh_secret);
    let ikm = expand(&prk_key, &[b"WebPush: info\0", &ua_public, &as_public], 32);
    // CEK and nonce from the message's salt (RFC 8188).
    let prk = Salt::new(HKDF_SHA256, &salt).extract(&ikm);
    let cek = expand(&prk, &[b"Content-Encoding: aes128gcm\0"], 16);
    let nonce = expand(&prk, &[b"Content-Encoding: nonce\0"], 12);
    let key =
        LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).map_err(|_| EncryptError::Random)?);
    let mut record = payload.to_vec();
    record.push(2); // the last (and only) record's delimiter
    let nonce = Nonce::try_assume_unique_for_key(&nonce).map_err(|_| EncryptError::Random)?;
    key.seal_in_place_append_tag(nonce, Aad::empty(), &mut record)
        .map_err(|_| EncryptError::Random)?;
    let mut body = Vec::with_capacity(16 + 4 + 1 + 65 + record.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(as_public.len() as u8);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&record);
    Ok(body)
}

/// The application server's VAPID identity.
#[derive(Debug)]
pub struct Vapid {
    key: Es256,
    /// `mailto:` or `https:` contact for push services.
    subject: String,
}

impl Vapid {
    pub fn new(key: Es256, subject: String) -> Vapid {
        Vapid { key, subject }
    }

    /// The public key browsers pass as `applicationServerKey`, base64url.
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.public_key())
    }

    /// `vapid t=<JWT>, k=<public key>` for a request to `endpoint` at Unix time `now`.
    pub fn authorization(&self, endpoint: &url::Url, now: i64) -> String {
        let origin = endpoint.origin().ascii_serialization();
        let jwt = self.key.sign(
            &json!({"typ": "JWT", "alg": "ES256"}),
            &json!({"aud": origin, "exp": now + 12 * 3600, "sub": self.subject}),
        );
        format!("vapid t={jwt}, k={}", self.public_key())
    }
}

/// Web Push and UnifiedPush: the message POSTed to the endpoint the browser or the
/// distributor gave, encrypted (RFC 8291) with VAPID when the device gave keys (always
/// for Web Push), else as plain JSON (UnifiedPush apps that do not decrypt).
#[derive(Debug)]
pub struct EndpointPush {
    pub(super) name: &'static str,
    pub(super) http: reqwest::Client,
    pub(super) vapid: std::sync::Arc<Vapid>,
    pub(super) ttl: u32,
}

/// POSTs `message` to `endpoint`, encrypted for `keys` when given.
async fn post(
    http: &reqwest::Client,
    vapid: &Vapid,
    ttl: u32,
    endpoint: &str,
    keys: Option<&vigil_sync::watch::PushKeys>,
    message: &super::Message,
) -> super::Sent {
    use super::Sent;
    let Ok(url) = url::Url::parse(endpoint) else {
        return Sent::Gone(format!("endpoint {endpoint:?} is not a URL"));
    };
    let payload = super::payload(message);
    let mut request = http
        .post(url.clone())
        .header("TTL", ttl.to_string())
        .header("Urgency", "high");
    request = match keys {
        Some(keys) => match encrypt(&payload, &keys.p256dh, &keys.auth) {
            Ok(body) => request
                .header("Content-Encoding", "aes128gcm")
                .header("Content-Type", "application/octet-stream")
                .header(
                    "Authorization",
                    vapid.authorization(&url, chrono::Utc::now().timestamp()),
                )
                .body(body),
            Err(e @ (EncryptError::BadP256dh | EncryptError::BadAuth)) => {
                return Sent::Gone(format!("the subscription's keys are unusable: {e}"));
            }
            Err(e) => return Sent::Failed(e.to_string()),
        },
        None => request
            .header("Content-Type", "application/json")
            .body(payload),
    };
    match request.send().await {
        Err(e) => Sent::Retry {
            after: None,
            reason: format!("push service unreachable: {e}"),
        },
        Ok(r) => match r.status().as_u16() {
            200..=202 => Sent::Delivered,
            404 | 410 => Sent::Gone(format!("the push service answered {}", r.status())),
            429 | 500..=599 => Sent::Retry {
                after: super::retry_after(&r),
                reason: format!("the push service answered {}", r.status()),
            },
            _ => Sent::Failed(format!(
                "the push service answered {}: {}",
                r.status(),
                r.text().await.unwrap_or_default()
            )),
        },
    }
}

impl super::PushProvider for EndpointPush {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn send(
        &self,
        to: &vigil_sync::watch::DeviceAddress,
        message: &super::Message,
    ) -> super::Sent {
        use vigil_sync::watch::DeviceAddress;
        let (endpoint, keys) = match to {
            DeviceAddress::WebPush { endpoint, keys } => (endpoint, Some(keys)),
            DeviceAddress::UnifiedPush { endpoint, keys } => (endpoint, keys.as_ref()),
            _ => return super::Sent::Failed("not a Web Push or UnifiedPush endpoint".into()),
        };
        post(&self.http, &self.vapid, self.ttl, endpoint, keys, message).await
    }
}
