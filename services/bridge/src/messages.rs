//! What goes on the bus for each engine event: routing keys and JSON bodies.
//!
//! | event | routing keys |
//! |---|---|
//! | accepted, rejected (with a user), canceled, replaced | `exec.<user>` |
//! | trade | `exec.<maker>`, `exec.<taker>` (same body), `trade.<symbol>` |
//! | done: add_user, deposit, withdraw, set_limits | `account.<user>` |
//! | done: add_instrument, end_of_day; rejected without a user | `admin.<op>` |
//!
//! The body is the replay format's event object (`docs/replay-format.md`; the messages are in `docs/events.md`) with
//! `cmd_seq` (the journaled command it came from) and `time_ns` (when the journal took
//! that command: the exchange's time of the event) added, the leaves quantities on
//! trades, `asset` and `amount` on deposits and withdrawals, and `symbol`, `tick` and
//! `lot` on a listing (`add_instrument`), from the command.
//! Every message's `seq` is the event's: a consumer bound to several keys drops the
//! copies it has already handled.
//!
//! The events routed `exec.*` or `account.*` form the **account stream**, everything
//! settlement applies, in order. Each message of an account-stream event carries the
//! stream's previous event in `prev_seq` ([`Message::prev_seq`]): a consumer that
//! receives an event before its predecessor (a dead publisher's late tail overtaking the
//! restarted bridge's republication) can tell, and wait for the copy that follows.

use bourse_bus::Message;
use bourse_core::{AdminOp, Asset, Command, Engine, Event, EventKind};
use bourse_journal::Entry;
use bourse_replay::json::EventObject;

/// A message body: the replay format's event object, then the bridge's own fields.
struct Body<'a> {
    event: &'a Event,
    entry: &'a Entry,
    engine: &'a Engine,
}

impl serde::Serialize for Body<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (event, entry, engine) = (self.event, self.entry, self.engine);
        let mut map = serializer.serialize_map(None)?;
        EventObject { event, engine }.fields(&mut map)?;
        map.serialize_entry("cmd_seq", &entry.seq)?;
        map.serialize_entry("time_ns", &entry.time_ns)?;
        match (event.kind, &entry.cmd) {
            (
                EventKind::Trade {
                    maker_leaves,
                    taker_leaves,
                    ..
                },
                _,
            ) => {
                map.serialize_entry("maker_leaves", &maker_leaves.0)?;
                map.serialize_entry("taker_leaves", &taker_leaves.0)?;
            }
            (
                EventKind::Done { .. },
                Command::Deposit { asset, amount, .. } | Command::Withdraw { asset, amount, .. },
            ) => {
                let asset = match asset {
                    Asset::Cash => Some(bourse_core::CASH),
                    Asset::Shares(id) => engine.instrument(*id).map(|i| i.symbol.as_str()),
                };
                map.serialize_entry("asset", &asset)?;
                map.serialize_entry("amount", amount)?;
            }
            (EventKind::Done { .. }, Command::AddInstrument { symbol, tick, lot }) => {
                map.serialize_entry("symbol", symbol.as_str())?;
                map.serialize_entry("tick", &tick.0)?;
                map.serialize_entry("lot", &lot.0)?;
            }
            _ => {}
        }
        map.end()
    }
}

/// Appends the messages for `event`, which the journaled command `entry` produced.
/// `account_seq` is the account stream's last event so far (`None`: unknown), moved on
/// if `event` is on it.
pub fn event_messages(
    event: &Event,
    entry: &Entry,
    engine: &Engine,
    account_seq: &mut Option<u64>,
    out: &mut Vec<Message>,
) {
    let mut body = Vec::with_capacity(256);
    serde_json::to_writer(
        &mut body,
        &Body {
            event,
            entry,
            engine,
        },
    )
    .expect("a message body has string keys and plain values");
    let mut keys: Vec<String> = Vec::with_capacity(3);
    match event.kind {
        EventKind::Accepted { user, .. }
        | EventKind::Canceled { user, .. }
        | EventKind::Replaced { user, .. }
        | EventKind::Rejected {
            user: Some(user), ..
        } => keys.push(format!("exec.{}", user.0)),
        EventKind::Rejected { user: None, .. } => keys.push("admin.rejected".into()),
        EventKind::Trade {
            symbol,
            maker_user,
            taker_user,
            ..
        } => {
            keys.push(format!("exec.{}", maker_user.0));
            if taker_user != maker_user {
                keys.push(format!("exec.{}", taker_user.0));
            }
            let name = engine.instrument(symbol).map_or_else(
                || format!("#{}", symbol.0),
                |i| i.symbol.as_str().to_string(),
            );
            keys.push(format!("trade.{name}"));
        }
        EventKind::Done {
            op: AdminOp::AddUser | AdminOp::Deposit | AdminOp::Withdraw | AdminOp::SetLimits,
            user: Some(user),
        } => keys.push(format!("account.{}", user.0)),
        EventKind::Done { op, .. } => keys.push(format!("admin.{}", op.as_str())),
    }
    let seq = event.seq.0;
    // The first key says the stream: `exec.` and `account.` events are the account's.
    let prev_seq = if keys[0].starts_with("exec.") || keys[0].starts_with("account.") {
        account_seq.replace(seq)
    } else {
        None
    };
    out.extend(keys.into_iter().map(|routing_key| Message {
        routing_key,
        seq,
        prev_seq,
        body: body.clone(),
    }));
}
