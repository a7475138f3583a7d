//! `GET /portfolio?userID=<id>`: the WebSocket, from the request to the last message.
//!
//! 1. Authenticated (access token or API key) before the upgrade; another user's id is
//!    a 404 and no credentials a 401, both as JSON, and no socket opens.
//! 2. Joining the hub reads the user's cash and holdings from PostgreSQL (once for all
//!    the user's sockets) and subscribes to exactly the symbols held.
//! 3. A `snapshot`, then an `update` whenever prices move — at most one message per
//!    socket per interval (100 ms by default): moves in between are coalesced into the
//!    next message, never queued.
//! 4. After settlement's `portfolio.changed`, a new `snapshot` with the new holdings.
//! 5. Whatever ends the socket drops its membership, and with it every subscription it
//!    held.
//!
//! A client that does not read cannot grow the server's memory (nothing queues: each
//! message is the latest state) nor hold anyone up (each socket is its own task): a
//! send that cannot complete within the send timeout closes the socket with code 1008
//! (`slow consumer`).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRef, State};
use axum::response::Response;
use bourse_shell::ApiError;
use bourse_shell::auth::{Auth, Principal};
use bourse_shell::extract::Query;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::time::{Instant, sleep_until, timeout};

use crate::PortfolioState;
use crate::hub::Member;
use crate::valuation::Kind;

/// How a socket paces and polices its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamConfig {
    /// At most one message per socket per this long.
    pub interval: Duration,
    /// A message the client has not taken within this long closes the socket (1008).
    pub send_timeout: Duration,
    /// A ping after this long without a message, so that dead peers are found.
    pub heartbeat: Duration,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            interval: Duration::from_millis(100),
            send_timeout: Duration::from_secs(5),
            heartbeat: Duration::from_secs(30),
        }
    }
}

/// The close code of a socket dropped for not reading (policy violation).
pub const SLOW_CONSUMER: u16 = 1008;

/// The query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Params {
    /// Whose portfolio: the caller's own user id.
    #[serde(rename = "userID")]
    #[param(rename = "userID")]
    pub user_id: u64,
}

impl FromRef<PortfolioState> for Arc<Auth> {
    fn from_ref(s: &PortfolioState) -> Arc<Auth> {
        s.auth.clone()
    }
}

/// `GET /portfolio?userID=<id>` (WebSocket).
#[utoipa::path(get, path = "/portfolio", tag = "portfolio", params(Params), responses(
    (status = 101, description = "Switching to the WebSocket protocol: messages as in docs/portfolio.md"),
    (status = 400, body = bourse_shell::openapi::ErrorBody, description = "Not a WebSocket request"),
    (status = 404, body = bourse_shell::openapi::ErrorBody, description = "Not the caller's user id"),
))]
pub async fn portfolio(
    State(state): State<PortfolioState>,
    principal: Principal,
    Query(params): Query<Params>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    if params.user_id != principal.user {
        // Not "forbidden": whether another user exists is not the caller's business.
        return Err(ApiError::not_found("portfolio not found"));
    }
    let upgrade = upgrade.map_err(|e| ApiError::bad_request(e.to_string()))?;
    let user = principal.user;
    let store = state.holdings.clone();
    // Holdings are read before the upgrade: a database that is down is a 503, not a
    // socket that opens and closes.
    let member = state
        .hub
        .join(user, || async move {
            Ok::<_, ApiError>(store.holdings(user, None).await?)
        })
        .await?;
    let config = state.stream;
    Ok(upgrade
        .protocols(bourse_shell::auth::websocket_protocols())
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| async move {
            let _open = bourse_shell::telemetry::OpenSocket::new("portfolio");
            stream(socket, member, config).await
        }))
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// Runs one socket until it ends.
async fn stream(socket: WebSocket, mut member: Member, config: StreamConfig) {
    let (mut tx, mut rx) = socket.split();
    let mut seq = 0u64;
    let mut sent_gen = 0u64;
    let mut pending = true;
    let mut next_send = Instant::now();
    let mut last_message = Instant::now();
    loop {
        if pending && Instant::now() >= next_send {
            pending = false;
            member.changes.mark_unchanged();
            let Some(v) = member.valuation() else { break };
            let kind = if v.holdings_gen == sent_gen {
                Kind::Update
            } else {
                Kind::Snapshot
            };
            sent_gen = v.holdings_gen;
            seq += 1;
            let text = v.message(kind, seq, &now());
            if !send(&mut tx, Message::Text(text.into()), config).await {
                drop(member);
                let close = Message::Close(Some(CloseFrame {
                    code: SLOW_CONSUMER,
                    reason: "slow consumer: messages were not read".into(),
                }));
                let _ = timeout(Duration::from_secs(1), tx.send(close)).await;
                return;
            }
            next_send = Instant::now() + config.interval;
            last_message = Instant::now();
        }
        tokio::select! {
            changed = member.changes.changed() => {
                if changed.is_err() {
                    break;
                }
                pending = true;
            }
            _ = sleep_until(next_send), if pending => {}
            _ = sleep_until(last_message + config.heartbeat) => {
                if !send(&mut tx, Message::Ping(Default::default()), config).await {
                    break;
                }
                last_message = Instant::now();
            }
            incoming = rx.next() => match incoming {
                // Pings are answered by the protocol layer; text from the client means
                // nothing here.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Sends `msg` within the send timeout; false if the client did not take it.
async fn send(
    tx: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    msg: Message,
    config: StreamConfig,
) -> bool {
    matches!(timeout(config.send_timeout, tx.send(msg)).await, Ok(Ok(())))
}
