//! A real Prometheus (Debian's package; `BOURSE_PROMETHEUS` names another binary)
//! scrapes the all-in-one process with `--demo`, whose market makers trade on their
//! own: the engine's, the gateway's, the bridge's, settlement's and the HTTP services'
//! series are all there, parse as Prometheus parses them, and move while orders flow.

mod common;

use std::time::{Duration, Instant};

use bourse_shell::client::Client;
use common::all_in_one::AllInOne;
use common::{Proc, free_port};
use serde_json::Value;

/// The Prometheus server binary.
fn prometheus_binary() -> String {
    std::env::var("BOURSE_PROMETHEUS").unwrap_or_else(|_| {
        ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("prometheus")
            .to_string()
    })
}

/// The sum over the series `query` returns (`None`: no series yet).
async fn query(prom: &Client, query: &str) -> Option<f64> {
    let q: String = query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let r = prom.get(&format!("/api/v1/query?query={q}")).await.ok()?;
    if r.status == 503 {
        return None; // Prometheus is still starting (its storage not ready yet)
    }
    assert_eq!(r.status, 200, "{query}: {}", r.text);
    let result = r.json["data"]["result"].as_array()?;
    if result.is_empty() {
        return None;
    }
    Some(
        result
            .iter()
            .map(|s| match &s["value"][1] {
                Value::String(v) => v.parse::<f64>().unwrap(),
                other => panic!("{query}: {other}"),
            })
            .sum(),
    )
}

/// Waits until `query` returns a value that `ok` accepts; returns it.
async fn until(prom: &Client, q: &str, ok: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = query(prom, q).await
            && ok(v)
        {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{q}: still {:?} after 60 s",
            query(prom, q).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_engine_and_the_services_and_sees_them_move() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let gateway = format!("tcp://127.0.0.1:{}", free_port());
    let feed = format!("tcp://127.0.0.1:{}", free_port());
    let platform = AllInOne::start(&data, &gateway, &feed, &["--demo"]);
    let user = platform.printed("user service");
    let target = user.trim_start_matches("http://").trim_end_matches('/');

    let prom_port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: bourse\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    let _prometheus = Proc(
        std::process::Command::new(prometheus_binary())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start prometheus (scripts/test.sh installs Debian's package)"),
    );
    let prom = Client::new(format!("http://127.0.0.1:{prom_port}"));

    // The target is up: Prometheus parsed the whole page.
    until(&prom, "up{job=\"bourse\"}", |v| v == 1.0).await;
    let scrape_ok = query(&prom, "scrape_samples_scraped{job=\"bourse\"}").await;
    assert!(scrape_ok.unwrap_or(0.0) > 100.0, "{scrape_ok:?}");

    // Every role's series, moving while the demo trades.
    let moving = [
        "bourse_engine_commands_total",
        "bourse_engine_event_seq",
        "bourse_journal_seq",
        "bourse_journal_fsync_seconds_count",
        "bourse_engine_command_seconds_count",
        "bourse_gateway_stage_seconds_count{stage=\"durable\"}",
        "bourse_gateway_stage_seconds_count{stage=\"matched\"}",
        "bourse_gateway_stage_seconds_count{stage=\"reported\"}",
        "bourse_bridge_event_seq",
        "bourse_bridge_published_messages_total",
        "bourse_settlement_event_seq",
        "bourse_settlement_trades_total",
        "http_requests_total{service=\"user\"}",
    ];
    let mut first = Vec::new();
    for q in moving {
        first.push(until(&prom, q, |v| v > 0.0).await);
    }
    // The HTTP services count requests: make some.
    let users = Client::new(&user);
    for _ in 0..5 {
        assert_eq!(users.get("/healthz").await.unwrap().status, 200);
    }
    for (q, before) in moving.iter().zip(first) {
        until(&prom, q, |v| v > before).await;
    }

    // The demo's market makers are logged in on the gateway.
    until(&prom, "bourse_gateway_sessions", |v| v >= 1.0).await;
    // Its journal writes into a preallocated segment once the first is zero-filled.
    until(&prom, "bourse_journal_segment_preallocated", |v| v == 1.0).await;
    // The round trip's percentiles are computable from the stage histograms.
    until(
        &prom,
        "histogram_quantile(0.99, rate(bourse_gateway_stage_seconds_bucket{stage=\"reported\"}[1m]))",
        |v| v.is_finite() && v > 0.0,
    )
    .await;
    // Settlement lag is computable (the engine's sequence minus settlement's). Its
    // size is not asserted: the demo's market makers can outrun an unoptimized
    // build's settlement (a benchmark's question, not a test's).
    until(
        &prom,
        "max(bourse_engine_event_seq) - max(bourse_settlement_event_seq)",
        |lag| lag >= 0.0,
    )
    .await;
}
