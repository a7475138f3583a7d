//! An API key made over HTTP logs in on the binary gateway within a second, with no
//! restart, and a revoked one stops working there: its session is logged out and new
//! logins are refused. Both roles run as their own `bourse serve …` processes against
//! real PostgreSQL; two user-service instances share the database side by side.

mod common;

use std::time::{Duration, Instant};

use common::start;

use bourse_core::FixedStr;
use bourse_gateway::protocol::{ClientMsg, ServerMsg, decode_server, encode_client};
use bourse_shell::client::Client;
use serde_json::json;

const PG: &str = "host=127.0.0.1 user=postgres dbname=test";

fn login(socket: &zmq::Socket, key_id: &str, secret: &str) {
    let mut bytes = Vec::new();
    let mut raw = [0u8; 32];
    raw.copy_from_slice(secret.as_bytes());
    encode_client(
        &ClientMsg::Login {
            key_id: FixedStr::new(key_id).unwrap(),
            secret: raw,
        },
        &mut bytes,
    );
    socket.send(&bytes[..], 0).unwrap();
}

fn recv(socket: &zmq::Socket, ms: i64) -> Option<ServerMsg> {
    if socket.poll(zmq::POLLIN, ms).unwrap() == 0 {
        return None;
    }
    let bytes = socket.recv_bytes(0).unwrap();
    Some(decode_server(&bytes).expect("a valid server message"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_made_over_http_logs_in_on_the_gateway_and_a_revoked_one_stops() {
    let dir = tempfile::tempdir().unwrap();
    let schema = format!("e2e_keys_{}", std::process::id());
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let common = [
        "--database-url",
        PG,
        "--schema",
        &schema,
        "--data-dir",
        data,
        "--jwt-secret",
        "e2e secret",
    ];
    let user_args = |port: &'static str| {
        let mut a = vec!["serve", "user", "--listen", port];
        a.extend(common);
        a
    };
    let (_users_a, line) = start(&user_args("127.0.0.1:0"), "user service on");
    let base_a = line.rsplit(' ').next().unwrap().to_string();
    let (_users_b, line) = start(&user_args("127.0.0.1:0"), "user service on");
    let base_b = line.rsplit(' ').next().unwrap().to_string();
    let port = common::free_port();
    let bind = format!("tcp://127.0.0.1:{port}");
    let (_gateway, _) = start(
        &[
            "serve",
            "--data-dir",
            data,
            "--bind",
            &bind,
            "--feed",
            "off",
            "--keys-db",
            PG,
            "--keys-db-schema",
            &schema,
        ],
        "listening on",
    );

    // Register on one instance, log in and make a key on the other.
    let a = Client::new(&base_a);
    let b = Client::new(&base_b);
    let r = a
        .post(
            "/v1/users",
            &json!({"username": "maker", "password": "maker-pass"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text);
    let user = r.json["id"].as_u64().unwrap();
    let r = b
        .post(
            "/v1/auth/login",
            &json!({"username": "maker", "password": "maker-pass"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    let b = b.with_token(r.json["access_token"].as_str().unwrap());
    let r = b
        .post("/v1/keys", &json!({"label": "gateway"}))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text);
    let key_id = r.json["key_id"].as_str().unwrap().to_string();
    let secret = r.json["secret"].as_str().unwrap().to_string();
    let made = Instant::now();

    // The gateway takes the new key within a second (it polls every 500 ms).
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::DEALER).unwrap();
    socket.set_linger(0).unwrap();
    socket.connect(&bind).unwrap();
    let accepted = loop {
        login(&socket, &key_id, &secret);
        match recv(&socket, 2_000) {
            Some(ServerMsg::LoginAccepted { user: u }) => break u,
            Some(ServerMsg::LoginRejected { .. }) => {
                assert!(made.elapsed() < Duration::from_secs(10), "never accepted");
                std::thread::sleep(Duration::from_millis(100));
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(accepted, user, "the key logs in as its owner");
    eprintln!(
        "key usable on the gateway {:?} after it was made",
        made.elapsed()
    );

    // Revoked over HTTP (on the first instance): the session is told and logged out.
    let a = a.with_key(&key_id, &secret);
    let r = a.delete(&format!("/v1/keys/{key_id}")).await.unwrap();
    assert_eq!(r.status, 204, "{}", r.text);
    match recv(&socket, 10_000) {
        Some(ServerMsg::LoginRejected { .. }) => {}
        other => panic!("expected the session to be logged out, got {other:?}"),
    }
    login(&socket, &key_id, &secret);
    assert!(
        matches!(recv(&socket, 5_000), Some(ServerMsg::LoginRejected { .. })),
        "a revoked key does not log in"
    );

    let pool = bourse_shell::db::pool(PG, None, 1).await.unwrap();
    pool.get()
        .await
        .unwrap()
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .unwrap();
}
