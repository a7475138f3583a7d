//! The gateway over real ZeroMQ on loopback: login, orders and fills between two
//! sessions, bad frames answered with reason codes, the throttle, and a restart that
//! recovers from the journal.

mod common;

use std::time::Duration;

use bourse_core::{CancelReason, Price, Qty, RejectReason, Side};
use bourse_gateway::protocol::{ClientMsg, Liquidity, ServerMsg};
use bourse_gateway::server::GatewayConfig;
use common::{Client, Gateway, SECRET_A, SECRET_B, Watchdog, limit, s};

#[test]
fn orders_trade_between_sessions_and_bad_input_gets_reason_codes() {
    // Each command waits for the one before it, so each finds the pipeline idle and
    // runs on the I/O thread.
    let executed = trading_session(|_| {});
    assert_eq!(
        executed,
        (6, 6),
        "(commands executed, of them on the I/O thread)"
    );
}

#[test]
fn the_same_session_through_the_journal_and_engine_threads() {
    let executed = trading_session(|c| c.inline_batch = 0);
    assert_eq!(
        executed,
        (6, 0),
        "(commands executed, of them on the I/O thread)"
    );
}

/// Two sessions trade, refuse and replace, with the gateway configured by
/// `configure`; returns the commands it executed and how many of them ran on the I/O
/// thread.
fn trading_session(configure: impl FnOnce(&mut GatewayConfig)) -> (u64, u64) {
    let _watchdog = Watchdog::new(120, "the session test");
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_configured(dir.path(), 0, configure);
    let a = Client::connect(&gw.endpoint);
    let b = Client::connect(&gw.endpoint);

    // Nothing before login.
    a.send(&ClientMsg::Enter(limit("early", Side::Sell, 100, 10)));
    assert_eq!(
        a.recv(),
        ServerMsg::Rejected {
            token: Some(s("early")),
            reason: RejectReason::NotLoggedIn,
            seq: 0
        }
    );
    assert_eq!(
        a.login("key-a", SECRET_B),
        ServerMsg::LoginRejected {
            reason: RejectReason::BadCredentials
        }
    );
    assert_eq!(
        a.login("key-a", SECRET_A),
        ServerMsg::LoginAccepted { user: 1 }
    );
    assert_eq!(
        b.login("key-b", SECRET_B),
        ServerMsg::LoginAccepted { user: 2 }
    );

    // A rests a sell; B buys into it: both see the fill.
    a.send(&ClientMsg::Enter(limit("s1", Side::Sell, 100, 10)));
    let ServerMsg::Accepted { order, seq } = a.recv() else {
        panic!("expected Accepted")
    };
    assert_eq!(order, limit("s1", Side::Sell, 100, 10));
    assert!(seq > 0);
    b.send(&ClientMsg::Enter(limit("b1", Side::Buy, 101, 4)));
    assert!(matches!(b.recv(), ServerMsg::Accepted { .. }));
    let fill = |token: &str, leaves: i64, liquidity| ServerMsg::Executed {
        token: s(token),
        exec_id: seq + 2,
        price: Price(100),
        qty: Qty(4),
        leaves: Qty(leaves),
        liquidity,
    };
    assert_eq!(b.recv(), fill("b1", 0, Liquidity::Removed));
    assert_eq!(a.recv(), fill("s1", 6, Liquidity::Added));

    // Engine refusals come back with their reason and sequence number.
    b.send(&ClientMsg::Enter(limit("big", Side::Buy, 100, 1_000_000)));
    assert!(matches!(
        b.recv(),
        ServerMsg::Rejected { reason: RejectReason::InsufficientFunds, seq, .. } if seq > 0
    ));
    b.send(&ClientMsg::Cancel { token: s("s1") });
    assert!(
        matches!(
            b.recv(),
            ServerMsg::Rejected {
                reason: RejectReason::UnknownOrder,
                ..
            }
        ),
        "only the owner cancels"
    );

    // Malformed frames: a reason each, and the session goes on.
    a.raw(&[1, b'O', 56]);
    assert!(matches!(
        a.recv(),
        ServerMsg::Rejected {
            reason: RejectReason::BadLength,
            ..
        }
    ));
    a.raw(&[1, b'Z', 4, 0]);
    assert!(matches!(
        a.recv(),
        ServerMsg::Rejected {
            reason: RejectReason::UnknownMessageType,
            ..
        }
    ));
    a.raw(&[9, b'H', 4, 0]);
    assert!(matches!(
        a.recv(),
        ServerMsg::Rejected {
            reason: RejectReason::UnsupportedVersion,
            ..
        }
    ));
    a.send(&ClientMsg::Heartbeat);
    assert_eq!(a.recv(), ServerMsg::Heartbeat);

    // Replace and cancel.
    a.send(&ClientMsg::Replace {
        token: s("s1"),
        new_token: s("s2"),
        price: Price(102),
        qty: Qty(10),
    });
    assert!(matches!(
        a.recv(),
        ServerMsg::Replaced {
            price: Price(102),
            ..
        }
    ));
    a.send(&ClientMsg::Cancel { token: s("s2") });
    assert!(matches!(
        a.recv(),
        ServerMsg::Canceled {
            qty: Qty(6),
            reason: CancelReason::User,
            ..
        }
    ));
    (gw.metrics.executed(), gw.metrics.inline())
}

#[test]
fn the_throttle_rejects_excess_and_the_session_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path(), 20);
    let a = Client::connect(&gw.endpoint);
    for _ in 0..60 {
        a.send(&ClientMsg::Heartbeat);
    }
    let replies: Vec<ServerMsg> = (0..60).map(|_| a.recv()).collect();
    let throttled = replies
        .iter()
        .filter(|m| {
            matches!(
                m,
                ServerMsg::Rejected {
                    reason: RejectReason::Throttled,
                    ..
                }
            )
        })
        .count();
    let answered = replies
        .iter()
        .filter(|m| **m == ServerMsg::Heartbeat)
        .count();
    assert_eq!(throttled + answered, 60);
    assert!(
        (20..=30).contains(&answered),
        "a burst of about one second's allowance: {answered}"
    );
    std::thread::sleep(Duration::from_millis(300));
    a.send(&ClientMsg::Heartbeat);
    assert_eq!(
        a.recv(),
        ServerMsg::Heartbeat,
        "refilled: the session still works"
    );
}

#[test]
fn a_restart_recovers_resting_orders_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let recovered_first;
    {
        let gw = Gateway::start(dir.path(), 0);
        recovered_first = gw.recovered;
        let a = Client::connect(&gw.endpoint);
        a.login("key-a", SECRET_A);
        a.send(&ClientMsg::Enter(limit("keep", Side::Sell, 105, 7)));
        assert!(matches!(a.recv(), ServerMsg::Accepted { .. }));
    }
    let gw = Gateway::start(dir.path(), 0);
    assert!(
        gw.recovered > recovered_first,
        "the order was journaled before its Accepted"
    );
    let a = Client::connect(&gw.endpoint);
    a.login("key-a", SECRET_A);
    a.send(&ClientMsg::Cancel { token: s("keep") });
    assert!(
        matches!(a.recv(), ServerMsg::Canceled { qty: Qty(7), .. }),
        "the order survived the restart"
    );
}

#[test]
fn restarts_count_toward_the_next_snapshot_from_the_newest_one_on_disk() {
    // Each run journals fewer commands than `snapshot_every`; counted per run (as it
    // once was), no run would ever snapshot and restarts would replay ever more.
    let dir = tempfile::tempdir().unwrap();
    for run in 0..3 {
        let gw = Gateway::start_configured(dir.path(), 0, |c| c.snapshot_every = 10);
        let a = Client::connect(&gw.endpoint);
        a.login("key-a", SECRET_A);
        for n in 0..4 {
            a.send(&ClientMsg::Enter(limit(
                &format!("r{run}-{n}"),
                Side::Sell,
                200 + n,
                1,
            )));
            assert!(matches!(a.recv(), ServerMsg::Accepted { .. }));
        }
    }
    // 5 bootstrap commands and 12 orders: a snapshot at 10 or later must exist.
    let recovered =
        bourse_journal::recover(dir.path(), bourse_core::EngineConfig::default()).unwrap();
    assert_eq!(recovered.last_seq, 17);
    assert!(
        recovered.snapshot_seq.is_some_and(|s| s >= 10),
        "snapshot: {:?}",
        recovered.snapshot_seq
    );
}

#[test]
fn the_metrics_count_sessions_commands_refusals_and_every_stage() {
    use bourse_gateway::metrics::{RejectSource, Stage};
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path(), 0);
    let m = gw.metrics.clone();
    let a = Client::connect(&gw.endpoint);
    let b = Client::connect(&gw.endpoint);
    a.login("key-a", SECRET_B); // wrong secret
    a.login("key-a", SECRET_A);
    a.login("key-a", SECRET_A); // again on the same session: still one
    b.login("key-b", SECRET_B);
    a.raw(&[1, 99, 0, 0]); // an unknown message type: refused by the gateway
    assert!(matches!(a.recv(), ServerMsg::Rejected { .. }));
    a.send(&ClientMsg::Enter(limit("s1", Side::Sell, 100, 5)));
    assert!(matches!(a.recv(), ServerMsg::Accepted { .. }));
    // More than user 2 can pay for: refused by the engine.
    b.send(&ClientMsg::Enter(limit("big", Side::Buy, 100_000, 1_000)));
    assert!(matches!(
        b.recv(),
        ServerMsg::Rejected {
            reason: RejectReason::InsufficientFunds,
            ..
        }
    ));
    b.send(&ClientMsg::Enter(limit("b1", Side::Buy, 100, 5)));
    assert!(matches!(b.recv(), ServerMsg::Accepted { .. }));

    // Three commands reached the engine; each passed every stage once. The last
    // report's histogram is published just after it is sent: wait for it.
    let _watchdog = Watchdog::new(30, "the metrics");
    while m.stage(Stage::Reported).count() < 3 {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(m.executed(), 3);
    for stage in [Stage::Durable, Stage::Matched, Stage::Reported] {
        assert_eq!(m.stage(stage).count(), 3, "{stage:?}");
    }
    assert!(m.fsync().count() >= 1);
    assert_eq!(m.sessions(), 2);
    assert_eq!(
        m.rejects(RejectSource::Gateway, RejectReason::BadCredentials),
        1
    );
    assert_eq!(
        m.rejects(RejectSource::Gateway, RejectReason::UnknownMessageType),
        1
    );
    assert_eq!(
        m.rejects(RejectSource::Engine, RejectReason::InsufficientFunds),
        1
    );
    let mut page = String::new();
    m.render(&mut page);
    assert!(page.contains("bourse_engine_commands_total 3\n"), "{page}");
    assert!(page.contains("bourse_gateway_sessions 2\n"), "{page}");
}

#[test]
fn a_login_that_cannot_be_read_is_answered_with_login_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path(), 0);
    let a = Client::connect(&gw.endpoint);
    // A key id with a byte outside alpha16 (a space), then the secret.
    let mut frame = vec![1, b'L', 52, 0];
    frame.extend_from_slice(b"bad key\0\0\0\0\0\0\0\0\0");
    frame.extend_from_slice(&SECRET_A);
    a.raw(&frame);
    assert_eq!(
        a.recv(),
        ServerMsg::LoginRejected {
            reason: RejectReason::BadCredentials
        }
    );
    // A Login of the wrong length.
    a.raw(&[1, b'L', 8, 0, 0, 0, 0, 0]);
    assert_eq!(
        a.recv(),
        ServerMsg::LoginRejected {
            reason: RejectReason::BadLength
        }
    );
}

#[test]
fn a_newer_login_with_the_same_key_takes_over_and_the_older_connection_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path(), 0);
    let old = Client::connect(&gw.endpoint);
    let new = Client::connect(&gw.endpoint);
    assert_eq!(
        old.login("key-a", SECRET_A),
        ServerMsg::LoginAccepted { user: 1 }
    );
    assert_eq!(
        new.login("key-a", SECRET_A),
        ServerMsg::LoginAccepted { user: 1 }
    );
    assert_eq!(
        old.recv(),
        ServerMsg::LoginRejected {
            reason: RejectReason::LoggedInElsewhere
        }
    );
    old.send(&ClientMsg::Enter(limit("o1", Side::Sell, 100, 1)));
    assert!(matches!(
        old.recv(),
        ServerMsg::Rejected {
            reason: RejectReason::NotLoggedIn,
            ..
        }
    ));
    new.send(&ClientMsg::Enter(limit("n1", Side::Sell, 100, 1)));
    assert!(matches!(new.recv(), ServerMsg::Accepted { .. }));
    assert_eq!(gw.metrics.sessions(), 1);
    // Logging in again on the same connection is not a takeover.
    assert_eq!(
        new.login("key-a", SECRET_A),
        ServerMsg::LoginAccepted { user: 1 }
    );
    assert_eq!(new.try_recv(200), None);
}

#[test]
fn a_market_makers_bursts_of_quotes_run_on_the_io_thread() {
    // A market maker moves all its quotes at once: bursts of six commands, each
    // answered before the next. Syncs of six commands still count as light load, so
    // every burst skips the hand-over to the journal and engine threads (with the old
    // threshold — syncs covering at most four on average — the ninth burst onwards went
    // through the stages, 34–59 µs more of the demo's round trip; PERF.md, "The demo's
    // round trip taken apart").
    let _watchdog = Watchdog::new(120, "the bursts test");
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path(), 0);
    let maker = Client::connect(&gw.endpoint);
    assert_eq!(
        maker.login("key-a", SECRET_A),
        ServerMsg::LoginAccepted { user: 1 }
    );
    let (executed, inline) = (gw.metrics.executed(), gw.metrics.inline());
    let token = |round: usize, i: usize| s(&format!("r{round}q{i}"));
    const QUOTES: usize = 6;
    const ROUNDS: usize = 20;
    for round in 0..ROUNDS {
        for i in 0..QUOTES {
            let price = 200 + (round + i) as i64;
            maker.send(&if round == 0 {
                ClientMsg::Enter(limit(&format!("r0q{i}"), Side::Sell, price, 1))
            } else {
                ClientMsg::Replace {
                    token: token(round - 1, i),
                    new_token: token(round, i),
                    price: Price(price),
                    qty: Qty(1),
                }
            });
        }
        for i in 0..QUOTES {
            match maker.recv() {
                ServerMsg::Accepted { order, .. } => assert_eq!(order.token, token(round, i)),
                ServerMsg::Replaced { new_token, .. } => assert_eq!(new_token, token(round, i)),
                other => panic!("round {round}, quote {i}: {other:?}"),
            }
        }
    }
    let commands = (QUOTES * ROUNDS) as u64;
    assert_eq!(gw.metrics.executed() - executed, commands);
    assert_eq!(
        gw.metrics.inline() - inline,
        commands,
        "every burst journaled and executed on the I/O thread"
    );
}
