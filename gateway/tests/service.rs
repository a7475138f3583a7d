//! Service sessions over loopback: a service key acts for any user and runs admin
//! commands through the journaled pipeline; every report about a request comes back in
//! its envelope with the request number, the last one marked; ordinary keys are refused;
//! what a service did survives a restart.

mod common;

use bourse_core::{AdminOp, Price, Qty, RejectReason, Side, UserId};
use bourse_gateway::protocol::{ClientMsg, ForRequest, Liquidity, ServerMsg, ServiceMsg, kind};
use common::{Client, Gateway, SECRET_A, SECRET_SVC, Watchdog, limit, s};

fn service(gw: &Gateway) -> Client {
    let c = Client::connect(&gw.endpoint);
    assert_eq!(
        c.login("svc", SECRET_SVC),
        ServerMsg::LoginAccepted { user: 0 }
    );
    c
}

fn done(request: u64, op: AdminOp, user: u64, r: ForRequest) {
    assert_eq!((r.request, r.user, r.last), (request, user, true), "{r:?}");
    assert!(
        matches!(r.msg, ServerMsg::Done { op: o, user: u, seq } if o == op && u == user && seq > 0),
        "{r:?}"
    );
}

#[test]
fn a_service_opens_funds_and_trades_for_users_and_hears_each_request_back() {
    let _w = Watchdog::new(60, "service session test");
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path(), 0);
    let svc = service(&gw);

    // Admin commands: an account, cash, a new instrument, shares of it.
    svc.send(&ClientMsg::Service(ServiceMsg::AddUser {
        request: 1,
        user: UserId(10),
    }));
    done(1, AdminOp::AddUser, 10, svc.recv_for());
    svc.send(&ClientMsg::Service(ServiceMsg::Deposit {
        request: 2,
        user: UserId(10),
        asset: s("USD"),
        amount: 100_000,
    }));
    done(2, AdminOp::Deposit, 10, svc.recv_for());
    svc.send(&ClientMsg::Service(ServiceMsg::AddInstrument {
        request: 3,
        symbol: s("BETA"),
        tick: Price(1),
        lot: Qty(1),
    }));
    done(3, AdminOp::AddInstrument, 0, svc.recv_for());
    svc.send(&ClientMsg::Service(ServiceMsg::Deposit {
        request: 4,
        user: UserId(10),
        asset: s("BETA"),
        amount: 50,
    }));
    done(4, AdminOp::Deposit, 10, svc.recv_for());

    // An order on the new instrument, for user 10: accepted, in request 5's envelope.
    let mut sell = limit("s1", Side::Sell, 120, 10);
    sell.symbol = s("BETA");
    svc.send(&ClientMsg::Service(ServiceMsg::EnterFor {
        request: 5,
        user: UserId(10),
        order: sell,
    }));
    let r = svc.recv_for();
    assert_eq!((r.request, r.user, r.last), (5, 10, true));
    assert!(
        matches!(r.msg, ServerMsg::Accepted { order, .. } if order == sell),
        "{r:?}"
    );

    // User 1 rests ACME on their own session; the service buys it for user 10: accepted,
    // then the fill, the last marked; user 1 hears the fill on their own session.
    let maker = Client::connect(&gw.endpoint);
    assert_eq!(
        maker.login("key-a", SECRET_A),
        ServerMsg::LoginAccepted { user: 1 }
    );
    maker.send(&ClientMsg::Enter(limit("m1", Side::Sell, 100, 5)));
    assert!(matches!(maker.recv(), ServerMsg::Accepted { .. }));
    svc.send(&ClientMsg::Service(ServiceMsg::EnterFor {
        request: 6,
        user: UserId(10),
        order: limit("b1", Side::Buy, 100, 5),
    }));
    let accepted = svc.recv_for();
    assert_eq!((accepted.request, accepted.last), (6, false));
    assert!(matches!(accepted.msg, ServerMsg::Accepted { .. }));
    let fill = svc.recv_for();
    assert_eq!((fill.request, fill.user, fill.last), (6, 10, true));
    assert!(
        matches!(
            fill.msg,
            ServerMsg::Executed { token, price: Price(100), qty: Qty(5), leaves: Qty(0), liquidity: Liquidity::Removed, .. }
                if token == s("b1")
        ),
        "{fill:?}"
    );
    assert!(matches!(
        maker.recv(),
        ServerMsg::Executed {
            liquidity: Liquidity::Added,
            ..
        }
    ));

    // Cancel and replace for the user.
    svc.send(&ClientMsg::Service(ServiceMsg::ReplaceFor {
        request: 7,
        user: UserId(10),
        token: s("s1"),
        new_token: s("s2"),
        price: Price(125),
        qty: Qty(8),
    }));
    let r = svc.recv_for();
    assert_eq!((r.request, r.last), (7, true));
    assert!(
        matches!(r.msg, ServerMsg::Replaced { new_token, .. } if new_token == s("s2")),
        "{r:?}"
    );
    svc.send(&ClientMsg::Service(ServiceMsg::CancelFor {
        request: 8,
        user: UserId(10),
        token: s("s2"),
    }));
    let r = svc.recv_for();
    assert_eq!((r.request, r.last), (8, true));
    assert!(
        matches!(r.msg, ServerMsg::Canceled { qty: Qty(8), .. }),
        "{r:?}"
    );

    // The engine's refusals come back in the envelope too, with their sequence number.
    svc.send(&ClientMsg::Service(ServiceMsg::Withdraw {
        request: 9,
        user: UserId(10),
        asset: s("USD"),
        amount: 10_000_000,
    }));
    let r = svc.recv_for();
    assert_eq!((r.request, r.user, r.last), (9, 10, true));
    assert!(
        matches!(r.msg, ServerMsg::Rejected { reason: RejectReason::InsufficientFunds, seq, .. } if seq > 0),
        "{r:?}"
    );
    // ... and the gateway's, for a frame it cannot read, with the request number.
    let mut bad = Vec::new();
    bourse_gateway::protocol::encode_client(
        &ClientMsg::Service(ServiceMsg::EnterFor {
            request: 10,
            user: UserId(10),
            order: limit("b2", Side::Buy, 100, 1),
        }),
        &mut bad,
    );
    assert_eq!(bad[1], kind::ENTER_FOR);
    bad[20 + 32] = b'Q'; // the side byte
    svc.raw(&bad);
    let r = svc.recv_for();
    assert_eq!((r.request, r.last), (10, true));
    assert!(
        matches!(
            r.msg,
            ServerMsg::Rejected {
                reason: RejectReason::Malformed,
                seq: 0,
                ..
            }
        ),
        "{r:?}"
    );
    drop(gw);

    // Journaled: after a restart user 10 and BETA exist, and the service goes on.
    let gw = Gateway::start(dir.path(), 0);
    let svc = service(&gw);
    let mut again = limit("s3", Side::Sell, 130, 1);
    again.symbol = s("BETA");
    svc.send(&ClientMsg::Service(ServiceMsg::EnterFor {
        request: 11,
        user: UserId(10),
        order: again,
    }));
    let r = svc.recv_for();
    assert!(matches!(r.msg, ServerMsg::Accepted { .. }), "{r:?}");
}

#[test]
fn an_ordinary_key_cannot_act_for_others_or_run_admin_commands() {
    let _w = Watchdog::new(30, "not privileged test");
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path(), 0);
    let c = Client::connect(&gw.endpoint);
    // Not even logged in: not_logged_in.
    c.send(&ClientMsg::Service(ServiceMsg::AddUser {
        request: 1,
        user: UserId(77),
    }));
    assert!(matches!(
        c.recv(),
        ServerMsg::Rejected {
            reason: RejectReason::NotLoggedIn,
            seq: 0,
            ..
        }
    ));
    assert_eq!(
        c.login("key-a", SECRET_A),
        ServerMsg::LoginAccepted { user: 1 }
    );
    for m in [
        ServiceMsg::AddUser {
            request: 2,
            user: UserId(77),
        },
        ServiceMsg::Deposit {
            request: 3,
            user: UserId(1),
            asset: s("USD"),
            amount: 1_000_000,
        },
        ServiceMsg::EnterFor {
            request: 4,
            user: UserId(2),
            order: limit("x1", Side::Buy, 100, 1),
        },
        ServiceMsg::CancelFor {
            request: 5,
            user: UserId(2),
            token: s("x1"),
        },
    ] {
        c.send(&ClientMsg::Service(m));
        match c.recv() {
            ServerMsg::Rejected {
                reason: RejectReason::NotPrivileged,
                seq: 0,
                ..
            } => {}
            other => panic!("{m:?} from an ordinary key: {other:?}"),
        }
    }
}

#[test]
fn a_service_ends_the_day_and_only_day_orders_expire() {
    use bourse_core::{CancelReason, TimeInForce};
    let _w = Watchdog::new(60, "end of day test");
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path(), 0);
    let svc = service(&gw);
    let a = Client::connect(&gw.endpoint);
    a.login("key-a", SECRET_A);
    let day = bourse_gateway::protocol::EnterOrder {
        tif: TimeInForce::Day,
        ..limit("day1", Side::Sell, 150, 3)
    };
    a.send(&ClientMsg::Enter(day));
    assert!(matches!(a.recv(), ServerMsg::Accepted { .. }));
    a.send(&ClientMsg::Enter(limit("gtc1", Side::Sell, 151, 4)));
    assert!(matches!(a.recv(), ServerMsg::Accepted { .. }));

    svc.send(&ClientMsg::Service(ServiceMsg::EndOfDay { request: 9 }));
    // The owner hears its DAY order expire.
    assert!(
        matches!(
            a.recv(),
            ServerMsg::Canceled { token, qty: Qty(3), reason: CancelReason::Expired, .. }
                if token == s("day1")
        ),
        "the day order expired"
    );
    // The service hears every event of its request, the last one `Done`.
    let mut last = svc.recv_for();
    while !last.last {
        assert!(matches!(last.msg, ServerMsg::Canceled { .. }), "{last:?}");
        last = svc.recv_for();
    }
    done(9, AdminOp::EndOfDay, 0, last);
    // The GTC order is still there.
    a.send(&ClientMsg::Cancel { token: s("gtc1") });
    assert!(matches!(
        a.recv(),
        ServerMsg::Canceled {
            qty: Qty(4),
            reason: CancelReason::User,
            ..
        }
    ));
    // An ordinary key may not end the day.
    a.send(&ClientMsg::Service(ServiceMsg::EndOfDay { request: 1 }));
    assert!(matches!(
        a.recv(),
        ServerMsg::Rejected {
            reason: RejectReason::NotPrivileged,
            ..
        }
    ));
}

/// An end of day whose events overflow the output ring (1,024 slots in the tests)
/// reaches every owner and the service, in full and in order — whether the I/O thread
/// runs it itself (it must then drain the ring it is filling) or hands it to the engine
/// thread.
#[test]
fn an_end_of_day_larger_than_the_output_ring_reaches_everyone_on_either_path() {
    for inline_batch in [bourse_gateway::server::INLINE_BATCH, 0] {
        end_of_day_overflowing_the_output_ring(inline_batch);
    }
}

fn end_of_day_overflowing_the_output_ring(inline_batch: usize) {
    use bourse_core::{CancelReason, TimeInForce};
    use common::SECRET_B;
    const ORDERS: usize = 1_500;
    let _w = Watchdog::new(120, "the large end of day");
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_configured(dir.path(), 0, |c| c.inline_batch = inline_batch);
    let svc = service(&gw);
    let b = Client::connect(&gw.endpoint);
    b.login("key-b", SECRET_B);
    for i in 0..ORDERS {
        b.send(&ClientMsg::Enter(bourse_gateway::protocol::EnterOrder {
            tif: TimeInForce::Day,
            ..limit(&format!("d{i}"), Side::Buy, 1, 1)
        }));
    }
    for _ in 0..ORDERS {
        assert!(matches!(b.recv(), ServerMsg::Accepted { .. }));
    }
    // The burst raised the gateway's load average (commands per sync): light traffic,
    // one command at a time, brings it back to running commands on the I/O thread.
    let before = gw.metrics.inline();
    for _ in 0..200 {
        if inline_batch == 0 || gw.metrics.inline() > before {
            break;
        }
        b.send(&ClientMsg::Cancel { token: s("none") });
        assert!(matches!(b.recv(), ServerMsg::Rejected { .. }));
    }
    assert_eq!(gw.metrics.inline() > before, inline_batch > 0);
    let inline_before = gw.metrics.inline();
    svc.send(&ClientMsg::Service(ServiceMsg::EndOfDay { request: 7 }));
    for i in 0..ORDERS {
        let m = b.recv();
        assert!(
            matches!(m, ServerMsg::Canceled { token, reason: CancelReason::Expired, .. }
                if token == s(&format!("d{i}"))),
            "order {i} (inline_batch {inline_batch}): {m:?}"
        );
    }
    for i in 0..ORDERS {
        let r = svc.recv_for();
        assert!(
            !r.last && matches!(r.msg, ServerMsg::Canceled { .. }),
            "event {i}: {r:?}"
        );
    }
    done(7, AdminOp::EndOfDay, 0, svc.recv_for());
    // The end of day came alone to an idle pipeline: it ran on the I/O thread unless
    // that was turned off.
    let inline = gw.metrics.inline() - inline_before;
    assert_eq!(
        inline,
        u64::from(inline_batch > 0),
        "inline_batch {inline_batch}"
    );
}
