//! What the client tests share: an embedded backend on a free port and signed-in users.

#![allow(dead_code)]

use chrono::{TimeDelta, Utc};
use vigil_app::{DraftInput, Server};
use vigil_backend::{
    api::{ApiConfig, AppState, router},
    db::Db,
};
use vigil_sync::Location;

/// An embedded backend on a free loopback port, for as long as this value lives.
pub struct Backend {
    pub url: String,
    pub db: Db,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn backend_with(config: ApiConfig) -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_sqlite(dir.path()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(AppState::new(db.clone(), config));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Backend {
        url: format!("http://{addr}"),
        db,
        task,
        _dir: dir,
    }
}

pub async fn backend() -> Backend {
    backend_with(ApiConfig::default()).await
}

pub async fn signed_in(b: &Backend, name: &str) -> Server {
    signed_in_at(&b.url, name).await
}

/// Registers `name` on the server at `url` and logs in.
pub async fn signed_in_at(url: &str, name: &str) -> Server {
    let mut server = Server::new(url, None).unwrap();
    server
        .register(name, "correct horse battery")
        .await
        .unwrap();
    server.login(name, "correct horse battery").await.unwrap();
    server
}

/// The whole embedded backend (`vigil serve` in this process: the API, the relay, the
/// matcher, the lake in its data directory), serving until dropped.
pub struct Serving {
    pub url: String,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    dir: tempfile::TempDir,
}

impl Serving {
    /// The server's data directory (its store, log and lake).
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts `vigil serve` on a free port with a fresh data directory.
pub async fn serving() -> Serving {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = vigil_backend::config::Config {
        listen: ([127, 0, 0, 1], port).into(),
        data_dir: dir.path().to_owned(),
        ..vigil_backend::config::Config::default()
    };
    let task = tokio::spawn(vigil_backend::serve::serve(config));
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http
            .get(format!("{url}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Serving { url, task, dir };
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the embedded backend did not come up on {url}");
}

/// A complete theft draft at `lat, lon`, an hour ago, saying `text`.
pub fn input(lat: f64, lon: f64, text: &str) -> DraftInput {
    DraftInput {
        category: Some("theft".into()),
        occurred_at: Some(
            (Utc::now() - TimeDelta::hours(1))
                .fixed_offset()
                .to_rfc3339(),
        ),
        location: Some(Location {
            lat,
            lon,
            accuracy_m: Some(15.0),
        }),
        place: None,
        description: text.into(),
        anonymous: false,
    }
}
