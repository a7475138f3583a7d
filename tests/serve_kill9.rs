//! `bourse serve` killed with SIGKILL under load, again and again on the same data
//! directory: after each restart every order whose `Accepted` reached the client is still
//! in the book (its cancel succeeds), and sequence numbers continue without a gap.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bourse_core::{CancelReason, FixedStr, OrderType, Price, Qty, Side, TimeInForce, UserId};
use bourse_gateway::keys::KeyStore;
use bourse_gateway::protocol::{ClientMsg, EnterOrder, ServerMsg, decode_server, encode_client};

const SECRET: [u8; 32] = [9; 32];

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Starts `bourse serve`; `inline_batch` is its `--inline-batch` (0: every batch
/// through the journal and engine threads; large: nearly every batch on the I/O thread).
fn start(dir: &Path, port: u16, inline_batch: usize) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bourse"))
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--bind")
        .arg(format!("tcp://127.0.0.1:{port}"))
        .arg("--keys")
        .arg(dir.join("keys.txt"))
        .arg("--bootstrap")
        .arg(dir.join("bootstrap.jsonl"))
        .args(["--throttle", "0", "--snapshot-every", "700"])
        .args(["--inline-batch", &inline_batch.to_string()])
        .args(["--feed", "tcp://127.0.0.1:*"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bourse serve");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let t0 = Instant::now();
    loop {
        let Some(line) = lines.next() else {
            panic!("bourse serve exited early: {:?}", child.wait());
        };
        let line = line.expect("read");
        eprintln!("serve: {line}");
        if line.contains("listening on") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "not ready");
    }
    // Keep draining stderr so the child never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    child
}

struct Client {
    socket: zmq::Socket,
    _ctx: zmq::Context,
}

impl Client {
    fn connect(port: u16) -> Client {
        let ctx = zmq::Context::new();
        let socket = ctx.socket(zmq::DEALER).expect("socket");
        socket.set_linger(0).expect("linger");
        socket
            .connect(&format!("tcp://127.0.0.1:{port}"))
            .expect("connect");
        let c = Client { socket, _ctx: ctx };
        c.send(&ClientMsg::Login {
            key_id: FixedStr::new("mm").expect("id"),
            secret: SECRET,
        });
        assert_eq!(c.recv(5_000), Some(ServerMsg::LoginAccepted { user: 1 }));
        c
    }
    fn send(&self, m: &ClientMsg) {
        let mut b = Vec::new();
        encode_client(m, &mut b);
        self.socket.send(&b[..], 0).expect("send");
    }
    fn recv(&self, timeout_ms: i64) -> Option<ServerMsg> {
        if self.socket.poll(zmq::POLLIN, timeout_ms).ok()? == 0 {
            return None;
        }
        let frame = self.socket.recv_bytes(0).ok()?;
        decode_server(&frame).ok()
    }
}

fn token(n: u64) -> FixedStr {
    FixedStr::new(&format!("k{n}")).expect("token")
}

#[test]
fn every_accepted_order_survives_kill_9_and_sequences_continue() {
    let dir = tempfile::tempdir().expect("tmp");
    let keys = KeyStore::line(&FixedStr::new("mm").expect("id"), UserId(1), &SECRET);
    std::fs::write(dir.path().join("keys.txt"), keys + "\n").expect("keys");
    std::fs::write(
        dir.path().join("bootstrap.jsonl"),
        concat!(
            "{\"op\":\"add_instrument\",\"symbol\":\"ACME\"}\n",
            "{\"op\":\"add_user\",\"user\":1}\n",
            "{\"op\":\"deposit\",\"user\":1,\"asset\":\"ACME\",\"amount\":100000000}\n",
        ),
    )
    .expect("bootstrap");
    let port = free_port();
    let mut next = 0u64;
    let mut max_seq_seen = 0u64;
    // Each round runs the gateway another way: small batches on the I/O thread (the
    // default), every batch through the stages, and (nearly) every batch on the I/O
    // thread, so that a kill lands in each path and a restart follows each.
    let default = bourse_gateway::server::INLINE_BATCH;
    for (round, inline_batch) in [(0u64, default), (1, 0), (2, 100_000)] {
        let mut child = start(dir.path(), port, inline_batch);
        let client = Client::connect(port);
        // Load: sells that all rest, pipelined without waiting for replies.
        let mut accepted = Vec::new();
        let target = 300 + round * 400;
        let mut sent = 0;
        let t0 = Instant::now();
        while (accepted.len() as u64) < target && t0.elapsed() < Duration::from_secs(30) {
            if sent < accepted.len() + 200 {
                next += 1;
                sent += 1;
                client.send(&ClientMsg::Enter(EnterOrder {
                    token: token(next),
                    symbol: FixedStr::new("ACME").expect("sym"),
                    side: Side::Sell,
                    order_type: OrderType::Limit,
                    tif: TimeInForce::Gtc,
                    post_only: false,
                    price: Price(1_000 + (next % 50) as i64),
                    qty: Qty(1),
                }));
            }
            while let Some(m) = client.recv(0) {
                if let ServerMsg::Accepted { order, seq } = m {
                    assert!(seq > max_seq_seen, "sequence numbers only rise");
                    max_seq_seen = seq;
                    accepted.push(order.token);
                }
            }
        }
        // SIGKILL with orders still in flight.
        child.kill().expect("kill -9");
        child.wait().expect("reap");
        while let Some(ServerMsg::Accepted { order, seq }) = client.recv(50) {
            max_seq_seen = max_seq_seen.max(seq);
            accepted.push(order.token);
        }
        drop(client);

        let mut child = start(dir.path(), port, inline_batch);
        let client = Client::connect(port);
        let mut seqs = Vec::new();
        for t in &accepted {
            client.send(&ClientMsg::Cancel { token: *t });
            match client.recv(10_000) {
                Some(ServerMsg::Canceled {
                    token,
                    reason: CancelReason::User,
                    seq,
                    ..
                }) if token == *t => seqs.push(seq),
                other => panic!("round {round}: accepted order {t} lost after kill -9: {other:?}"),
            }
        }
        assert!(
            seqs[0] > max_seq_seen,
            "round {round}: sequence restarted ({} after {max_seq_seen})",
            seqs[0]
        );
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "round {round}: a gap in sequence numbers"
        );
        max_seq_seen = *seqs.last().expect("cancels");
        child.kill().expect("kill -9");
        child.wait().expect("reap");
    }
}
