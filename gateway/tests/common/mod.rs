//! Helpers shared by the gateway's integration tests: a gateway on a free loopback
//! port in a thread, and a DEALER client.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use bourse_core::{
    Asset, Command, FixedStr, OrderType, Price, Qty, Side, SymbolId, TimeInForce, UserId,
};
use bourse_gateway::keys::KeyStore;
use bourse_gateway::protocol::{
    ClientMsg, EnterOrder, ForRequest, Report, ServerMsg, decode_report, decode_server,
    encode_client,
};
use bourse_gateway::server::{GatewayConfig, run};

pub fn s(v: &str) -> FixedStr {
    FixedStr::new(v).unwrap()
}

/// A GTC limit order for ACME, the bootstrapped instrument.
pub fn limit(token: &str, side: Side, price: i64, qty: i64) -> EnterOrder {
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

pub const SECRET_A: [u8; 32] = [1; 32];
pub const SECRET_B: [u8; 32] = [2; 32];
/// The service key `svc` (user 0).
pub const SECRET_SVC: [u8; 32] = [3; 32];

pub struct Gateway {
    pub endpoint: String,
    pub feed: Option<String>,
    pub recovered: u64,
    pub metrics: Arc<bourse_gateway::metrics::GatewayMetrics>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Gateway {
    pub fn start(dir: &std::path::Path, throttle: u32) -> Gateway {
        Gateway::start_with(dir, throttle, false)
    }

    /// With `feed`, market data is published on a free port too.
    pub fn start_with(dir: &std::path::Path, throttle: u32, feed: bool) -> Gateway {
        Gateway::start_configured(dir, throttle, |c| {
            if feed {
                c.feed = Some("tcp://127.0.0.1:*".into());
            }
        })
    }

    /// As [`Gateway::start`], with `configure` changing the configuration last.
    pub fn start_configured(
        dir: &std::path::Path,
        throttle: u32,
        configure: impl FnOnce(&mut GatewayConfig),
    ) -> Gateway {
        let mut keys = KeyStore::default();
        keys.insert(s("key-a"), UserId(1), &SECRET_A);
        keys.insert(s("key-b"), UserId(2), &SECRET_B);
        keys.insert_service(s("svc"), UserId(0), &SECRET_SVC);
        let mut config = GatewayConfig::new(dir, keys);
        config.bind = "tcp://127.0.0.1:*".into();
        config.throttle = throttle;
        config.ring_size = 1024;
        // Small preallocated segments: the tests' traffic fills several.
        config.segment_bytes = 64 << 10;
        config.bootstrap = vec![
            Command::AddInstrument {
                symbol: s("ACME"),
                tick: Price(1),
                lot: Qty(1),
            },
            Command::AddUser { user: UserId(1) },
            Command::AddUser { user: UserId(2) },
            Command::Deposit {
                user: UserId(1),
                asset: Asset::Shares(SymbolId(0)),
                amount: 1_000,
            },
            Command::Deposit {
                user: UserId(2),
                asset: Asset::Cash,
                amount: 1_000_000,
            },
        ];
        configure(&mut config);
        let metrics = config.metrics.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            run(config, flag, |ready| {
                let _ = tx.send(ready);
            })
            .expect("gateway runs");
        });
        let ready = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("gateway ready");
        Gateway {
            endpoint: ready.endpoint,
            feed: ready.feed_endpoint,
            recovered: ready.recovered_seq,
            metrics,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub struct Client {
    socket: zmq::Socket,
    _ctx: zmq::Context,
}

impl Client {
    pub fn connect(endpoint: &str) -> Client {
        let ctx = zmq::Context::new();
        let socket = ctx.socket(zmq::DEALER).unwrap();
        socket.set_linger(0).unwrap();
        socket.connect(endpoint).unwrap();
        Client { socket, _ctx: ctx }
    }
    pub fn raw(&self, bytes: &[u8]) {
        self.socket.send(bytes, 0).unwrap();
    }
    pub fn send(&self, m: &ClientMsg) {
        let mut b = Vec::new();
        encode_client(m, &mut b);
        self.raw(&b);
    }
    pub fn recv(&self) -> ServerMsg {
        assert!(
            self.socket.poll(zmq::POLLIN, 10_000).unwrap() > 0,
            "no reply within 10 s"
        );
        let frame = self.socket.recv_bytes(0).unwrap();
        decode_server(&frame).expect("gateway frames decode")
    }
    pub fn login(&self, key: &str, secret: [u8; 32]) -> ServerMsg {
        self.send(&ClientMsg::Login {
            key_id: s(key),
            secret,
        });
        self.recv()
    }
}

impl Client {
    /// The next frame, which must be a service report's envelope.
    pub fn recv_for(&self) -> ForRequest {
        assert!(
            self.socket.poll(zmq::POLLIN, 10_000).unwrap() > 0,
            "no reply within 10 s"
        );
        match decode_report(&self.socket.recv_bytes(0).unwrap()).expect("decodes") {
            Report::For(r) => r,
            Report::Direct(m) => panic!("expected a FOR envelope, got {m:?}"),
        }
    }

    /// A report if one arrives within `ms` milliseconds.
    pub fn try_recv(&self, ms: i64) -> Option<ServerMsg> {
        if self.socket.poll(zmq::POLLIN, ms).ok()? == 0 {
            return None;
        }
        decode_server(&self.socket.recv_bytes(0).ok()?).ok()
    }
}

/// Aborts the test process if dropped later than `secs` from now: a hung gateway fails
/// the run instead of stalling CI.
pub struct Watchdog(Arc<AtomicBool>);

impl Watchdog {
    pub fn new(secs: u64, what: &'static str) -> Watchdog {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        std::thread::spawn(move || {
            let t0 = std::time::Instant::now();
            while t0.elapsed() < Duration::from_secs(secs) {
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            eprintln!("watchdog: {what} did not finish within {secs} s");
            std::process::abort();
        });
        Watchdog(done)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
