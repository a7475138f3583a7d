//! # bourse-gateway-client
//!
//! How a service reaches the engine: one service session on the binary gateway
//! (`docs/protocol.md`, "Service sessions"), shared by every request of the process.
//! [`GatewayClient::request`] sends a [`ServiceMsg`] under a fresh request number and
//! resolves to every report the gateway sends about it, once the last one arrived —
//! which is only after the command is journaled and executed, so "accepted" means
//! durable.
//!
//! # Threads
//! A thread of its own owns the DEALER socket (ZeroMQ sockets are not shared). Callers
//! hand it frames through an in-process PUSH socket it polls together with the DEALER,
//! so a request leaves without waiting for a poll timeout; answers go back through
//! one-shot channels. Nothing is sent twice: a request whose outcome is unknown (the
//! gateway restarted, or no answer in time) fails with [`ClientError::Unknown`] and the
//! caller decides (an order can be looked up by its client order id).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bourse_core::{FixedStr, RejectReason};
use bourse_gateway::protocol::{
    ClientMsg, ForRequest, Report, ServerMsg, ServiceMsg, decode_report, encode_client,
};
use tokio::sync::oneshot;

/// Why a request has no verdict.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// The gateway refused the service key.
    #[error("the gateway refused the service key: {0:?}")]
    Login(RejectReason),
    /// ZeroMQ failed.
    #[error("gateway connection: {0}")]
    Zmq(String),
    /// The request may or may not have been executed (the gateway restarted, or did
    /// not answer in time).
    #[error("no answer from the gateway: the outcome is unknown")]
    Unknown,
    /// The client's thread is gone.
    #[error("the gateway client stopped")]
    Stopped,
}

impl From<zmq::Error> for ClientError {
    fn from(e: zmq::Error) -> Self {
        ClientError::Zmq(e.to_string())
    }
}

type Pending = Arc<Mutex<HashMap<u64, (Vec<ForRequest>, oneshot::Sender<Vec<ForRequest>>)>>>;

/// A service session, cheap to clone and share.
#[derive(Clone)]
pub struct GatewayClient {
    next: Arc<AtomicU64>,
    pending: Pending,
    push: Arc<Mutex<zmq::Socket>>,
    timeout: Duration,
    _ctx: zmq::Context,
}

impl std::fmt::Debug for GatewayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn login_frame(key_id: FixedStr, secret: [u8; 32]) -> Vec<u8> {
    let mut b = Vec::new();
    encode_client(&ClientMsg::Login { key_id, secret }, &mut b);
    b
}

/// Waits for the answer to a login on `socket`.
fn await_login(socket: &zmq::Socket) -> Result<(), ClientError> {
    if socket.poll(zmq::POLLIN, 10_000)? == 0 {
        return Err(ClientError::Unknown);
    }
    match decode_report(&socket.recv_bytes(0)?) {
        Ok(Report::Direct(ServerMsg::LoginAccepted { .. })) => Ok(()),
        Ok(Report::Direct(ServerMsg::LoginRejected { reason })) => Err(ClientError::Login(reason)),
        _ => Err(ClientError::Login(RejectReason::Malformed)),
    }
}

impl GatewayClient {
    /// Connects to `endpoint` and logs in with the service key (blocking, up to 10 s);
    /// requests wait at most `timeout` for their verdict.
    pub fn connect(
        endpoint: &str,
        key_id: &str,
        secret: [u8; 32],
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let key_id =
            FixedStr::new(key_id).map_err(|_| ClientError::Login(RejectReason::BadCredentials))?;
        let ctx = zmq::Context::new();
        let dealer = ctx.socket(zmq::DEALER)?;
        dealer.set_linger(0)?;
        dealer.connect(endpoint)?;
        dealer.send(login_frame(key_id, secret), 0)?;
        await_login(&dealer)?;
        let inproc = format!(
            "inproc://gateway-client-{}",
            NEXT_PIPE.fetch_add(1, Ordering::Relaxed)
        );
        let pull = ctx.socket(zmq::PULL)?;
        pull.bind(&inproc)?;
        let push = ctx.socket(zmq::PUSH)?;
        push.connect(&inproc)?;
        let pending: Pending = Arc::default();
        let thread_pending = pending.clone();
        std::thread::Builder::new()
            .name("gateway-client".into())
            .spawn(move || run(dealer, pull, thread_pending, key_id, secret))
            .map_err(|e| ClientError::Zmq(e.to_string()))?;
        Ok(GatewayClient {
            next: Arc::new(AtomicU64::new(1)),
            pending,
            push: Arc::new(Mutex::new(push)),
            timeout,
            _ctx: ctx,
        })
    }

    /// Sends `msg` (its request number is replaced by a fresh one) and returns every
    /// report about it, the last one last.
    pub async fn request(&self, msg: ServiceMsg) -> Result<Vec<ForRequest>, ClientError> {
        let request = self.next.fetch_add(1, Ordering::Relaxed);
        let mut frame = Vec::with_capacity(72);
        encode_client(&ClientMsg::Service(msg.with_request(request)), &mut frame);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(request, (Vec::new(), tx));
        let sent = self
            .push
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(frame, 0);
        if let Err(e) = sent {
            self.forget(request);
            return Err(e.into());
        }
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(reports)) => Ok(reports),
            Ok(Err(_)) => Err(ClientError::Unknown),
            Err(_) => {
                self.forget(request);
                Err(ClientError::Unknown)
            }
        }
    }

    fn forget(&self, request: u64) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&request);
    }
}

static NEXT_PIPE: AtomicU64 = AtomicU64::new(0);

/// The client's thread: frames from callers go out on the DEALER; envelopes coming
/// back complete their requests. A plain `not_logged_in` means the gateway restarted:
/// log in again, and fail what was in flight (its outcome is unknown).
fn run(
    dealer: zmq::Socket,
    pull: zmq::Socket,
    pending: Pending,
    key_id: FixedStr,
    secret: [u8; 32],
) {
    loop {
        let mut items = [
            dealer.as_poll_item(zmq::POLLIN),
            pull.as_poll_item(zmq::POLLIN),
        ];
        if zmq::poll(&mut items, 1_000).is_err() {
            return;
        }
        let (from_gateway, from_callers) = (items[0].is_readable(), items[1].is_readable());
        // Every frame callers queued goes out before the answers are read.
        if from_callers {
            loop {
                match pull.recv_bytes(zmq::DONTWAIT) {
                    Ok(frame) => {
                        if dealer.send(frame, 0).is_err() {
                            return;
                        }
                    }
                    Err(zmq::Error::EAGAIN) => break,
                    Err(_) => return,
                }
            }
        }
        if !from_gateway {
            continue;
        }
        loop {
            let frame = match dealer.recv_bytes(zmq::DONTWAIT) {
                Ok(f) => f,
                Err(zmq::Error::EAGAIN) => break,
                Err(_) => return,
            };
            match decode_report(&frame) {
                Ok(Report::For(r)) => {
                    let mut map = pending.lock().unwrap_or_else(|e| e.into_inner());
                    if r.last {
                        if let Some((mut reports, tx)) = map.remove(&r.request) {
                            reports.push(r);
                            let _ = tx.send(reports);
                        }
                    } else if let Some((reports, _)) = map.get_mut(&r.request) {
                        reports.push(r);
                    }
                }
                Ok(Report::Direct(ServerMsg::Rejected {
                    reason: RejectReason::NotLoggedIn,
                    ..
                })) => {
                    // Dropping the senders fails every request in flight as unknown.
                    pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
                    if dealer.send(login_frame(key_id, secret), 0).is_err() {
                        return;
                    }
                }
                // Login answers, heartbeats: nothing to do.
                _ => {}
            }
        }
    }
}

/// How a service finds the gateway (`#[command(flatten)]` into its arguments).
#[derive(clap::Args, Debug, Clone)]
pub struct GatewayArgs {
    /// The binary gateway (its service sessions reach the engine). Without it, the
    /// service runs without engine access (engine-facing routes answer 503).
    #[arg(long = "gateway", env = "BOURSE_GATEWAY")]
    pub endpoint: Option<String>,
    /// The service key's id (a `service` key in the gateway's key file).
    #[arg(long, env = "BOURSE_SERVICE_KEY_ID", default_value = "service")]
    pub service_key_id: String,
    /// The service key's secret: 32 characters.
    #[arg(long, env = "BOURSE_SERVICE_SECRET", hide_env_values = true)]
    pub service_secret: Option<String>,
    /// Milliseconds to wait for the engine's verdict.
    #[arg(long, env = "BOURSE_GATEWAY_TIMEOUT_MS", default_value_t = 5_000)]
    pub gateway_timeout_ms: u64,
}

impl GatewayArgs {
    /// Connects if a gateway is configured.
    pub fn connect(&self) -> Result<Option<GatewayClient>, ClientError> {
        let Some(endpoint) = &self.endpoint else {
            return Ok(None);
        };
        let secret = self
            .service_secret
            .as_deref()
            .and_then(|s| <[u8; 32]>::try_from(s.as_bytes()).ok())
            .ok_or(ClientError::Login(RejectReason::BadCredentials))?;
        GatewayClient::connect(
            endpoint,
            &self.service_key_id,
            secret,
            Duration::from_millis(self.gateway_timeout_ms),
        )
        .map(Some)
    }
}

/// The verdict of a request, read from its reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The engine did it (its first event's sequence number).
    Done(u64),
    /// The engine or the gateway refused it.
    Refused(RejectReason),
}

/// The verdict in `reports`: refused if any report is a rejection, else done.
pub fn verdict(reports: &[ForRequest]) -> Verdict {
    for r in reports {
        if let ServerMsg::Rejected { reason, .. } = r.msg {
            return Verdict::Refused(reason);
        }
    }
    let seq = reports.first().map_or(0, |r| match r.msg {
        ServerMsg::Accepted { seq, .. }
        | ServerMsg::Canceled { seq, .. }
        | ServerMsg::Replaced { seq, .. }
        | ServerMsg::Done { seq, .. } => seq,
        ServerMsg::Executed { exec_id, .. } => exec_id,
        _ => 0,
    });
    Verdict::Done(seq)
}
