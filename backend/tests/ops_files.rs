//! The Prometheus rules and Grafana dashboards in `ops/` only name metrics the backend
//! really exports, so a renamed metric cannot silently blank a panel or an alert.

use std::{collections::BTreeSet, path::Path, sync::Arc};

use axum::{Router, body::Body, http::Request, middleware, routing::get};
use tower::ServiceExt;
use vigil_backend::api::metrics::{Metrics, track};

/// Every `vigil_*` metric family the backend exports, from its `# TYPE` lines, after one
/// request has gone through the HTTP middleware and the pipeline roles have timed an
/// engine call (label families appear with their first series).
async fn exported() -> BTreeSet<String> {
    let metrics = Arc::new(Metrics::default());
    let app = Router::new()
        .route("/x", get(|| async { "ok" }))
        .route_layer(middleware::from_fn_with_state(metrics.clone(), track));
    app.oneshot(Request::get("/x").body(Body::empty()).unwrap())
        .await
        .unwrap();
    metrics
        .pipeline
        .engine_op("kafka", "append", std::time::Duration::from_millis(3));
    metrics.ingest.known_source("chicago");
    metrics.ingest.run("chicago", true, 0);
    metrics.ingest.request("chicago", 200);
    metrics.ingest.retry("chicago");
    metrics
        .render()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The metric family a series name in a query belongs to.
fn family(series: &str) -> &str {
    ["_total", "_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| series.strip_suffix(suffix))
        .unwrap_or(series)
}

fn referenced(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("vigil_") {
        let start = i + at;
        let end = start
            + text[start..]
                .bytes()
                .take_while(|b| b.is_ascii_lowercase() || *b == b'_')
                .count();
        let before_ok =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        if before_ok {
            out.insert(text[start..end].to_owned());
        }
        i = end;
    }
    out
}

#[tokio::test]
async fn ops_files_name_only_exported_metrics() {
    let exported = exported().await;
    assert!(exported.contains("vigil_http_requests"), "{exported:?}");
    let ops = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops");
    let files = [
        ops.join("prometheus/vigil-rules.yml"),
        ops.join("grafana/vigil-overview.json"),
    ];
    let mut checked = 0;
    for file in files {
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for series in referenced(&text) {
            assert!(
                exported.contains(family(&series)),
                "{} names {series}, which the backend does not export (it exports {exported:?})",
                file.display()
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 8,
        "expected the ops files to reference the pipeline metrics, found {checked}"
    );
}
