//! The gateway over real ZeroMQ on loopback: login, orders and fills between two
//! sessions, bad frames answered with reason codes, the throttle, and a restart that
//! recovers from the journal.

mod common;

use std::time::Duration;

use bourse_core::{CancelReason, Price, Qty, RejectReason, Side};
use bourse_gateway::protocol::{ClientMsg, Liquidity, ServerMsg};
use common::{Client, Gateway, SECRET_A, SECRET_B, Watchdog, limit, s};

#[test]
fn orders_trade_between_sessions_and_bad_input_gets_reason_codes() {
    let _watchdog = Watchdog::new(120, "the session test");
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path(), 0);
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
