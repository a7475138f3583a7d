//! The client against a live gateway on loopback: concurrent requests each resolve to
//! their own verdicts, orders entered for two users trade, and with the gateway gone a
//! request fails as unknown instead of hanging.

use std::time::Duration;

use bourse_core::{
    AdminOp, FixedStr, OrderType, Price, Qty, RejectReason, Side, TimeInForce, UserId,
};
use bourse_gateway::keys::KeyStore;
use bourse_gateway::protocol::{EnterOrder, ServerMsg, ServiceMsg};
use bourse_gateway::server::GatewayConfig;
use bourse_gateway_client::{ClientError, GatewayClient};

const SECRET: [u8; 32] = [5; 32];

fn s(v: &str) -> FixedStr {
    FixedStr::new(v).unwrap()
}

fn start(dir: &std::path::Path) -> bourse_gateway::server::Running {
    let mut keys = KeyStore::default();
    keys.insert_service(s("trader"), UserId(0), &SECRET);
    let mut config = GatewayConfig::new(dir, keys);
    config.bind = "tcp://127.0.0.1:*".into();
    config.ring_size = 1024;
    config.bootstrap = vec![bourse_core::Command::AddInstrument {
        symbol: s("ACME"),
        tick: Price(1),
        lot: Qty(1),
    }];
    bourse_gateway::server::spawn(config).expect("gateway runs")
}

fn order(token: &str, side: Side, price: i64, qty: i64) -> EnterOrder {
    EnterOrder {
        token: s(token),
        symbol: s("ACME"),
        side,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        post_only: false,
        price: Price(price),
        qty: Qty(qty),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_resolve_to_their_own_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = start(dir.path());
    let client = GatewayClient::connect(
        &gateway.ready.endpoint,
        "trader",
        SECRET,
        Duration::from_secs(2),
    )
    .unwrap();
    // 200 accounts opened and funded at once.
    let mut tasks = Vec::new();
    for u in 1..=200u64 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            let opened = c
                .request(ServiceMsg::AddUser {
                    request: 0,
                    user: UserId(u),
                })
                .await
                .unwrap();
            let funded = c
                .request(ServiceMsg::Deposit {
                    request: 0,
                    user: UserId(u),
                    asset: s(if u % 2 == 0 { "USD" } else { "ACME" }),
                    amount: 10_000,
                })
                .await
                .unwrap();
            (u, opened, funded)
        }));
    }
    for t in tasks {
        let (u, opened, funded) = t.await.unwrap();
        for (reports, op) in [(opened, AdminOp::AddUser), (funded, AdminOp::Deposit)] {
            assert_eq!(reports.len(), 1);
            assert!(reports[0].last);
            assert!(
                matches!(reports[0].msg, ServerMsg::Done { op: o, user, .. } if o == op && user == u),
                "{u}: {reports:?}"
            );
        }
    }
    // A sell for user 1 rests; a buy for user 2 takes it: accepted, then the fill.
    let sell = client
        .request(ServiceMsg::EnterFor {
            request: 0,
            user: UserId(1),
            order: order("s", Side::Sell, 50, 10),
        })
        .await
        .unwrap();
    assert!(
        matches!(sell[..], [ref r] if matches!(r.msg, ServerMsg::Accepted { .. })),
        "{sell:?}"
    );
    let buy = client
        .request(ServiceMsg::EnterFor {
            request: 0,
            user: UserId(2),
            order: order("b", Side::Buy, 50, 10),
        })
        .await
        .unwrap();
    assert_eq!(buy.len(), 2, "{buy:?}");
    assert!(matches!(
        buy[1].msg,
        ServerMsg::Executed {
            qty: Qty(10),
            leaves: Qty(0),
            ..
        }
    ));
    assert!(buy[1].last && !buy[0].last);
    // The engine's refusal is a verdict too.
    let refused = client
        .request(ServiceMsg::EnterFor {
            request: 0,
            user: UserId(2),
            order: order("b2", Side::Buy, 50, 1_000_000),
        })
        .await
        .unwrap();
    assert!(
        matches!(
            refused[0].msg,
            ServerMsg::Rejected {
                reason: RejectReason::InsufficientFunds,
                ..
            }
        ),
        "{refused:?}"
    );

    // The gateway stops: a request fails as unknown within its timeout.
    gateway.stop().unwrap();
    let lost = client
        .request(ServiceMsg::AddUser {
            request: 0,
            user: UserId(999),
        })
        .await;
    assert_eq!(lost.unwrap_err(), ClientError::Unknown);
}
