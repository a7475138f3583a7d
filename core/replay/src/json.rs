//! JSON codec for commands, events and the end state.
//!
//! Decoding never fails: a line that is not JSON, has an unknown `op`, lacks a required
//! field or has a field of the wrong type becomes [`Command::Invalid`] with reason
//! `malformed` ([`explain`] says which field and why). A number of the right type but
//! out of range (a zero, negative, fractional or huge price or quantity) is passed to
//! the engine as a value it refuses, so it gets `invalid_price` or `invalid_qty` as the
//! format asks.

use bourse_core::state::State;
use bourse_core::{
    Asset, ClientOrderId, Command, Engine, Event, EventKind, FixedStr, LimitsUpdate, NewOrder,
    OrderType, Price, Qty, RejectReason, Side, SymbolId, TimeInForce, UserId,
};
use serde_json::{Map, Value, json};

/// What is wrong with a line: the field, and what it should have been.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed {
    /// The field (`"line"` when the line is not a JSON object at all).
    pub field: &'static str,
    /// What the field must be.
    pub expected: &'static str,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.field, self.expected)
    }
}

fn bad(field: &'static str, expected: &'static str) -> Malformed {
    Malformed { field, expected }
}

type Fields = Map<String, Value>;

fn user(f: &Fields) -> Result<UserId, Malformed> {
    f.get("user")
        .and_then(Value::as_u64)
        .map(UserId)
        .ok_or(bad("user", "a non-negative integer"))
}

fn order_id(f: &Fields, key: &'static str) -> Result<ClientOrderId, Malformed> {
    let wrong = bad(
        key,
        "a string of 1 to 16 printable ASCII characters (or an integer)",
    );
    let text = match f.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        _ => return Err(wrong),
    };
    FixedStr::new(&text).map_err(|_| wrong)
}

fn string<'a>(f: &'a Fields, key: &'static str) -> Result<&'a str, Malformed> {
    f.get(key)
        .and_then(Value::as_str)
        .ok_or(bad(key, "a string"))
}

/// An integer field; a number that is no `i64` (fractional, too large) becomes 0, which
/// every caller's engine check refuses as out of range.
fn amount(f: &Fields, key: &'static str) -> Result<i64, Malformed> {
    match f.get(key) {
        Some(Value::Number(n)) => Ok(n.as_i64().unwrap_or(0)),
        _ => Err(bad(key, "a number")),
    }
}

fn optional<T>(
    f: &Fields,
    key: &'static str,
    read: impl Fn(&Fields, &'static str) -> Result<T, Malformed>,
) -> Result<Option<T>, Malformed> {
    match f.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => read(f, key).map(Some),
    }
}

fn boolean(f: &Fields, key: &'static str) -> Result<bool, Malformed> {
    f.get(key)
        .and_then(Value::as_bool)
        .ok_or(bad(key, "true or false"))
}

fn symbol_text(f: &Fields, key: &'static str) -> Result<FixedStr, Malformed> {
    FixedStr::new(string(f, key)?)
        .map_err(|_| bad(key, "a string of 1 to 16 printable ASCII characters"))
}

fn symbol(f: &Fields, engine: &Engine) -> Result<SymbolId, Malformed> {
    let s = symbol_text(f, "symbol")?;
    Ok(engine.symbol_id(&s).unwrap_or(SymbolId::UNKNOWN))
}

fn asset(f: &Fields, engine: &Engine) -> Result<Asset, Malformed> {
    if string(f, "asset")? == bourse_core::CASH {
        return Ok(Asset::Cash);
    }
    let s = symbol_text(f, "asset")?;
    Ok(Asset::Shares(
        engine.symbol_id(&s).unwrap_or(SymbolId::UNKNOWN),
    ))
}

fn decode(f: &Fields, engine: &Engine) -> Result<Command, Malformed> {
    Ok(match string(f, "op")? {
        "add_instrument" => Command::AddInstrument {
            symbol: symbol_text(f, "symbol")?,
            tick: Price(optional(f, "tick", amount)?.unwrap_or(1)),
            lot: Qty(optional(f, "lot", amount)?.unwrap_or(1)),
        },
        "add_user" => Command::AddUser { user: user(f)? },
        "deposit" => Command::Deposit {
            user: user(f)?,
            asset: asset(f, engine)?,
            amount: amount(f, "amount")?,
        },
        "withdraw" => Command::Withdraw {
            user: user(f)?,
            asset: asset(f, engine)?,
            amount: amount(f, "amount")?,
        },
        "set_limits" => Command::SetLimits {
            user: user(f)?,
            limits: LimitsUpdate {
                max_order_qty: optional(f, "max_order_qty", amount)?.map(Qty),
                max_order_notional: optional(f, "max_order_notional", amount)?,
                max_open_orders: optional(f, "max_open_orders", |f, k| {
                    f.get(k)
                        .and_then(Value::as_u64)
                        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
                        .ok_or(bad(k, "a non-negative integer"))
                })?,
                trading_enabled: optional(f, "trading_enabled", boolean)?,
                self_trade_prevention: optional(f, "self_trade_prevention", boolean)?,
            },
        },
        "new" => {
            let order_type = match string(f, "type")? {
                "limit" => OrderType::Limit,
                "market" => OrderType::Market,
                _ => return Err(bad("type", "\"limit\" or \"market\"")),
            };
            let price = match order_type {
                OrderType::Limit => Price(amount(f, "price")?),
                OrderType::Market => Price(0),
            };
            Command::New(NewOrder {
                user: user(f)?,
                id: order_id(f, "id")?,
                symbol: symbol(f, engine)?,
                side: match string(f, "side")? {
                    "buy" => Side::Buy,
                    "sell" => Side::Sell,
                    _ => return Err(bad("side", "\"buy\" or \"sell\"")),
                },
                order_type,
                price,
                qty: Qty(amount(f, "qty")?),
                tif: match optional(f, "tif", |f, k| string(f, k).map(str::to_owned))?.as_deref() {
                    None | Some("gtc") => TimeInForce::Gtc,
                    Some("day") => TimeInForce::Day,
                    Some("ioc") => TimeInForce::Ioc,
                    Some("fok") => TimeInForce::Fok,
                    Some(_) => return Err(bad("tif", "\"gtc\", \"day\", \"ioc\" or \"fok\"")),
                },
                post_only: optional(f, "post_only", boolean)?.unwrap_or(false),
            })
        }
        "cancel" => Command::Cancel {
            user: user(f)?,
            id: order_id(f, "id")?,
        },
        "replace" => Command::Replace {
            user: user(f)?,
            id: order_id(f, "id")?,
            new_id: order_id(f, "new_id")?,
            price: Price(amount(f, "price")?),
            qty: Qty(amount(f, "qty")?),
        },
        "end_of_day" => Command::EndOfDay,
        _ => {
            return Err(bad(
                "op",
                "one of add_instrument, add_user, deposit, withdraw, set_limits, new, cancel, replace, end_of_day",
            ));
        }
    })
}

/// Decodes one line. Symbols resolve against `engine`'s instruments.
pub fn parse_command(line: &str, engine: &Engine) -> Command {
    let fields = match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(f)) => f,
        _ => {
            return Command::Invalid {
                user: None,
                id: None,
                reason: RejectReason::Malformed,
            };
        }
    };
    decode(&fields, engine).unwrap_or_else(|_| Command::Invalid {
        user: user(&fields).ok(),
        id: order_id(&fields, "id").ok(),
        reason: RejectReason::Malformed,
    })
}

/// Why `line` is malformed, if it is: the first field found wrong (a line is read
/// the way [`parse_command`] reads it).
pub fn explain(line: &str, engine: &Engine) -> Option<Malformed> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(f)) => decode(&f, engine).err(),
        _ => Some(bad("line", "one JSON object")),
    }
}

fn symbol_name(engine: &Engine, id: SymbolId) -> Option<&str> {
    engine.instrument(id).map(|i| i.symbol.as_str())
}

/// Encodes one event as the replay format's JSON object.
pub fn event_to_json(e: &Event, engine: &Engine) -> Value {
    serde_json::to_value(EventObject { event: e, engine })
        .expect("an event object has string keys and plain values")
}

/// One event as the replay format's JSON object, serialized straight from the event
/// (no [`Value`] in between): `serde_json::to_writer(out, &EventObject { .. })`.
#[derive(Clone, Copy, Debug)]
pub struct EventObject<'a> {
    /// The event.
    pub event: &'a Event,
    /// The engine that made it (for instrument names).
    pub engine: &'a Engine,
}

impl EventObject<'_> {
    /// Writes the event object's fields into a map being serialized — the one
    /// definition of the event object, for writers that add fields of their own after
    /// it (the bridge's message bodies).
    pub fn fields<M: serde::ser::SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        let (e, engine) = (self.event, self.engine);
        let seq = e.seq.0;
        match e.kind {
            EventKind::Accepted {
                user,
                id,
                symbol,
                side,
                price,
                qty,
            } => {
                map.serialize_entry("event", "accepted")?;
                map.serialize_entry("seq", &seq)?;
                map.serialize_entry("user", &user.0)?;
                map.serialize_entry("id", id.as_str())?;
                map.serialize_entry("symbol", &symbol_name(engine, symbol))?;
                map.serialize_entry("side", side.as_str())?;
                map.serialize_entry("price", &price.map(|p| p.0))?;
                map.serialize_entry("qty", &qty.0)
            }
            EventKind::Rejected { user, id, reason } => {
                map.serialize_entry("event", "rejected")?;
                map.serialize_entry("seq", &seq)?;
                map.serialize_entry("user", &user.map(|u| u.0))?;
                map.serialize_entry("id", &id.as_ref().map(FixedStr::as_str))?;
                map.serialize_entry("reason", reason.as_str())
            }
            EventKind::Trade {
                symbol,
                price,
                qty,
                maker_user,
                maker_id,
                taker_user,
                taker_id,
                taker_side,
                ..
            } => {
                map.serialize_entry("event", "trade")?;
                map.serialize_entry("seq", &seq)?;
                map.serialize_entry("symbol", &symbol_name(engine, symbol))?;
                map.serialize_entry("price", &price.0)?;
                map.serialize_entry("qty", &qty.0)?;
                map.serialize_entry("maker_user", &maker_user.0)?;
                map.serialize_entry("maker_id", maker_id.as_str())?;
                map.serialize_entry("taker_user", &taker_user.0)?;
                map.serialize_entry("taker_id", taker_id.as_str())?;
                map.serialize_entry("taker_side", taker_side.as_str())
            }
            EventKind::Canceled {
                user,
                id,
                qty,
                reason,
            } => {
                map.serialize_entry("event", "canceled")?;
                map.serialize_entry("seq", &seq)?;
                map.serialize_entry("user", &user.0)?;
                map.serialize_entry("id", id.as_str())?;
                map.serialize_entry("qty", &qty.0)?;
                map.serialize_entry("reason", reason.as_str())
            }
            EventKind::Replaced {
                user,
                id,
                new_id,
                price,
                qty,
            } => {
                map.serialize_entry("event", "replaced")?;
                map.serialize_entry("seq", &seq)?;
                map.serialize_entry("user", &user.0)?;
                map.serialize_entry("id", id.as_str())?;
                map.serialize_entry("new_id", new_id.as_str())?;
                map.serialize_entry("price", &price.0)?;
                map.serialize_entry("qty", &qty.0)
            }
            EventKind::Done { op, user } => {
                map.serialize_entry("event", "done")?;
                map.serialize_entry("seq", &seq)?;
                map.serialize_entry("op", op.as_str())?;
                map.serialize_entry("user", &user.map(|u| u.0))
            }
        }
    }
}

impl serde::Serialize for EventObject<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        self.fields(&mut map)?;
        map.end()
    }
}

/// Encodes the end state as `{"state": {"accounts": [...], "books": [...]}}`.
pub fn state_to_json(state: &State) -> Value {
    let balance = |b: &bourse_core::Balance| json!({"total": b.total, "reserved": b.reserved});
    let accounts: Vec<Value> = state
        .accounts
        .iter()
        .map(|a| {
            let mut m = Map::new();
            m.insert("user".into(), a.user.0.into());
            m.insert(bourse_core::CASH.into(), balance(&a.cash));
            for (s, b) in &a.holdings {
                m.insert(s.as_str().into(), balance(b));
            }
            Value::Object(m)
        })
        .collect();
    let books: Vec<Value> = state
        .books
        .iter()
        .map(|b| {
            let levels = |side| {
                b.levels(side)
                    .into_iter()
                    .map(|(p, q)| json!([p.0, q.0]))
                    .collect::<Vec<_>>()
            };
            json!({
                "symbol": b.instrument.symbol.as_str(),
                "bids": levels(Side::Buy),
                "asks": levels(Side::Sell),
            })
        })
        .collect();
    json!({"state": {"accounts": accounts, "books": books}})
}

#[cfg(test)]
mod explain_tests {
    use super::*;

    #[test]
    fn a_malformed_line_names_its_first_wrong_field() {
        let e = Engine::default();
        let why = |line: &str| explain(line, &e).map(|m| m.field);
        assert_eq!(why("not json"), Some("line"));
        assert_eq!(why(r#"{"op":"fly"}"#), Some("op"));
        assert_eq!(why(r#"{"user":1}"#), Some("op"));
        assert_eq!(
            why(r#"{"op":"new","type":"limit","price":"10","user":1}"#),
            Some("price")
        );
        assert_eq!(
            why(
                r#"{"op":"new","type":"limit","price":10,"user":1,"id":"a","symbol":"X","side":"up","qty":1}"#
            ),
            Some("side")
        );
        assert_eq!(
            why(r#"{"op":"cancel","user":1,"id":"seventeen-chars-x"}"#),
            Some("id")
        );
        assert_eq!(why(r#"{"op":"add_user","user":-1}"#), Some("user"));
        // Well-formed, even when the engine will refuse it: nothing to explain.
        assert_eq!(
            why(
                r#"{"op":"new","type":"limit","price":-5,"user":1,"id":"a","symbol":"X","side":"buy","qty":1}"#
            ),
            None
        );
        let m = explain(r#"{"op":"new","type":"stop"}"#, &e).unwrap();
        assert_eq!(m.to_string(), "`type`: \"limit\" or \"market\"");
    }
}
