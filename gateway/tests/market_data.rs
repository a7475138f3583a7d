//! Market data from a live gateway: orders entered over the binary protocol show up on
//! the ZeroMQ PUB feed as trades, top of book, depth updates and candles, and a
//! subscriber that joins late rebuilds the book from a snapshot plus updates.

mod common;

use std::time::{Duration, Instant};

use bourse_core::Side;
use bourse_feeds::{DepthReplica, Level, MarketData};
use bourse_gateway::protocol::{ClientMsg, ServerMsg};
use common::{Client, Gateway, SECRET_A, SECRET_B, Watchdog, s};

fn limit(token: &str, side: Side, price: i64, qty: i64) -> ClientMsg {
    ClientMsg::Enter(common::limit(token, side, price, qty))
}

fn subscriber(ctx: &zmq::Context, endpoint: &str) -> zmq::Socket {
    let sub = ctx.socket(zmq::SUB).unwrap();
    sub.connect(endpoint).unwrap();
    sub.set_subscribe(b"ACME.").unwrap();
    sub
}

/// Receives feed messages until `done` says so (or 10 s pass).
fn collect(sub: &zmq::Socket, mut done: impl FnMut(&MarketData) -> bool) -> Vec<MarketData> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    while Instant::now() < deadline {
        if sub.poll(zmq::POLLIN, 100).unwrap() == 0 {
            continue;
        }
        let parts = sub.recv_multipart(0).unwrap();
        assert_eq!(parts.len(), 2, "topic and body");
        let msg: MarketData = serde_json::from_slice(&parts[1]).expect("valid JSON");
        assert_eq!(msg.topic().as_bytes(), &parts[0][..], "topic matches body");
        let stop = done(&msg);
        out.push(msg);
        if stop {
            return out;
        }
    }
    panic!("feed: timed out after {} messages: {out:?}", out.len());
}

#[test]
fn orders_become_trades_depth_top_and_candles_and_a_late_joiner_catches_up() {
    let _watchdog = Watchdog::new(120, "the market data test");
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_with(dir.path(), 0, true);
    let feed = gw.feed.clone().expect("feed endpoint");
    let ctx = zmq::Context::new();
    let early = subscriber(&ctx, &feed);
    // The snapshot of the empty book arrives within a second: subscribed for real.
    let mut replica = DepthReplica::new("ACME");
    for m in collect(&early, |m| matches!(m, MarketData::Snapshot { .. })) {
        replica.on_message(&m).expect("snapshot");
    }
    assert!(replica.is_synced() && replica.bids().is_empty());

    let a = Client::connect(&gw.endpoint);
    let b = Client::connect(&gw.endpoint);
    assert!(matches!(
        a.login("key-a", SECRET_A),
        ServerMsg::LoginAccepted { .. }
    ));
    assert!(matches!(
        b.login("key-b", SECRET_B),
        ServerMsg::LoginAccepted { .. }
    ));
    a.send(&limit("s1", Side::Sell, 101, 10));
    a.send(&limit("s2", Side::Sell, 102, 5));
    for _ in 0..2 {
        assert!(matches!(a.recv(), ServerMsg::Accepted { .. }));
    }
    b.send(&limit("b1", Side::Buy, 99, 7));
    b.send(&limit("b2", Side::Buy, 101, 4)); // trades 4 at 101
    for _ in 0..2 {
        assert!(matches!(b.recv(), ServerMsg::Accepted { .. }));
    }

    let mut trades = Vec::new();
    let mut last_top = None;
    let msgs = collect(&early, |m| {
        if let MarketData::Trade { price, qty, .. } = m {
            trades.push((*price, *qty));
        }
        if let MarketData::Top { bid, ask, .. } = m {
            last_top = Some((*bid, *ask));
        }
        // Wait for the candle of the trade: it comes after the trade's depth update.
        matches!(m, MarketData::Candle { interval, .. } if interval == "1d")
    });
    for m in &msgs {
        replica.on_message(m).expect("in sequence");
    }
    assert_eq!(trades, vec![(101, 4)]);
    let l = |price, qty| Level { price, qty };
    assert_eq!(replica.asks(), vec![l(101, 6), l(102, 5)]);
    assert_eq!(replica.bids(), vec![l(99, 7)]);
    assert_eq!(last_top, Some((Some(l(99, 7)), Some(l(101, 6)))));
    let candle = msgs
        .iter()
        .find_map(|m| match m {
            MarketData::Candle { interval, bar, .. } if interval == "1m" => Some(*bar),
            _ => None,
        })
        .expect("a 1m candle");
    assert_eq!(
        (candle.open, candle.close, candle.volume, candle.trades),
        (101, 101, 4, 1)
    );

    // A late joiner gets the book from the next periodic snapshot.
    let late = subscriber(&ctx, &feed);
    let mut late_replica = DepthReplica::new("ACME");
    collect(&late, |m| {
        late_replica.on_message(m).expect("in sequence");
        late_replica.is_synced()
    });
    assert_eq!(late_replica.asks(), replica.asks());
    assert_eq!(late_replica.bids(), replica.bids());

    // And follows the updates after it.
    assert!(matches!(a.recv(), ServerMsg::Executed { .. }), "s1's fill");
    a.send(&ClientMsg::Cancel { token: s("s2") });
    assert!(matches!(a.recv(), ServerMsg::Canceled { .. }));
    collect(&late, |m| {
        late_replica.on_message(m).expect("in sequence");
        matches!(m, MarketData::Depth { .. })
    });
    assert_eq!(late_replica.asks(), vec![l(101, 6)]);
}
