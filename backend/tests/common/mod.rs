//! Shared test harness: the API on a fresh embedded store or a fresh PostgreSQL database.

#![allow(dead_code)]

pub mod pipeline;

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use chrono::{Duration, Utc};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;
use vigil_backend::{
    api::{ApiConfig, AppState, router},
    db::Db,
};

/// Which engine a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// The API over a store that lives as long as this value.
pub struct TestApp {
    pub router: Router,
    pub db: Db,
    _guard: Guard,
}

enum Guard {
    Dir(tempfile::TempDir),
    Database { admin_url: String, name: String },
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Guard::Database { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime; use a thread with its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(pool) = sqlx::PgPool::connect(&admin_url).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&pool)
                        .await;
                    }
                });
            })
            .join();
        }
    }
}

/// The admin URL of the test PostgreSQL server (`cargo xtask test` sets it).
pub fn postgres_admin_url() -> String {
    std::env::var("VIGIL_TEST_POSTGRES_URL").expect(
        "VIGIL_TEST_POSTGRES_URL is not set: run `cargo xtask test` (it starts PostgreSQL), \
         or point it at a server where the user may CREATE DATABASE",
    )
}

impl TestApp {
    pub async fn new(engine: Engine) -> TestApp {
        Self::with_config(engine, ApiConfig::default()).await
    }

    pub async fn with_config(engine: Engine, config: ApiConfig) -> TestApp {
        let (db, guard) = match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                (Db::open_sqlite(dir.path()).await.unwrap(), Guard::Dir(dir))
            }
            Engine::Postgres => {
                let admin_url = postgres_admin_url();
                let name = format!("vigil_test_{}", Uuid::new_v4().simple());
                let admin = sqlx::PgPool::connect(&admin_url)
                    .await
                    .expect("connect to test PostgreSQL");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin)
                    .await
                    .unwrap();
                admin.close().await;
                let url = match admin_url.rsplit_once('/') {
                    Some((base, _)) => format!("{base}/{name}"),
                    None => panic!("VIGIL_TEST_POSTGRES_URL must end with /<database>"),
                };
                let guard = Guard::Database { admin_url, name };
                (Db::open_postgres(&url, 8).await.unwrap(), guard)
            }
        };
        let router = router(AppState::new(db.clone(), config));
        TestApp {
            router,
            db,
            _guard: guard,
        }
    }

    /// Serves the risk model published in `risk`'s lake.
    pub fn with_risk(mut self, risk: vigil_backend::risk::publish::RiskServing) -> TestApp {
        let mut state = AppState::new(self.db.clone(), ApiConfig::default());
        state.risk = risk;
        self.router = router(state);
        self
    }

    /// Sends a request; returns the status and the body as JSON (`Value::Null` if empty).
    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let bytes = body.map(|b| b.to_string().into_bytes());
        self.raw(method, uri, token, bytes, Some("application/json"))
            .await
    }

    pub async fn raw(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if let (Some(ct), Some(_)) = (content_type, &body) {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let req = req
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, value)
    }

    /// Sends a request as built; returns the whole response.
    pub async fn send(&self, req: Request<Body>) -> axum::response::Response {
        self.router.clone().oneshot(req).await.unwrap()
    }

    /// Registers `name` and logs in; returns the token.
    pub async fn user(&self, name: &str) -> String {
        let creds = json!({"username": name, "password": "correct horse battery"});
        let (status, body) = self
            .call(Method::POST, "/v1/auth/register", None, Some(creds.clone()))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = self
            .call(Method::POST, "/v1/auth/login", None, Some(creds))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    pub async fn push(&self, token: &str, reports: Vec<Value>) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            "/v1/sync/push",
            Some(token),
            Some(json!({"reports": reports})),
        )
        .await
    }

    /// Pushes `reports` and asserts every one was accepted.
    pub async fn push_accepted(&self, token: &str, reports: Vec<Value>) {
        let (status, body) = self.push(token, reports).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            body["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["outcome"] == "accepted"),
            "{body}"
        );
    }

    /// Pulls every change from `cursor` on; returns the changes and the final cursor.
    pub async fn pull_all(&self, token: &str, mut cursor: String) -> (Vec<Value>, String) {
        let mut changes = Vec::new();
        loop {
            let uri = format!("/v1/sync/pull?cursor={cursor}&limit=100");
            let (status, page) = self.call(Method::GET, &uri, Some(token), None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            changes.extend(page["changes"].as_array().unwrap().iter().cloned());
            cursor = page["cursor"].as_str().unwrap().to_owned();
            if !page["has_more"].as_bool().unwrap() {
                return (changes, cursor);
            }
        }
    }
}

/// A valid report at `(lat, lon)` that happened an hour ago.
pub fn report(lat: f64, lon: f64) -> Value {
    json!({
        "id": Uuid::now_v7().to_string(),
        "category": "break_and_enter",
        "occurred_at": (Utc::now() - Duration::hours(1)).with_timezone(&chrono::FixedOffset::west_opt(5 * 3600).unwrap())
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
        "location": {"lat": lat, "lon": lon, "accuracy_m": 20.0},
        "place": "Queen St W & Spadina Ave",
        "description": "Side door forced open overnight; nobody hurt."
    })
}
