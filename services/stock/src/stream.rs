//! Alpaca's Market Data stream v2: `GET /v2/{feed}` (WebSocket; `iex`, `sip`, `test`),
//! so that Alpaca clients (alpaca-py's `StockDataStream`) receive trades, quotes and
//! bars by changing only the URL. Documented in `docs/market-data-stream.md`.
//!
//! The server speaks first (`[{"T":"success","msg":"connected"}]`); the client
//! authenticates (`{"action":"auth","key":..,"secret":..}`) and subscribes
//! (`{"action":"subscribe","trades":[..],"quotes":[..],"bars":[..]}`, `"*"` for all);
//! every server message is an array of objects with `T` (type) and `S` (symbol). The
//! encoding is JSON, or MessagePack when the client asks for it with
//! `Content-Type: application/msgpack` at the upgrade (as alpaca-py does); in
//! MessagePack, times are MessagePack timestamps, as Alpaca sends them.
//!
//! Fed by the gateway's market data feed (the live book's follower): trades, the top
//! of the book as quotes, and closed candles as bars. A client that falls behind the
//! feed by more than the live book's buffer is told (`406`-style error `slow client`,
//! code 407) and closed.

use std::collections::HashSet;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bourse_feeds::MarketData;
use bourse_shell::ApiError;
use bourse_shell::auth::Auth;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::StockState;
use crate::book::Heard;

/// The feeds a client may name (all the same data here).
pub const FEEDS: [&str; 4] = ["iex", "sip", "delayed_sip", "test"];

/// A feed's name, for the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum Feed {
    /// IEX.
    Iex,
    /// SIP.
    Sip,
    /// Delayed SIP.
    DelayedSip,
    /// Test.
    Test,
}
/// The candle interval sent as bars by default (Alpaca's bars are minute bars).
pub const BAR_INTERVAL: &str = "1m";

/// One channel's subscription.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Channel {
    all: bool,
    symbols: HashSet<String>,
}

impl Channel {
    fn wants(&self, symbol: &str) -> bool {
        self.all || self.symbols.contains(symbol)
    }

    fn change(&mut self, names: &Value, on: bool) {
        for s in names
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            match (s, on) {
                ("*", _) => self.all = on,
                (s, true) => {
                    self.symbols.insert(s.to_ascii_uppercase());
                }
                (s, false) => {
                    self.symbols.remove(&s.to_ascii_uppercase());
                }
            }
        }
    }

    fn list(&self) -> Value {
        let mut v: Vec<&str> = self.symbols.iter().map(String::as_str).collect();
        v.sort_unstable();
        if self.all {
            v.insert(0, "*");
        }
        json!(v)
    }
}

#[derive(Debug, Default)]
struct Subscriptions {
    trades: Channel,
    quotes: Channel,
    bars: Channel,
}

impl Subscriptions {
    fn apply(&mut self, msg: &Value, on: bool) {
        self.trades.change(&msg["trades"], on);
        self.quotes.change(&msg["quotes"], on);
        self.bars.change(&msg["bars"], on);
    }

    fn message(&self) -> Value {
        json!({"T": "subscription", "trades": self.trades.list(), "quotes": self.quotes.list(),
               "bars": self.bars.list(), "updatedBars": [], "dailyBars": [], "statuses": [],
               "lulds": [], "corrections": [], "cancelErrors": []})
    }
}

/// Cents as Alpaca's numeric price.
fn dollars(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// The stream message for a feed message, if the client subscribed to it. `t` is a
/// time in ns (encoded as text or a MessagePack timestamp).
fn market_message(h: &Heard, subs: &Subscriptions, bar_interval: &str) -> Option<Value> {
    match &h.msg {
        MarketData::Trade {
            symbol,
            event_seq,
            price,
            qty,
            time_ms,
            ..
        } if subs.trades.wants(symbol) => Some(json!({
            "T": "t", "S": symbol, "i": event_seq, "x": "B", "p": dollars(*price), "s": qty,
            "c": ["@"], "z": "A", "t": (*time_ms as i64).saturating_mul(1_000_000),
        })),
        MarketData::Top {
            symbol, bid, ask, ..
        } if subs.quotes.wants(symbol) => {
            let (bp, bs) = bid.map_or((0.0, 0), |l| (dollars(l.price), l.qty));
            let (ap, r#as) = ask.map_or((0.0, 0), |l| (dollars(l.price), l.qty));
            Some(json!({
                "T": "q", "S": symbol, "bx": "B", "bp": bp, "bs": bs, "ax": "B", "ap": ap,
                "as": r#as, "c": ["R"], "z": "A", "t": h.time_ns,
            }))
        }
        MarketData::Candle {
            symbol,
            interval,
            bar,
            closed: true,
        } if interval == bar_interval && subs.bars.wants(symbol) => {
            let vw = if bar.volume > 0 {
                // The bar keeps no turnover; the mean of its prices stands in.
                dollars(bar.open + bar.high + bar.low + bar.close) / 4.0
            } else {
                0.0
            };
            Some(json!({
                "T": "b", "S": symbol, "o": dollars(bar.open), "h": dollars(bar.high),
                "l": dollars(bar.low), "c": dollars(bar.close), "v": bar.volume,
                "t": (bar.start_ms as i64).saturating_mul(1_000_000), "n": bar.trades, "vw": vw,
            }))
        }
        _ => None,
    }
}

/// How messages go on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Json,
    MsgPack,
}

fn rfc3339(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ns))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_string()
}

/// `msgs` in `enc`: an array; each object's `t` (ns) becomes text or a timestamp.
fn encode(msgs: &[Value], enc: Encoding) -> Message {
    match enc {
        Encoding::Json => {
            let out: Vec<Value> = msgs
                .iter()
                .map(|m| {
                    let mut m = m.clone();
                    if let Some(ns) = m.get("t").and_then(Value::as_i64) {
                        m["t"] = json!(rfc3339(ns));
                    }
                    m
                })
                .collect();
            Message::Text(Value::Array(out).to_string().into())
        }
        Encoding::MsgPack => {
            let mut buf = Vec::with_capacity(256);
            // Writing into a Vec cannot fail.
            let _ = rmp::encode::write_array_len(&mut buf, msgs.len() as u32);
            for m in msgs {
                write_msgpack(&mut buf, m, true);
            }
            Message::Binary(buf.into())
        }
    }
}

fn write_msgpack(buf: &mut Vec<u8>, v: &Value, top: bool) {
    use rmp::encode::*;
    match v {
        Value::Null => {
            let _ = write_nil(buf);
        }
        Value::Bool(b) => {
            let _ = write_bool(buf, *b);
        }
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                let _ = write_uint(buf, u);
            } else if let Some(i) = n.as_i64() {
                let _ = write_sint(buf, i);
            } else {
                let _ = write_f64(buf, n.as_f64().unwrap_or(0.0));
            }
        }
        Value::String(s) => {
            let _ = write_str(buf, s);
        }
        Value::Array(a) => {
            let _ = write_array_len(buf, a.len() as u32);
            for x in a {
                write_msgpack(buf, x, false);
            }
        }
        Value::Object(o) => {
            let _ = write_map_len(buf, o.len() as u32);
            for (k, x) in o {
                let _ = write_str(buf, k);
                match (top && k == "t", x.as_i64()) {
                    (true, Some(ns)) => write_timestamp(buf, ns),
                    _ => write_msgpack(buf, x, false),
                }
            }
        }
    }
}

/// A MessagePack timestamp (extension -1, 96-bit form: nanoseconds, then seconds).
fn write_timestamp(buf: &mut Vec<u8>, ns: i64) {
    let (secs, nanos) = (
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000) as u32,
    );
    let _ = rmp::encode::write_ext_meta(buf, 12, -1);
    buf.extend_from_slice(&nanos.to_be_bytes());
    buf.extend_from_slice(&secs.to_be_bytes());
}

/// `GET /v2/{feed}`: Alpaca's market data stream.
#[utoipa::path(get, path = "/v2/{feed}", tag = "streaming", params(("feed" = inline(Feed), Path, description = "iex, sip, delayed_sip or test")), responses(
    (status = 101, description = "Switching to the WebSocket protocol (docs/market-data-stream.md)"),
    (status = 400, body = bourse_shell::openapi::ErrorBody, description = "Not a WebSocket request"),
    (status = 404, body = bourse_shell::openapi::ErrorBody, description = "No such feed"),
))]
pub async fn stream(
    State(state): State<StockState>,
    Path(feed): Path<String>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    if !FEEDS.contains(&feed.as_str()) {
        return Err(ApiError::not_found("no such endpoint"));
    }
    let upgrade = upgrade.map_err(|e| ApiError::bad_request(e.to_string()))?;
    let enc = match headers.get("content-type").and_then(|v| v.to_str().ok()) {
        Some(t) if t.starts_with("application/msgpack") => Encoding::MsgPack,
        _ => Encoding::Json,
    };
    Ok(upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| async move {
            let _open = bourse_shell::telemetry::OpenSocket::new("stock");
            session(socket, state, enc).await
        }))
}

fn decode(m: Message) -> Option<Value> {
    match m {
        Message::Text(t) => serde_json::from_str(&t).ok(),
        Message::Binary(b) => rmp_serde::from_slice(&b)
            .ok()
            .or_else(|| serde_json::from_slice(&b).ok()),
        _ => None,
    }
}

fn error(code: u16, msg: &str) -> Value {
    json!({"T": "error", "code": code, "msg": msg})
}

/// Checks an `auth` message: an API key pair, or (Bourse's addition, for browsers,
/// which hold a login's access token rather than a key) `{"token": ...}`.
async fn authenticate(auth: &Auth, msg: &Value) -> bool {
    if let Some(token) = msg["token"].as_str() {
        return auth.token(token).is_ok();
    }
    let (Some(key), Some(secret)) = (msg["key"].as_str(), msg["secret"].as_str()) else {
        return false;
    };
    auth.key(key, secret).await.is_ok()
}

async fn session(socket: WebSocket, state: StockState, enc: Encoding) {
    let (mut tx, mut rx) = socket.split();
    let send_timeout = Duration::from_secs(5);
    macro_rules! send {
        ($msgs:expr) => {
            match tokio::time::timeout(send_timeout, tx.send(encode(&$msgs, enc))).await {
                Ok(Ok(())) => {}
                _ => return,
            }
        };
    }
    send!([json!({"T": "success", "msg": "connected"})]);
    let mut authed = false;
    let mut subs = Subscriptions::default();
    // Authentication within 10 s of connecting, however many messages come before.
    let auth_deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut ticks = state.book.ticks();
    loop {
        tokio::select! {
            incoming = tokio::time::timeout_at(if authed { tokio::time::Instant::now() + Duration::from_secs(3600) } else { auth_deadline }, rx.next()) => {
                let m = match incoming {
                    Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => return,
                    Ok(Some(Ok(m))) => m,
                    Err(_) if !authed => {
                        send!([error(408, "auth timeout")]);
                        return;
                    }
                    Err(_) => continue,
                };
                if matches!(m, Message::Ping(_) | Message::Pong(_)) {
                    continue;
                }
                let Some(msg) = decode(m) else {
                    send!([error(400, "invalid syntax")]);
                    continue;
                };
                match msg["action"].as_str() {
                    Some("auth") if authed => send!([error(403, "already authenticated")]),
                    Some("auth") => {
                        if authenticate(&state.auth, &msg).await {
                            authed = true;
                            send!([json!({"T": "success", "msg": "authenticated"})]);
                        } else {
                            send!([error(402, "auth failed")]);
                            return;
                        }
                    }
                    Some(a @ ("subscribe" | "unsubscribe")) if authed => {
                        subs.apply(&msg, a == "subscribe");
                        send!([subs.message()]);
                    }
                    Some("subscribe" | "unsubscribe") => send!([error(401, "not authenticated")]),
                    _ => send!([error(400, "invalid syntax")]),
                }
            }
            tick = ticks.recv(), if authed => match tick {
                Ok(h) => {
                    if let Some(m) = market_message(&h, &subs, state.bar_interval) {
                        send!([m]);
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    let _ = tokio::time::timeout(send_timeout, tx.send(encode(&[error(407, "slow client")], enc))).await;
                    let close = Message::Close(Some(CloseFrame { code: 1008, reason: "slow client".into() }));
                    let _ = tokio::time::timeout(Duration::from_secs(1), tx.send(close)).await;
                    return;
                }
                Err(RecvError::Closed) => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use bourse_feeds::Level;

    use super::*;

    #[test]
    fn subscriptions_follow_symbols_and_the_wildcard() {
        let mut s = Subscriptions::default();
        s.apply(&json!({"trades": ["acme", "BETA"], "quotes": ["*"]}), true);
        assert!(s.trades.wants("ACME") && s.trades.wants("BETA") && !s.trades.wants("X"));
        assert!(s.quotes.wants("ANY") && !s.bars.wants("ACME"));
        s.apply(&json!({"trades": ["BETA"], "quotes": ["*"]}), false);
        assert_eq!(s.message()["trades"], json!(["ACME"]));
        assert_eq!(s.message()["quotes"], json!([]));
    }

    #[test]
    fn feed_messages_become_alpacas_and_times_encode_both_ways() {
        let mut s = Subscriptions::default();
        s.apply(&json!({"trades": ["ACME"], "quotes": ["ACME"]}), true);
        let trade = Heard {
            msg: MarketData::Trade {
                symbol: "ACME".into(),
                event_seq: 9,
                price: 10_050,
                qty: 3,
                taker_side: "buy".into(),
                time_ms: 1_764_600_000_123,
            },
            time_ns: 0,
        };
        let t = market_message(&trade, &s, BAR_INTERVAL).unwrap();
        assert_eq!(
            (t["T"].as_str(), t["p"].as_f64(), t["s"].as_i64()),
            (Some("t"), Some(100.5), Some(3))
        );
        let top = Heard {
            msg: MarketData::Top {
                symbol: "ACME".into(),
                event_seq: 9,
                bid: Some(Level {
                    price: 10_000,
                    qty: 5,
                }),
                ask: None,
            },
            time_ns: 7,
        };
        let q = market_message(&top, &s, BAR_INTERVAL).unwrap();
        assert_eq!(
            (q["bp"].as_f64(), q["bs"].as_i64(), q["as"].as_i64()),
            (Some(100.0), Some(5), Some(0))
        );
        let Message::Text(text) = encode(std::slice::from_ref(&t), Encoding::Json) else {
            panic!("text")
        };
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back[0]["t"], "2025-12-01T14:40:00.123Z");
        let Message::Binary(bytes) = encode(&[t], Encoding::MsgPack) else {
            panic!("binary")
        };
        // [ {…, "t": ext(-1, 12 bytes)} ]: the timestamp's bytes are nanos then seconds.
        let at = bytes
            .windows(3)
            .position(|w| w == [0xc7, 12, 0xff])
            .expect("a timestamp");
        let nanos = u32::from_be_bytes(bytes[at + 3..at + 7].try_into().unwrap());
        let secs = i64::from_be_bytes(bytes[at + 7..at + 15].try_into().unwrap());
        assert_eq!((secs, nanos), (1_764_600_000, 123_000_000));
    }
}
