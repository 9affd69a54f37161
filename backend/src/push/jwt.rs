//! Compact JWTs signed with ES256 (VAPID, APNs) or RS256 (Google's OAuth for FCM), and
//! the PEM/PKCS#8 keys they are signed with. `ring` does the cryptography.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::{
    rand::SystemRandom,
    signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
    },
};
use serde_json::Value;

/// Why a key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not a PEM private key (expected -----BEGIN PRIVATE KEY-----)")]
    NotPem,
    #[error("the key is not PKCS#8 {0}: {1}")]
    Rejected(&'static str, String),
}

/// The DER bytes inside a PEM `PRIVATE KEY` block.
pub fn pem_to_der(pem: &str) -> Result<Vec<u8>, KeyError> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "-----BEGIN PRIVATE KEY-----")
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    if body.is_empty() {
        return Err(KeyError::NotPem);
    }
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| KeyError::NotPem)
}

/// A PEM block holding `der`.
pub fn der_to_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

/// A P-256 signing key (ES256).
#[derive(Debug)]
pub struct Es256(EcdsaKeyPair);

impl Es256 {
    pub fn from_pkcs8(der: &[u8]) -> Result<Es256, KeyError> {
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
            .map(Es256)
            .map_err(|e| KeyError::Rejected("P-256", e.to_string()))
    }

    /// A new key, as PKCS#8 DER.
    pub fn generate() -> Result<Vec<u8>, KeyError> {
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map(|d| d.as_ref().to_vec())
            .map_err(|e| KeyError::Rejected("P-256", e.to_string()))
    }

    /// The uncompressed public point (65 bytes).
    pub fn public_key(&self) -> &[u8] {
        self.0.public_key().as_ref()
    }

    /// `header.claims.signature`, the signature being r || s.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = signing_input(header, claims);
        // Signing only fails if the system's random source does.
        let sig = self
            .0
            .sign(&SystemRandom::new(), input.as_bytes())
            .map(|s| URL_SAFE_NO_PAD.encode(s.as_ref()))
            .unwrap_or_default();
        format!("{input}.{sig}")
    }
}

/// An RSA signing key (RS256).
#[derive(Debug)]
pub struct Rs256(RsaKeyPair);

impl Rs256 {
    pub fn from_pkcs8(der: &[u8]) -> Result<Rs256, KeyError> {
        RsaKeyPair::from_pkcs8(der)
            .map(Rs256)
            .map_err(|e| KeyError::Rejected("RSA", e.to_string()))
    }

    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = signing_input(header, claims);
        let mut sig = vec![0; self.0.public().modulus_len()];
        let sig = match self.0.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        ) {
            Ok(()) => URL_SAFE_NO_PAD.encode(&sig),
            Err(_) => String::new(),
        };
        format!("{input}.{sig}")
    }
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}
