//! `bourse end-of-day` against a running `bourse serve`: the DAY order resting in the
//! book expires, the GTC one stays, and the command says how many expired.

mod common;

use std::time::Duration;

use bourse_core::{FixedStr, OrderType, Price, Qty, Side, TimeInForce, UserId};
use bourse_gateway::protocol::{EnterOrder, ServiceMsg};
use bourse_gateway_client::{GatewayClient, Verdict, verdict};
use common::{free_port, start};

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn order(token: &str, tif: TimeInForce) -> ServiceMsg {
    ServiceMsg::EnterFor {
        request: 0,
        user: UserId(1),
        order: EnterOrder {
            token: FixedStr::new(token).unwrap(),
            symbol: FixedStr::new("ACME").unwrap(),
            side: Side::Sell,
            order_type: OrderType::Limit,
            tif,
            post_only: false,
            price: Price(500),
            qty: Qty(10),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_of_day_expires_the_day_orders_of_a_running_engine() {
    let dir = tempfile::tempdir().unwrap();
    let boot = dir.path().join("boot.jsonl");
    std::fs::write(
        &boot,
        concat!(
            "{\"op\":\"add_instrument\",\"symbol\":\"ACME\",\"tick\":1,\"lot\":1}\n",
            "{\"op\":\"add_user\",\"user\":1}\n",
            "{\"op\":\"deposit\",\"user\":1,\"asset\":\"ACME\",\"amount\":100}\n",
        ),
    )
    .unwrap();
    let gateway = format!("tcp://127.0.0.1:{}", free_port());
    let data = dir.path().join("data");
    let (_engine, _) = start(
        &[
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--bind",
            &gateway,
            "--feed",
            "off",
            "--service-secret",
            SECRET,
            "--bootstrap",
            boot.to_str().unwrap(),
        ],
        "bourse: ready on",
    );
    let secret: [u8; 32] = SECRET.as_bytes().try_into().unwrap();
    let client =
        GatewayClient::connect(&gateway, "service", secret, Duration::from_secs(10)).unwrap();
    for (token, tif) in [("day-1", TimeInForce::Day), ("gtc-1", TimeInForce::Gtc)] {
        let reports = client.request(order(token, tif)).await.unwrap();
        assert!(matches!(verdict(&reports), Verdict::Done(_)), "{reports:?}");
    }

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bourse"))
        .args(["end-of-day", "--gateway", &gateway])
        .env("BOURSE_SERVICE_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "bourse: end of day done: 1 day orders expired\n"
    );
    // The GTC order rests on; the DAY order is gone.
    let cancel = |token: &str| ServiceMsg::CancelFor {
        request: 0,
        user: UserId(1),
        token: FixedStr::new(token).unwrap(),
    };
    let gtc = client.request(cancel("gtc-1")).await.unwrap();
    assert!(matches!(verdict(&gtc), Verdict::Done(_)), "{gtc:?}");
    let day = client.request(cancel("day-1")).await.unwrap();
    assert_eq!(
        verdict(&day),
        Verdict::Refused(bourse_core::RejectReason::UnknownOrder)
    );
}
