//! `bourse serve portfolio` as its own process, against the real PostgreSQL and
//! RabbitMQ: ready once both answer, a socket opens with a token minted from the shared
//! secret, and a `portfolio.changed` hint published on RabbitMQ makes it read the
//! holdings again (a new snapshot), as the order service's hints do.

mod common;

use std::time::Duration;

use bourse_bus::Publisher;
use bourse_bus::rabbit::{RabbitConfig, RabbitPublisher};
use bourse_shell::auth::{Role, TokenKeys};
use bourse_shell::client::Client;
use bourse_testkit::ws::next_json;
use common::start;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const PG: &str = "host=127.0.0.1 user=postgres dbname=test";
const SECRET: &str = "portfolio-process-test-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portfolio_role_serves_sockets_and_reloads_on_hints_from_rabbitmq() {
    let tag = common::unique_tag();
    let schema = format!("portfolio_role_{tag}");
    let exchange = format!("test.portfolio.{tag}");
    let (_proc, line) = start(
        &[
            "serve",
            "portfolio",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            PG,
            "--schema",
            &schema,
            "--jwt-secret",
            SECRET,
            "--feed",
            "tcp://127.0.0.1:1",
            "--exchange",
            &exchange,
        ],
        "portfolio service on",
    );
    let base = line.rsplit(' ').next().unwrap().to_string();
    let http = Client::new(&base);
    let mut ready = false;
    for _ in 0..100 {
        if http.get("/readyz").await.unwrap().status == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ready,
        "never ready: {}",
        http.get("/readyz").await.unwrap().text
    );

    let user = 77u64;
    let token = TokenKeys::new(SECRET.as_bytes(), Duration::from_secs(60))
        .issue(user, Role::User)
        .unwrap();
    let url = format!(
        "{}/portfolio?userID={user}",
        base.replacen("http://", "ws://", 1)
    );
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let first: Value = next_json(&mut ws).await;
    assert_eq!(
        (first["type"].as_str(), first["cash"].as_str()),
        (Some("snapshot"), Some("0.00"))
    );

    // Settlement credits the user (as its transaction would) and hints over RabbitMQ.
    let pool = bourse_shell::db::pool(PG, Some(&schema), 1).await.unwrap();
    let db = pool.get().await.unwrap();
    db.execute(
        "INSERT INTO balances (user_id, asset, amount) VALUES ($1, 'USD', 12345)",
        &[&(user as i64)],
    )
    .await
    .unwrap();
    let config = RabbitConfig {
        exchange: exchange.clone(),
        queues: Vec::new(),
        ..RabbitConfig::default()
    };
    let mut publisher = RabbitPublisher::connect(&config).await.unwrap();
    publisher
        .publish(&[bourse_bus::Message {
            routing_key: format!("portfolio.changed.{user}"),
            seq: 1,
            prev_seq: None,
            body: format!("{{\"user\":{user},\"seq\":1}}").into_bytes(),
        }])
        .await
        .unwrap();
    let snap: Value = next_json(&mut ws).await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["cash"], "123.45");
    assert_eq!(snap["seq"], 2);

    drop(ws);
    bourse_bus::rabbit::delete_topology(&config).await.unwrap();
    db.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}
