//! `bourse loadgen --demo`: the demo's own load — four market makers moving six quotes
//! at a time, two takers — measured against the gateway and against a floor, in the
//! same command, alternately.
//!
//! The floor is what the demo's round trip costs without an exchange behind it: the
//! same participants, threads and sockets, answered at once by a ZeroMQ ROUTER that
//! speaks the protocol ([`answer`]: `Accepted` for an order, `Replaced` for a replace,
//! and so on) but journals and matches nothing. The load generator's echo floor is a
//! different client (one pinned thread, orders evenly spaced); this one is the demo's,
//! so the goal the gateway is held to — round trip p50 within the floor's p50 + the
//! journal's `fdatasync` p50 + 50 µs — can be read for the demo's status line too.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use bourse_core::{CancelReason, TimeInForce};
use bourse_gateway::metrics::GatewayMetrics;
use bourse_gateway::protocol::{ClientMsg, ServerMsg, decode_client, encode_server};
use bourse_gateway::server::{GatewayConfig, spawn};
use hdrhistogram::Histogram;

use crate::demo::{self, Inside, Window};

/// Seconds of each run left out of its figures: logins, the books filling up.
const WARM_UP: Duration = Duration::from_secs(2);

/// One run's figures.
struct Figures {
    round_trips: Histogram<u64>,
    /// The gateway's own share (arrival to last report) and its syncs; none for the
    /// floor.
    inside: Option<Window>,
    rejects: u64,
}

/// Runs `reps` pairs of (floor, gateway), each `seconds` long, and prints a table.
pub(crate) fn run_pairs(seconds: u64, reps: usize) -> anyhow::Result<()> {
    let seconds = Duration::from_secs(seconds.max(3));
    println!(
        "The demo's load (4 makers quoting six at a time every {} ms, 2 takers; \
         ~4,500 orders/s), {} s a run after {} s of warm-up, everything unpinned as \
         under `bourse serve --demo`. Floor: the same clients answered at once by a \
         ROUTER speaking the protocol (no journal, no engine).\n",
        demo::PACE.as_millis(),
        seconds.as_secs(),
        WARM_UP.as_secs()
    );
    println!(
        "| pair | floor p50 | floor p99 | gateway p50 | gateway p99 | inside p50 | fsync p50 | fsync p99.9 | goal: p50 ≤ floor p50 + fsync p50 + 50 µs | goal: p99 ≤ floor p99 + fsync p99.9 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for pair in 1..=reps {
        let floor = floor_run(seconds)?;
        let gateway = gateway_run(seconds)?;
        let Window {
            reported: inside,
            fsync,
            ..
        } = gateway.inside.clone().unwrap_or_default();
        let at = |h: &Histogram<u64>, q| h.value_at_quantile(q) as f64;
        let (p50, p99) = (
            at(&gateway.round_trips, 0.5),
            at(&gateway.round_trips, 0.99),
        );
        let (floor_p50, floor_p99) = (at(&floor.round_trips, 0.5), at(&floor.round_trips, 0.99));
        let (fsync_p50, fsync_p999) = (fsync.quantile(0.5) / 1e3, fsync.quantile(0.999) / 1e3);
        let goal50 = floor_p50 + fsync_p50 + 50.0;
        let goal99 = floor_p99 + fsync_p999;
        let verdict = |got: f64, goal: f64| if got <= goal { "met" } else { "missed" };
        println!(
            "| {pair} | {floor_p50} µs | {floor_p99} µs | **{p50} µs** | **{p99} µs** | {:.0} µs | {fsync_p50:.0} µs | {fsync_p999:.0} µs | {goal50:.0} µs: {} | {goal99:.0} µs: {} |",
            inside.quantile(0.5) / 1e3,
            verdict(p50, goal50),
            verdict(p99, goal99),
        );
        let rejects = floor.rejects + gateway.rejects;
        if rejects > 0 {
            println!("(pair {pair}: {rejects} orders refused; the figures are suspect)");
        }
    }
    Ok(())
}

/// The participants against `endpoint` for `seconds` after the warm-up, with what the
/// gateway recorded meanwhile if its metrics are given.
fn measure(
    endpoint: String,
    feed: Option<String>,
    seconds: Duration,
    gateway: Option<Arc<GatewayMetrics>>,
) -> Figures {
    let stop = Arc::new(AtomicBool::new(false));
    let crowd = demo::launch(
        endpoint,
        feed,
        demo::engine_participants(),
        demo::PACE,
        stop.clone(),
    );
    std::thread::sleep(WARM_UP);
    crowd.take_round_trips();
    let mut inside = gateway.map(Inside::new);
    std::thread::sleep(seconds);
    let figures = Figures {
        round_trips: crowd.take_round_trips(),
        inside: inside.as_mut().map(Inside::take),
        rejects: crowd.rejects(),
    };
    stop.store(true, Ordering::Relaxed);
    crowd.join();
    figures
}

/// The demo's clients against the protocol-speaking floor.
fn floor_run(seconds: Duration) -> anyhow::Result<Figures> {
    let ctx = zmq::Context::new();
    let server = ctx.socket(zmq::ROUTER)?;
    server.set_linger(0)?;
    server.bind("tcp://127.0.0.1:*")?;
    let endpoint = server
        .get_last_endpoint()?
        .map_err(|_| anyhow::anyhow!("the floor's endpoint"))?;
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let serving = std::thread::spawn(move || serve_floor(&server, &flag));
    let figures = measure(endpoint, None, seconds, None);
    done.store(true, Ordering::Relaxed);
    serving
        .join()
        .map_err(|_| anyhow::anyhow!("the floor's thread panicked"))??;
    Ok(figures)
}

/// Answers every frame at once until `done`.
fn serve_floor(server: &zmq::Socket, done: &AtomicBool) -> anyhow::Result<()> {
    let mut out = Vec::with_capacity(128);
    let mut seq = 0u64;
    while !done.load(Ordering::Relaxed) {
        if server.poll(zmq::POLLIN, 50)? == 0 {
            continue;
        }
        while let Ok(parts) = server.recv_multipart(zmq::DONTWAIT) {
            let [identity, body] = parts.as_slice() else {
                continue;
            };
            let Ok(msg) = decode_client(body) else {
                continue;
            };
            for reply in answer(&msg, &mut seq).into_iter().flatten() {
                out.clear();
                encode_server(&reply, &mut out);
                server.send_multipart([identity.as_slice(), out.as_slice()], zmq::DONTWAIT)?;
            }
        }
    }
    Ok(())
}

/// What the floor answers: what the gateway would for an order that rests (or, for an
/// immediate-or-cancel order, finds nothing to take), without deciding anything.
fn answer(msg: &ClientMsg, seq: &mut u64) -> [Option<ServerMsg>; 2] {
    *seq += 1;
    let seq = *seq;
    match *msg {
        ClientMsg::Login { .. } => [Some(ServerMsg::LoginAccepted { user: 0 }), None],
        ClientMsg::Enter(order) => [
            Some(ServerMsg::Accepted { order, seq }),
            (order.tif == TimeInForce::Ioc).then_some(ServerMsg::Canceled {
                token: order.token,
                qty: order.qty,
                reason: CancelReason::Ioc,
                seq,
            }),
        ],
        ClientMsg::Replace {
            token,
            new_token,
            price,
            qty,
        } => [
            Some(ServerMsg::Replaced {
                token,
                new_token,
                price,
                qty,
                seq,
            }),
            None,
        ],
        ClientMsg::Cancel { token } => [
            Some(ServerMsg::Canceled {
                token,
                qty: bourse_core::Qty(0),
                reason: CancelReason::User,
                seq,
            }),
            None,
        ],
        _ => [None, None],
    }
}

/// The demo's clients against the gateway as `bourse serve --demo` runs it (journal in
/// a temporary directory, market data on, the feed's depth replica following it).
fn gateway_run(seconds: Duration) -> anyhow::Result<Figures> {
    let dir = tempfile::tempdir().context("temp data dir")?;
    let mut config = GatewayConfig::new(dir.path(), demo::keys());
    config.bind = "tcp://127.0.0.1:*".into();
    config.feed = Some("tcp://127.0.0.1:*".into());
    config.bootstrap = demo::bootstrap();
    config.engine = crate::serve_cmd::engine_config();
    let metrics: Arc<GatewayMetrics> = config.metrics.clone();
    let gateway = spawn(config).context("starting the gateway")?;
    let (endpoint, feed) = (
        gateway.ready.endpoint.clone(),
        gateway.ready.feed_endpoint.clone(),
    );
    let figures = measure(endpoint, feed, seconds, Some(metrics));
    gateway.stop()?;
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bourse_core::{OrderType, Price, Qty, Side};
    use bourse_gateway::protocol::EnterOrder;

    fn order(tif: TimeInForce) -> EnterOrder {
        EnterOrder {
            token: bourse_core::FixedStr::new("t1").unwrap(),
            symbol: bourse_core::FixedStr::new("ACME").unwrap(),
            side: Side::Buy,
            order_type: OrderType::Limit,
            tif,
            post_only: false,
            price: Price(100),
            qty: Qty(5),
        }
    }

    #[test]
    fn the_floor_answers_as_the_gateway_would_an_order_that_rests_or_finds_nothing() {
        let mut seq = 0;
        let gtc = order(TimeInForce::Gtc);
        assert_eq!(
            answer(&ClientMsg::Enter(gtc), &mut seq),
            [Some(ServerMsg::Accepted { order: gtc, seq: 1 }), None]
        );
        let ioc = order(TimeInForce::Ioc);
        let [accepted, canceled] = answer(&ClientMsg::Enter(ioc), &mut seq);
        assert_eq!(accepted, Some(ServerMsg::Accepted { order: ioc, seq: 2 }));
        assert!(matches!(
            canceled,
            Some(ServerMsg::Canceled {
                qty: Qty(5),
                reason: CancelReason::Ioc,
                ..
            })
        ));
        assert_eq!(answer(&ClientMsg::Heartbeat, &mut seq), [None, None]);
    }
}
