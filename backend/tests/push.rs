//! Push providers against local servers that speak each one's documented wire format and
//! check the exact requests: Web Push (RFC 8291 body the test decrypts with its own key,
//! RFC 8292 VAPID JWT verified), UnifiedPush, FCM HTTP v1 (OAuth JWT bearer grant, RS256
//! verified) and APNs (HTTP/2, ES256 provider token verified). Then the pusher end to
//! end: a registered device gets one push per batch of new alerts and is forgotten when
//! its provider says the token is gone.

mod common;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, Version},
    response::IntoResponse,
    routing::post,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use ring::{
    aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey},
    agreement::{ECDH_P256, EphemeralPrivateKey, UnparsedPublicKey, agree_ephemeral},
    hkdf::{HKDF_SHA256, KeyType, Salt},
    rand::{SecureRandom, SystemRandom},
    signature::{self, KeyPair},
};
use serde_json::{Value, json};
use vigil_backend::{
    api::ApiConfig,
    db::{AlertPolicy, Candidate},
    push::{ApnsConfig, FcmConfig, Message, Push, PushConfig, Pusher, Sent, jwt},
};
use vigil_sync::{
    Category, IncidentId, Location,
    watch::{AlertIncident, DeviceAddress, PushKeys},
};

use axum::http::Method;
use common::{Engine, TestApp};

/// What a local provider server received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    version: Version,
    headers: HeaderMap,
    body: Vec<u8>,
}

type Log = Arc<Mutex<Vec<Received>>>;

async fn record(
    State((log, status, answer)): State<(Log, StatusCode, Value)>,
    Path(rest): Path<String>,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    log.lock().unwrap().push(Received {
        path: rest,
        version,
        headers,
        body: body.to_vec(),
    });
    (status, axum::Json(answer))
}

/// A server answering `status` with `answer` to any POST, logging each request.
async fn server(status: StatusCode, answer: Value) -> (SocketAddr, Log) {
    let log: Log = Arc::default();
    let app =
        Router::new()
            .route("/{*rest}", post(record))
            .with_state((log.clone(), status, answer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, log)
}

fn push_with(dir: &std::path::Path, config: PushConfig) -> Push {
    Push::from_config(
        &PushConfig {
            vapid_subject: "mailto:ops@vigil.test".into(),
            ..config
        },
        dir,
    )
    .unwrap()
}

fn message() -> Message {
    Message {
        alert_id: 7,
        kind: "incident",
        title: "Robbery near Home".into(),
        body: "Queen St W & Spadina Ave".into(),
    }
}

struct Len(usize);
impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn hkdf(salt: &[u8], ikm: &[u8], info: &[&[u8]], len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    Salt::new(HKDF_SHA256, salt)
        .extract(ikm)
        .expand(info, Len(len))
        .unwrap()
        .fill(&mut out)
        .unwrap();
    out
}

fn b64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

/// Splits a JWT and checks its signature with `verify`; returns header and claims.
fn jwt_parts(token: &str, verify: impl Fn(&[u8], &[u8])) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    verify(
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &b64(parts[2]),
    );
    (
        serde_json::from_slice(&b64(parts[0])).unwrap(),
        serde_json::from_slice(&b64(parts[1])).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_push_is_encrypted_for_the_subscription_and_signed_with_vapid() {
    let dir = tempfile::tempdir().unwrap();
    let push = push_with(dir.path(), PushConfig::default());
    let (addr, log) = server(StatusCode::CREATED, json!({})).await;
    // The browser's side: a P-256 key pair and an auth secret.
    let rng = SystemRandom::new();
    let ua_private = EphemeralPrivateKey::generate(&ECDH_P256, &rng).unwrap();
    let ua_public = ua_private.compute_public_key().unwrap().as_ref().to_vec();
    let mut auth = [0u8; 16];
    rng.fill(&mut auth).unwrap();
    let device = DeviceAddress::WebPush {
        endpoint: format!("http://{addr}/push/sub-1"),
        keys: PushKeys {
            p256dh: URL_SAFE_NO_PAD.encode(&ua_public),
            auth: URL_SAFE_NO_PAD.encode(auth),
        },
    };
    device.validate().unwrap();
    assert_eq!(push.send(&device, &message()).await, Sent::Delivered);

    let got = log.lock().unwrap().pop().expect("one request");
    assert_eq!(got.path, "push/sub-1");
    let header = |name: &str| got.headers.get(name).unwrap().to_str().unwrap().to_owned();
    assert_eq!(header("content-encoding"), "aes128gcm");
    assert_eq!(header("content-type"), "application/octet-stream");
    assert_eq!(header("ttl"), "3600");
    assert_eq!(header("urgency"), "high");

    // VAPID (RFC 8292): `vapid t=<JWT>, k=<key>`, ES256 by the key in k.
    let authorization = header("authorization");
    let rest = authorization.strip_prefix("vapid t=").unwrap();
    let (token, k) = rest.split_once(", k=").unwrap();
    assert_eq!(k, push.vapid_public_key());
    let (head, claims) = jwt_parts(token, |input, sig| {
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, b64(k))
            .verify(input, sig)
            .expect("VAPID signature");
    });
    assert_eq!(head["alg"], "ES256");
    assert_eq!(claims["aud"], format!("http://{addr}"));
    assert_eq!(claims["sub"], "mailto:ops@vigil.test");
    let exp = claims["exp"].as_i64().unwrap();
    let now = Utc::now().timestamp();
    assert!(exp > now && exp <= now + 24 * 3600, "{claims}");

    // The body (RFC 8188 header + one record), decrypted as a browser would (RFC 8291).
    let body = got.body;
    let (salt, rest) = body.split_at(16);
    assert_eq!(u32::from_be_bytes(rest[..4].try_into().unwrap()), 4096);
    assert_eq!(rest[4], 65);
    let as_public = &rest[5..70];
    let mut record = rest[70..].to_vec();
    let ecdh = agree_ephemeral(
        ua_private,
        &UnparsedPublicKey::new(&ECDH_P256, as_public),
        |s| s.to_vec(),
    )
    .unwrap();
    let ikm = hkdf(
        &auth,
        &ecdh,
        &[b"WebPush: info\0", &ua_public, as_public],
        32,
    );
    let cek = hkdf(salt, &ikm, &[b"Content-Encoding: aes128gcm\0"], 16);
    let nonce = hkdf(salt, &ikm, &[b"Content-Encoding: nonce\0"], 12);
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).unwrap());
    let plain = key
        .open_in_place(
            Nonce::try_assume_unique_for_key(&nonce).unwrap(),
            Aad::empty(),
            &mut record,
        )
        .expect("the test's key opens the record");
    assert_eq!(plain.last(), Some(&2), "last-record delimiter");
    let payload: Value = serde_json::from_slice(&plain[..plain.len() - 1]).unwrap();
    assert_eq!(
        payload,
        json!({"alert_id": 7, "kind": "incident", "title": "Robbery near Home", "body": "Queen St W & Spadina Ave"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unified_push_posts_the_message_and_hears_when_it_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let push = push_with(dir.path(), PushConfig::default());
    let (ok, log) = server(StatusCode::CREATED, json!({})).await;
    let plain = DeviceAddress::UnifiedPush {
        endpoint: format!("http://{ok}/up/abc"),
        keys: None,
    };
    assert_eq!(push.send(&plain, &message()).await, Sent::Delivered);
    let got = log.lock().unwrap().pop().unwrap();
    assert_eq!(got.headers["content-type"], "application/json");
    assert_eq!(got.headers["ttl"], "3600");
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["title"], "Robbery near Home");

    let (gone, _) = server(StatusCode::NOT_FOUND, json!({})).await;
    let stale = DeviceAddress::UnifiedPush {
        endpoint: format!("http://{gone}/up/old"),
        keys: None,
    };
    assert!(matches!(push.send(&stale, &message()).await, Sent::Gone(_)));
    let (busy, _) = server(StatusCode::SERVICE_UNAVAILABLE, json!({})).await;
    let later = DeviceAddress::UnifiedPush {
        endpoint: format!("http://{busy}/up/x"),
        keys: None,
    };
    assert!(matches!(
        push.send(&later, &message()).await,
        Sent::Retry { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fcm_gets_a_token_with_a_signed_grant_then_sends_http_v1() {
    let dir = tempfile::tempdir().unwrap();
    let pem = include_str!("fixtures/fcm-test-key.pem");
    let public = ring::rsa::KeyPair::from_pkcs8(&jwt::pem_to_der(pem).unwrap())
        .unwrap()
        .public_key()
        .as_ref()
        .to_vec();
    // One server plays Google's token endpoint and FCM.
    let log: Log = Arc::default();
    let token_log = log.clone();
    let app = Router::new()
        .route(
            "/token",
            post(move |body: Bytes| {
                let log = token_log.clone();
                async move {
                    log.lock().unwrap().push(Received {
                        path: "token".into(),
                        version: Version::HTTP_11,
                        headers: HeaderMap::new(),
                        body: body.to_vec(),
                    });
                    axum::Json(json!({"access_token": "ya29.test-token", "expires_in": 3599, "token_type": "Bearer"}))
                }
            }),
        )
        .route(
            "/v1/projects/vigil-test/messages:send",
            post(move |headers: HeaderMap, body: axum::Json<Value>| async move {
                let ok = headers["authorization"] == "Bearer ya29.test-token";
                if !ok {
                    return (StatusCode::UNAUTHORIZED, axum::Json(json!({})));
                }
                if body["message"]["token"] == "gone-token" {
                    return (StatusCode::NOT_FOUND, axum::Json(json!({"error": {"code": 404, "status": "NOT_FOUND",
                        "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}})));
                }
                (StatusCode::OK, axum::Json(json!({"name": "projects/vigil-test/messages/1", "echo": body.0})))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let account = dir.path().join("service-account.json");
    std::fs::write(
        &account,
        json!({"type": "service_account", "project_id": "vigil-test", "client_email": "push@vigil-test.iam.gserviceaccount.com",
               "private_key": pem, "token_uri": format!("http://{addr}/token")})
        .to_string(),
    )
    .unwrap();
    let push = push_with(
        dir.path(),
        PushConfig {
            fcm: Some(FcmConfig {
                service_account_file: account,
                base_url: format!("http://{addr}"),
            }),
            ..PushConfig::default()
        },
    );
    let phone = DeviceAddress::Fcm {
        token: "fcm-device-1".into(),
    };
    assert_eq!(push.send(&phone, &message()).await, Sent::Delivered);
    assert_eq!(push.send(&phone, &message()).await, Sent::Delivered);
    let gone = DeviceAddress::Fcm {
        token: "gone-token".into(),
    };
    assert!(matches!(push.send(&gone, &message()).await, Sent::Gone(_)));

    let grants = log.lock().unwrap().clone();
    assert_eq!(grants.len(), 1, "the access token is cached");
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&grants[0].body).unwrap();
    assert_eq!(
        form[0],
        (
            "grant_type".into(),
            "urn:ietf:params:oauth:grant-type:jwt-bearer".into()
        )
    );
    let (head, claims) = jwt_parts(&form[1].1, |input, sig| {
        signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &public)
            .verify(input, sig)
            .expect("RS256 signature by the service account's key");
    });
    assert_eq!(head["alg"], "RS256");
    assert_eq!(claims["iss"], "push@vigil-test.iam.gserviceaccount.com");
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/firebase.messaging"
    );
    assert_eq!(claims["aud"], format!("http://{addr}/token"));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apns_speaks_http2_with_a_signed_provider_token() {
    let dir = tempfile::tempdir().unwrap();
    let der = jwt::Es256::generate().unwrap();
    let public = jwt::Es256::from_pkcs8(&der).unwrap().public_key().to_vec();
    let key_file = dir.path().join("AuthKey_KEY1234567.p8");
    std::fs::write(&key_file, jwt::der_to_pem(&der)).unwrap();
    let log: Log = Arc::default();
    let handler_log = log.clone();
    let app = Router::new().route(
        "/3/device/{token}",
        post(
            move |Path(token): Path<String>, version: Version, headers: HeaderMap, body: Bytes| {
                let log = handler_log.clone();
                async move {
                    log.lock().unwrap().push(Received {
                        path: token.clone(),
                        version,
                        headers,
                        body: body.to_vec(),
                    });
                    if token.starts_with("dead") {
                        (
                            StatusCode::GONE,
                            axum::Json(json!({"reason": "Unregistered", "timestamp": 1})),
                        )
                    } else {
                        (StatusCode::OK, axum::Json(json!({})))
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let push = push_with(
        dir.path(),
        PushConfig {
            apns: Some(ApnsConfig {
                key_file,
                key_id: "KEY1234567".into(),
                team_id: "TEAM123456".into(),
                topic: "org.vigil.app".into(),
                base_url: format!("http://{addr}"),
            }),
            ..PushConfig::default()
        },
    );
    let token = "a1".repeat(32);
    let phone = DeviceAddress::Apns {
        token: token.clone(),
    };
    phone.validate().unwrap();
    assert_eq!(push.send(&phone, &message()).await, Sent::Delivered);
    let dead = DeviceAddress::Apns {
        token: format!("dead{}", "0".repeat(60)),
    };
    assert!(matches!(push.send(&dead, &message()).await, Sent::Gone(_)));

    let got = log.lock().unwrap()[0].clone();
    assert_eq!(got.version, Version::HTTP_2);
    assert_eq!(got.path, token);
    assert_eq!(got.headers["apns-topic"], "org.vigil.app");
    assert_eq!(got.headers["apns-push-type"], "alert");
    assert_eq!(got.headers["apns-priority"], "10");
    let bearer = got.headers["authorization"].to_str().unwrap();
    let (head, claims) = jwt_parts(bearer.strip_prefix("bearer ").unwrap(), |input, sig| {
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &public)
            .verify(input, sig)
            .expect("ES256 signature by the team's key");
    });
    assert_eq!(
        (head["alg"].as_str(), head["kid"].as_str()),
        (Some("ES256"), Some("KEY1234567"))
    );
    assert_eq!(claims["iss"], "TEAM123456");
    assert!((Utc::now().timestamp() - claims["iat"].as_i64().unwrap()).abs() < 60);
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["aps"]["alert"]["title"], "Robbery near Home");
    assert_eq!(body["alert_id"], 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pusher_sends_new_alerts_once_and_forgets_gone_devices() {
    let dir = tempfile::tempdir().unwrap();
    let push = Arc::new(push_with(dir.path(), PushConfig::default()));
    let (ok, log) = server(StatusCode::CREATED, json!({})).await;
    let up = json!({"provider": "unified_push", "endpoint": format!("http://{ok}/up/ann")});

    // By default the server will not POST into its own network.
    let strict = TestApp::new(Engine::Sqlite).await;
    let token = strict.user("ann").await;
    let uri = format!("/v1/devices/{}", uuid::Uuid::now_v7());
    for endpoint in [
        format!("http://{ok}/up/ann"),
        "https://127.0.0.1/x".into(),
        "https://10.1.2.3/x".into(),
        "https://printer.local/x".into(),
        "https://[::1]/x".into(),
    ] {
        let body = json!({"provider": "unified_push", "endpoint": endpoint});
        let (status, answer) = strict
            .call(Method::PUT, &uri, Some(&token), Some(body))
            .await;
        assert_eq!(
            (status, answer["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("endpoint")),
            "{endpoint}"
        );
    }

    let app = TestApp::with_config(
        Engine::Sqlite,
        ApiConfig {
            allow_private_push_endpoints: true,
            ..ApiConfig::default()
        },
    )
    .await;
    let token = app.user("ann").await;

    // Registration: bad fields are named; a good one is stored.
    let id = uuid::Uuid::now_v7();
    let uri = format!("/v1/devices/{id}");
    let bad = json!({"provider": "web_push", "endpoint": "https://push.example/x", "keys": {"p256dh": "xx", "auth": "yy"}});
    let (status, body) = app.call(Method::PUT, &uri, Some(&token), Some(bad)).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("keys.p256dh"))
    );
    let (status, body) = app
        .call(
            Method::PUT,
            &uri,
            Some(&token),
            Some(json!({"provider": "carrier_pigeon", "token": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = app.call(Method::PUT, &uri, Some(&token), Some(up)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, list) = app
        .call(Method::GET, "/v1/devices", Some(&token), None)
        .await;
    assert_eq!(list["devices"][0]["provider"], "unified_push");

    // Three alerts arrive; one push says so.
    let user = app
        .db
        .token_user(
            &vigil_backend::api::auth::token_hash(&token),
            Utc::now().timestamp_millis(),
        )
        .await
        .unwrap()
        .unwrap()
        .0;
    let candidates: Vec<Candidate> = (0..3)
        .map(|i| Candidate {
            user_id: user.clone(),
            incident: AlertIncident {
                id: IncidentId::for_feed_record("test", &i.to_string()),
                category: Category::Robbery,
                occurred_at: Utc::now().fixed_offset(),
                location: Location {
                    lat: 43.65,
                    lon: -79.38,
                    accuracy_m: None,
                },
                place: Some(format!("Place {i}")),
                summary: "Bag snatched".into(),
            },
            areas: vec!["Home".into()],
            quiet_until_ms: None,
        })
        .collect();
    let policy = AlertPolicy {
        limit: 10,
        window_ms: 600_000,
    };
    app.db
        .record_alerts(&candidates, &[], policy, Utc::now().timestamp_millis())
        .await
        .unwrap();
    let (_, pusher) = Pusher::new(app.db.clone(), push.clone());
    assert!(!pusher.deliver(&user).await, "nothing to retry");
    {
        let got = log.lock().unwrap();
        assert_eq!(got.len(), 1);
        let body: Value = serde_json::from_slice(&got[0].body).unwrap();
        assert_eq!(body["alert_id"], 3);
        assert_eq!(body["title"], "Robbery near Home (+2 more)");
        assert_eq!(body["body"], "Place 2");
    }
    // Nothing new: nothing sent.
    pusher.deliver(&user).await;
    assert_eq!(log.lock().unwrap().len(), 1);

    // The distributor says the endpoint is gone: the device is forgotten.
    let (gone, _) = server(StatusCode::GONE, json!({})).await;
    let moved = json!({"provider": "unified_push", "endpoint": format!("http://{gone}/up/ann")});
    let (status, _) = app.call(Method::PUT, &uri, Some(&token), Some(moved)).await;
    assert_eq!(status, StatusCode::OK);
    let more = vec![Candidate {
        incident: AlertIncident {
            id: IncidentId::for_feed_record("test", "9"),
            ..candidates[0].incident.clone()
        },
        ..candidates[0].clone()
    }];
    app.db
        .record_alerts(&more, &[], policy, Utc::now().timestamp_millis())
        .await
        .unwrap();
    pusher.deliver(&user).await;
    let (_, list) = app
        .call(Method::GET, "/v1/devices", Some(&token), None)
        .await;
    assert_eq!(list["devices"], json!([]));
}
