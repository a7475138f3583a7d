//! Random and mutated frames through a live gateway: nothing panics, the session stays
//! up, and the journal the gateway wrote rebuilds an engine whose books never rest
//! crossed, whose balances never go negative, and whose cash and shares are exactly
//! what was deposited.

mod common;

use bourse_core::{EngineConfig, FixedStr, OrderType, Price, Qty, Side, TimeInForce};
use bourse_gateway::protocol::{ClientMsg, EnterOrder, ServerMsg, decode_client, encode_client};
use common::{Client, Gateway, SECRET_A, SECRET_B, Watchdog, s};

/// SplitMix64: a fast, seeded generator for the frames.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A valid message with random fields: tokens from a small pool so that cancels and
/// replaces often name real orders.
fn valid(rng: &mut Rng) -> ClientMsg {
    let token = |rng: &mut Rng| FixedStr::new(&format!("t{}", rng.below(40))).unwrap();
    match rng.below(4) {
        0 | 1 => ClientMsg::Enter(EnterOrder {
            token: token(rng),
            symbol: s(if rng.below(10) == 0 { "NOPE" } else { "ACME" }),
            side: if rng.below(2) == 0 {
                Side::Buy
            } else {
                Side::Sell
            },
            order_type: if rng.below(8) == 0 {
                OrderType::Market
            } else {
                OrderType::Limit
            },
            tif: [
                TimeInForce::Gtc,
                TimeInForce::Day,
                TimeInForce::Ioc,
                TimeInForce::Fok,
            ][rng.below(4) as usize],
            post_only: rng.below(8) == 0,
            price: Price(95 + rng.below(11) as i64 - (rng.below(20) == 0) as i64 * 200),
            qty: Qty(rng.below(30) as i64 - 2),
        }),
        2 => ClientMsg::Cancel { token: token(rng) },
        _ => ClientMsg::Replace {
            token: token(rng),
            new_token: token(rng),
            price: Price(95 + rng.below(11) as i64),
            qty: Qty(1 + rng.below(30) as i64),
        },
    }
}

/// One frame: valid, mutated valid, or random bytes.
fn frame(rng: &mut Rng, out: &mut Vec<u8>) {
    out.clear();
    match rng.below(3) {
        0 => encode_client(&valid(rng), out),
        1 => {
            encode_client(&valid(rng), out);
            for _ in 0..1 + rng.below(3) {
                let i = rng.below(out.len() as u64) as usize;
                out[i] = rng.next() as u8;
            }
            if rng.below(4) == 0 {
                out.truncate(rng.below(out.len() as u64 + 1) as usize);
            }
        }
        _ => {
            let n = rng.below(80) as usize;
            out.extend((0..n).map(|_| rng.next() as u8));
            if n >= 4 && rng.below(2) == 0 {
                out[0] = 1; // a valid version, to reach deeper checks
            }
        }
    }
}

#[test]
fn two_million_random_and_mutated_frames_never_panic_the_decoder() {
    let mut rng = Rng(1);
    let mut buf = Vec::with_capacity(128);
    let mut decoded = 0;
    for _ in 0..2_000_000 {
        frame(&mut rng, &mut buf);
        if let Ok(m) = decode_client(&buf) {
            decoded += 1;
            let mut again = Vec::new();
            encode_client(&m, &mut again);
            assert_eq!(decode_client(&again), Ok(m));
        }
    }
    assert!(
        decoded > 500_000,
        "the mix reaches the decoder's valid paths: {decoded}"
    );
}

#[test]
fn a_live_gateway_survives_garbage_and_its_journal_stays_consistent() {
    let _watchdog = Watchdog::new(300, "the live fuzz test");
    let dir = tempfile::tempdir().unwrap();
    {
        let gw = Gateway::start(dir.path(), 0);
        let a = Client::connect(&gw.endpoint);
        let b = Client::connect(&gw.endpoint);
        assert_eq!(
            a.login("key-a", SECRET_A),
            ServerMsg::LoginAccepted { user: 1 }
        );
        assert_eq!(
            b.login("key-b", SECRET_B),
            ServerMsg::LoginAccepted { user: 2 }
        );
        let mut rng = Rng(7);
        let mut buf = Vec::with_capacity(128);
        let mut replies = 0u64;
        for i in 0..100_000u32 {
            frame(&mut rng, &mut buf);
            let c = if i % 2 == 0 { &a } else { &b };
            c.raw(&buf);
            while a.try_recv(0).is_some() {
                replies += 1;
            }
            while b.try_recv(0).is_some() {
                replies += 1;
            }
        }
        // Still up, still answering, still trading.
        a.send(&ClientMsg::Heartbeat);
        loop {
            match a.try_recv(10_000) {
                Some(ServerMsg::Heartbeat) => break,
                Some(_) => replies += 1,
                None => panic!("the gateway stopped answering"),
            }
        }
        assert!(replies > 50_000, "most frames were answered: {replies}");
    }
    // The journal the gateway wrote rebuilds a sane engine, the same way twice.
    let rec = bourse_journal::recover(dir.path(), EngineConfig::default()).unwrap();
    let again = bourse_journal::recover(dir.path(), EngineConfig::default()).unwrap();
    let state = rec.engine.state();
    assert_eq!(state.hash(), again.engine.state().hash());
    assert!(
        rec.last_seq > 1_000,
        "orders reached the journal: {}",
        rec.last_seq
    );
    for book in &state.books {
        if let (Some(bid), Some(ask)) = (book.bids.first(), book.asks.first()) {
            assert!(bid.price < ask.price, "crossed book");
        }
    }
    for acct in &state.accounts {
        assert!(0 <= acct.cash.reserved && acct.cash.reserved <= acct.cash.total);
        for (_, h) in &acct.holdings {
            assert!(0 <= h.reserved && h.reserved <= h.total);
        }
    }
    // Bootstrap deposits: 1,000 ACME to user 1, 1,000,000 cents to user 2.
    assert_eq!(state.total_cash(), 1_000_000);
    assert_eq!(state.total_shares(&s("ACME")), 1_000);
}
