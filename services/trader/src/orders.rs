//! Orders: entry, reads and cancels in Alpaca's shapes.
//!
//! # Entry
//! A new order is written to `trader_orders` as `pending_new` under a fresh id and
//! engine token, unique per (user, `client_order_id`) — a repeated `client_order_id`
//! answers the order already there, never a second one. Then it goes to the engine
//! (`EnterOrderFor`) and its reports become the row's status, filled quantity and fill
//! value. A refused order answers 403 (insufficient buying power or shares, as Alpaca)
//! or 422, and stays readable as `rejected`. No verdict in time (the gateway
//! restarted): 503, the row stays `pending_new`, and reads show what settlement later
//! says about its token; if the engine never received it, the reconciler
//! ([`crate::reconcile`]) marks it `rejected`.
//!
//! # Conditional orders
//! A `stop`, `stop_limit` or `trailing_stop` order is checked as any other (and its
//! symbol must be listed and active), then written `held` with its condition and
//! answered at once: the engine does not see it until the auto service
//! (`services/auto`) sees a trade that triggers it, turns the row into an order in
//! flight (compare-and-set from `held`, so it fires once) and enters it under the
//! row's token — a stop as a market order, a stop-limit as a limit order. A cancel
//! before that is the same compare-and-set the other way: whichever comes first wins.
//!
//! # Reads
//! Each read joins the row with the order service's `orders` (by user and token):
//! settlement, when it has seen an event newer than the row's verdict, is the truth;
//! until then the verdict is.

use crate::TraderState;
use crate::store::{
    Condition, HeldReplace, ListFilter, OPEN, OrderKey, OrderRecord, Replacement, Which,
};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use bourse_core::{
    CancelReason, FixedStr, OrderType, Price, Qty, RejectReason, Side, TimeInForce, UserId,
};
use bourse_gateway::protocol::{EnterOrder, ForRequest, ServerMsg, ServiceMsg};
use bourse_gateway_client::GatewayClient;
use bourse_shell::ApiError;
use bourse_shell::auth::{Principal, random_bytes};
use bourse_shell::extract::{Json, Path, Query};
use bourse_shell::money::{format_cents, format_fixed, parse_cents, parse_fixed};
use serde::Deserialize;
use serde_json::{Value, json};

/// `POST /v2/orders` body (Alpaca's field names; numbers as strings or JSON numbers).
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
pub struct NewOrder {
    /// Ticker.
    pub symbol: String,
    /// Whole shares.
    #[schema(value_type = Option<String>)]
    pub qty: Option<Value>,
    /// Dollar amount (not supported: 422).
    #[schema(value_type = Option<String>)]
    pub notional: Option<Value>,
    /// `buy` or `sell`.
    pub side: String,
    /// `market`, `limit`, `stop`, `stop_limit` or `trailing_stop`.
    #[serde(rename = "type")]
    pub order_type: String,
    /// `day`, `gtc`, `ioc`, `fok`.
    pub time_in_force: String,
    /// Limit price (limit orders only).
    #[schema(value_type = Option<String>)]
    pub limit_price: Option<Value>,
    /// Stop price (stop and stop_limit orders).
    #[schema(value_type = Option<String>)]
    pub stop_price: Option<Value>,
    /// Trailing amount in dollars (trailing_stop orders; or trail_percent).
    #[schema(value_type = Option<String>)]
    pub trail_price: Option<Value>,
    /// Trailing percent of the high-water mark (trailing_stop orders; up to 4 decimals).
    #[schema(value_type = Option<String>)]
    pub trail_percent: Option<Value>,
    /// Whether the order may trade outside the regular session. Every order may (the
    /// engine matches at any hour), so `true` and `false` are both taken and change
    /// nothing.
    #[serde(default)]
    pub extended_hours: bool,
    /// The client's id for the order (at most 128 characters); made if absent.
    pub client_order_id: Option<String>,
    /// `simple` (or absent); `oco`: a take-profit limit order and a stop-loss held
    /// beside it, each canceled when the other fills; `bracket`: an entry and both
    /// exits, which wait for it to fill; `oto`: an entry and one exit that waits.
    pub order_class: Option<String>,
    /// `oco`, `bracket`, `oto`: the take-profit leg, `{"limit_price": ...}`.
    #[schema(value_type = Option<Object>)]
    pub take_profit: Option<Value>,
    /// `oco`, `bracket`, `oto`: the stop-loss leg, `{"stop_price": ...,
    /// "limit_price": ...}` (with a limit price: a stop-limit).
    #[schema(value_type = Option<Object>)]
    pub stop_loss: Option<Value>,
}

/// An order class with exit legs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// One-cancels-other: the take-profit is the order itself, its stop-loss held
    /// beside it.
    Oco,
    /// An entry and two exits that wait for it to fill, then cancel each other.
    Bracket,
    /// One-triggers-other: an entry and one exit that waits for it to fill.
    Oto,
}

impl Class {
    /// `order_class` as the API spells it.
    fn name(self) -> &'static str {
        match self {
            Class::Oco => "oco",
            Class::Bracket => "bracket",
            Class::Oto => "oto",
        }
    }
}

/// The exit legs of a one-cancels-other, bracket or one-triggers-other order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OcoLegs {
    /// Which; for all but `oco` the legs wait for the entry to fill.
    class: Class,
    /// The take-profit limit price, cents (always but on an `oto` with a stop-loss).
    take_profit: Option<i64>,
    /// The stop-loss stop price, cents (always but on an `oto` with a take-profit).
    stop: Option<i64>,
    /// The stop-loss limit price (a stop-limit), cents.
    stop_limit: Option<i64>,
}

impl OcoLegs {
    /// The legs wait, held, for the entry to fill (a bracket's, an oto's).
    fn wait(self) -> bool {
        self.class != Class::Oco
    }
}

/// The exit legs of an `oco`, `bracket` or `oto` order (`None` for a simple one); the
/// request as the order the engine is given first (an `oco`'s take-profit, a
/// bracket's or an oto's entry).
fn oco_legs(o: &NewOrder) -> Result<(Option<OcoLegs>, NewOrder), ApiError> {
    let bad = ApiError::unprocessable;
    let class = match o.order_class.as_deref() {
        None | Some("") | Some("simple") => {
            if o.take_profit.is_some() || o.stop_loss.is_some() {
                return Err(bad(
                    "take_profit and stop_loss go with order_class oco, bracket or oto",
                ));
            }
            return Ok((None, o.clone()));
        }
        Some("oco") => Class::Oco,
        Some("bracket") => Class::Bracket,
        Some("oto") => Class::Oto,
        Some(_) => return Err(bad("order_class: simple, oco, bracket or oto")),
    };
    let name = class.name();
    if class != Class::Oco && !matches!(o.order_type.as_str(), "market" | "limit") {
        return Err(ApiError::unprocessable(format!(
            "type: market or limit for {name} orders (the entry)"
        )));
    }
    if class == Class::Oco && o.order_type != "limit" {
        return Err(bad("type: limit for oco orders (the take-profit leg)"));
    }
    if !matches!(o.time_in_force.as_str(), "day" | "gtc") {
        return Err(ApiError::unprocessable(format!(
            "time_in_force: day or gtc for {name} orders"
        )));
    }
    let leg = |field: &str,
               v: &Option<Value>|
     -> Result<Option<serde_json::Map<String, Value>>, ApiError> {
        match v {
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            Some(_) => Err(ApiError::unprocessable(format!("{field}: an object"))),
            None if class == Class::Oto => Ok(None),
            None => Err(ApiError::unprocessable(format!(
                "{field}: required for {name} orders"
            ))),
        }
    };
    let tp = leg("take_profit", &o.take_profit)?;
    let sl = leg("stop_loss", &o.stop_loss)?;
    if class == Class::Oto && tp.is_some() == sl.is_some() {
        return Err(bad("oto orders: exactly one of take_profit and stop_loss"));
    }
    let take_profit = match &tp {
        Some(tp) => Some(
            price_field("take_profit.limit_price", &tp.get("limit_price").cloned())?
                .ok_or_else(|| bad("take_profit.limit_price: required"))?,
        ),
        None => None,
    };
    let (stop, stop_limit) = match &sl {
        Some(sl) => (
            Some(
                price_field("stop_loss.stop_price", &sl.get("stop_price").cloned())?
                    .ok_or_else(|| bad("stop_loss.stop_price: required"))?,
            ),
            price_field("stop_loss.limit_price", &sl.get("limit_price").cloned())?,
        ),
        None => (None, None),
    };
    let entry = price_field("limit_price", &o.limit_price)?;
    if class == Class::Oco
        && let Some(p) = entry
        && Some(p) != take_profit
    {
        return Err(bad("limit_price: the take-profit's, or absent"));
    }
    if o.stop_price.is_some() || o.trail_price.is_some() || o.trail_percent.is_some() {
        return Err(ApiError::unprocessable(format!(
            "stop_price and trails: in stop_loss for {name} orders"
        )));
    }
    // The stop is the worse exit: below the take-profit for a sell, above for a buy —
    // and the exits of a bracket or oto sell what a buy entry bought (the other side).
    let exits_sell = (o.side == "sell") != (class != Class::Oco);
    // Worse to better for the exits' side: stop, entry, take-profit.
    let ordered = |low: i64, high: i64| if exits_sell { low < high } else { low > high };
    if let (Some(stop), Some(tp)) = (stop, take_profit)
        && !ordered(stop, tp)
    {
        return Err(bad(
            "stop_loss.stop_price: below take_profit.limit_price when the exits sell, above when they buy",
        ));
    }
    if class != Class::Oco
        && let Some(p) = entry
    {
        if let Some(stop) = stop
            && !ordered(stop, p)
        {
            return Err(bad(
                "stop_loss.stop_price: below the entry's limit_price when the exits sell, above when they buy",
            ));
        }
        if let Some(tp) = take_profit
            && !ordered(p, tp)
        {
            return Err(bad(
                "take_profit.limit_price: above the entry's limit_price when the exits sell, below when they buy",
            ));
        }
    }
    let mut simple = o.clone();
    simple.order_class = None;
    simple.take_profit = None;
    simple.stop_loss = None;
    if class == Class::Oco {
        simple.limit_price = take_profit.map(|p| Value::String(format_cents(p)));
    }
    Ok((
        Some(OcoLegs {
            class,
            take_profit,
            stop,
            stop_limit,
        }),
        simple,
    ))
}

/// A number given as a JSON string or number, as text.
fn number_text(field: &str, v: &Value) -> Result<String, ApiError> {
    match v {
        Value::String(s) => Ok(s.trim().to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(ApiError::unprocessable(format!(
            "{field}: a number is required"
        ))),
    }
}

/// A random UUID (version 4): a new order's id.
pub fn new_id() -> String {
    bourse_shell::ids::random_uuid()
}

/// A fresh engine token: 16 characters, random, after
/// [`TOKEN_PREFIX`](bourse_order::token::TOKEN_PREFIX) (settlement indexes the orders
/// whose client id begins with it).
pub fn new_token() -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::iter::once(bourse_order::token::TOKEN_PREFIX)
        .chain(
            random_bytes(15)
                .iter()
                .map(|b| ALNUM[*b as usize % ALNUM.len()] as char),
        )
        .collect()
}

/// What a valid request asks the engine for.
struct Checked {
    symbol: FixedStr,
    side: Side,
    /// Alpaca's type, as entered and shown.
    type_name: &'static str,
    /// What the engine is given (now, or once the condition fires).
    order_type: OrderType,
    tif: TimeInForce,
    qty: i64,
    limit_price: Option<i64>,
    client_order_id: String,
    /// A conditional order's condition: held until it fires.
    condition: Option<Condition>,
}

/// A positive price in cents from an optional field; `None` when absent.
fn price_field(field: &str, v: &Option<Value>) -> Result<Option<i64>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    let p = parse_cents(field, &number_text(field, v)?)?;
    if p <= 0 {
        return Err(ApiError::unprocessable(format!(
            "{field}: must be positive"
        )));
    }
    Ok(Some(p))
}

/// The condition of a `stop`, `stop_limit` or `trailing_stop` order (and what the
/// engine gets when it fires); `None` for the others.
fn condition(o: &NewOrder, type_name: &str) -> Result<Option<Condition>, ApiError> {
    let bad = ApiError::unprocessable;
    let stop = price_field("stop_price", &o.stop_price)?;
    let trail_price = price_field("trail_price", &o.trail_price)?;
    let trail_ppm = match &o.trail_percent {
        Some(v) => {
            let ppm = parse_fixed("trail_percent", &number_text("trail_percent", v)?, 4)?;
            if !(1..100 * 10_000).contains(&ppm) {
                return Err(bad("trail_percent: above 0 and below 100"));
            }
            Some(ppm)
        }
        None => None,
    };
    match type_name {
        "stop" | "stop_limit" => {
            if trail_price.is_some() || trail_ppm.is_some() {
                return Err(bad(
                    "trail_price and trail_percent go with trailing_stop orders only",
                ));
            }
            let stop_price = stop.ok_or_else(|| {
                ApiError::unprocessable(format!("stop_price: required for {type_name} orders"))
            })?;
            Ok(Some(Condition {
                stop_price: Some(stop_price),
                ..Condition::default()
            }))
        }
        "trailing_stop" => {
            if stop.is_some() {
                return Err(bad(
                    "stop_price: not for trailing_stop orders (give trail_price or trail_percent)",
                ));
            }
            match (trail_price, trail_ppm) {
                (Some(_), Some(_)) | (None, None) => Err(bad(
                    "trailing_stop: exactly one of trail_price and trail_percent",
                )),
                (trail_price, trail_ppm) => Ok(Some(Condition {
                    trail_price,
                    trail_ppm,
                    ..Condition::default()
                })),
            }
        }
        _ if stop.is_some() || trail_price.is_some() || trail_ppm.is_some() => Err(bad(
            "stop_price, trail_price and trail_percent go with stop orders only",
        )),
        _ => Ok(None),
    }
}

fn check(o: &NewOrder) -> Result<Checked, ApiError> {
    let bad = ApiError::unprocessable;
    let symbol = FixedStr::new(&o.symbol.to_ascii_uppercase())
        .map_err(|_| bad("symbol: 1 to 16 characters"))?;
    let side = match o.side.as_str() {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        _ => return Err(bad("side: buy or sell")),
    };
    // Alpaca's type, and what the engine is given for it.
    let (type_name, order_type) = match o.order_type.as_str() {
        "market" => ("market", OrderType::Market),
        "limit" => ("limit", OrderType::Limit),
        "stop" => ("stop", OrderType::Market),
        "stop_limit" => ("stop_limit", OrderType::Limit),
        "trailing_stop" => ("trailing_stop", OrderType::Market),
        _ => {
            return Err(bad(
                "type: market, limit, stop, stop_limit or trailing_stop",
            ));
        }
    };
    let tif = match o.time_in_force.as_str() {
        "day" => TimeInForce::Day,
        "gtc" => TimeInForce::Gtc,
        "ioc" => TimeInForce::Ioc,
        "fok" => TimeInForce::Fok,
        "opg" | "cls" => {
            return Err(bad(
                "time_in_force: there are no opening or closing auctions",
            ));
        }
        _ => return Err(bad("time_in_force: day, gtc, ioc or fok")),
    };
    if o.notional.is_some() {
        return Err(bad("notional: orders are in whole shares; give qty"));
    }
    let condition = condition(o, type_name)?;
    if condition.is_some() && !matches!(tif, TimeInForce::Day | TimeInForce::Gtc) {
        return Err(ApiError::unprocessable(format!(
            "time_in_force: day or gtc for {type_name} orders"
        )));
    }
    let qty = o
        .qty
        .as_ref()
        .ok_or_else(|| bad("qty: required"))
        .and_then(|v| parse_fixed("qty", &number_text("qty", v)?, 0))?;
    if qty <= 0 {
        return Err(bad("qty: must be positive"));
    }
    let limit_price = match (order_type, price_field("limit_price", &o.limit_price)?) {
        (OrderType::Limit, Some(p)) => Some(p),
        (OrderType::Limit, None) => {
            return Err(ApiError::unprocessable(format!(
                "limit_price: required for {type_name} orders"
            )));
        }
        (OrderType::Market, Some(_)) => {
            return Err(ApiError::unprocessable(format!(
                "limit_price: not for {type_name} orders"
            )));
        }
        (OrderType::Market, None) => None,
    };
    let client_order_id = match &o.client_order_id {
        Some(c) if c.is_empty() || c.chars().count() > 128 => {
            return Err(bad("client_order_id: 1 to 128 characters"));
        }
        Some(c) => c.clone(),
        None => new_id(),
    };
    Ok(Checked {
        symbol,
        side,
        type_name,
        order_type,
        tif,
        qty,
        limit_price,
        client_order_id,
        condition,
    })
}

/// What the engine's reports say about an order just entered.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Alpaca's status.
    pub status: &'static str,
    /// Shares filled.
    pub filled: i64,
    /// Sum of price × quantity of the fills.
    pub value: i64,
    /// The engine's accepted event.
    pub order_seq: Option<i64>,
    /// The last engine event reflected.
    pub known_seq: i64,
    /// Why the engine refused it.
    pub rejected: Option<RejectReason>,
}

impl Outcome {
    /// The verdict to record for order `id`.
    pub fn verdict(&self, id: String) -> crate::writes::Verdict {
        crate::writes::Verdict {
            id,
            status: self.status,
            filled: self.filled,
            value: self.value,
            order_seq: self.order_seq,
            known_seq: self.known_seq,
            reject_reason: self.rejected.map(RejectReason::as_str),
        }
    }
}

/// What the engine's reports say about an order just entered (for the auto service,
/// which enters triggered orders as this service enters the others).
pub fn outcome(reports: &[ForRequest], qty: i64) -> Outcome {
    let mut o = Outcome {
        status: "new",
        ..Outcome::default()
    };
    for r in reports {
        match r.msg {
            ServerMsg::Accepted { seq, .. } | ServerMsg::Replaced { seq, .. } => {
                o.order_seq = Some(seq as i64);
                o.known_seq = seq as i64;
            }
            ServerMsg::Executed {
                exec_id,
                price,
                qty: q,
                ..
            } => {
                o.filled += q.0;
                o.value += price.0 * q.0;
                o.known_seq = exec_id as i64;
            }
            ServerMsg::Canceled { seq, reason, .. } => {
                o.known_seq = seq as i64;
                o.status = if reason == CancelReason::Expired {
                    "expired"
                } else {
                    "canceled"
                };
            }
            ServerMsg::Rejected { reason, seq, .. } => {
                o.rejected = Some(reason);
                o.known_seq = o.known_seq.max(seq as i64);
                o.status = "rejected";
            }
            _ => {}
        }
    }
    if o.status == "new" && o.filled > 0 {
        o.status = if o.filled >= qty {
            "filled"
        } else {
            "partially_filled"
        };
    }
    o
}

/// The HTTP answer an engine refusal of an order stands for (Alpaca's: 403 for buying
/// power and shares, 422 for the rest).
fn refusal(reason: RejectReason) -> ApiError {
    match reason {
        RejectReason::InsufficientFunds => ApiError::forbidden("insufficient buying power"),
        RejectReason::InsufficientShares => {
            ApiError::forbidden("insufficient qty available for order")
        }
        RejectReason::Throttled => ApiError::too_many_requests(1),
        RejectReason::UnknownSymbol => ApiError::unprocessable("asset not found"),
        other => ApiError::unprocessable(format!("order refused: {}", other.as_str())),
    }
}

fn engine(state: &TraderState) -> Result<&GatewayClient, ApiError> {
    state
        .engine
        .as_ref()
        .ok_or_else(|| ApiError::unavailable("exchange", "no gateway configured"))
}

/// An order's status, filled quantity and fill value: settlement's, once it has seen
/// an event at or after the row's verdict; the verdict's until then.
fn merged(r: &OrderRecord) -> (&str, i64, i64) {
    match &r.settled {
        Some(s) if s.updated_seq >= r.known_seq => {
            let status = match (s.status.as_str(), s.filled) {
                ("open", 0) => "new",
                ("open", _) => "partially_filled",
                ("canceled", _) if s.reason.as_deref() == Some("expired") => "expired",
                (other, _) => other,
            };
            (status, s.filled, s.value)
        }
        _ => (r.status.as_str(), r.filled_qty, r.filled_value),
    }
}

/// An order row as Alpaca's order object, borrowing the row, serialized field by field
/// in this order (no map built: a page of orders is most of a list's cost otherwise).
#[derive(Debug, serde::Serialize)]
pub(crate) struct OrderView<'a> {
    id: &'a str,
    client_order_id: &'a str,
    created_at: &'a str,
    updated_at: &'a str,
    submitted_at: &'a str,
    filled_at: Option<&'a str>,
    expired_at: Option<&'a str>,
    canceled_at: Option<&'a str>,
    failed_at: Option<&'a str>,
    replaced_at: Option<&'a str>,
    replaced_by: Option<&'a str>,
    replaces: Option<&'a str>,
    asset_id: String,
    symbol: &'a str,
    asset_class: &'static str,
    notional: Option<&'static str>,
    qty: String,
    filled_qty: String,
    filled_avg_price: Option<String>,
    order_class: &'a str,
    order_type: &'a str,
    #[serde(rename = "type")]
    type_: &'a str,
    side: &'a str,
    time_in_force: &'a str,
    limit_price: Option<String>,
    stop_price: Option<String>,
    /// Alpaca's status, merged from the verdict and settlement's view.
    pub status: &'a str,
    extended_hours: bool,
    legs: Option<&'static str>,
    trail_percent: Option<String>,
    trail_price: Option<String>,
    hwm: Option<String>,
}

impl<'a> OrderView<'a> {
    /// `r` as the API shows it, with its asset's id.
    fn new(r: &'a OrderRecord, asset_id: String) -> Self {
        let (status, filled, value) = merged(r);
        let updated = r.updated_at.as_str();
        let at = |wanted: &str| (status == wanted).then_some(updated);
        OrderView {
            id: &r.id,
            client_order_id: &r.client_order_id,
            created_at: &r.created_at,
            updated_at: updated,
            submitted_at: &r.created_at,
            filled_at: at("filled"),
            expired_at: at("expired"),
            canceled_at: at("canceled"),
            failed_at: at("rejected"),
            replaced_at: at("replaced"),
            replaced_by: r.replaced_by.as_deref(),
            replaces: r.replaces.as_deref(),
            asset_id,
            symbol: &r.symbol,
            asset_class: "us_equity",
            notional: None,
            qty: r.qty.to_string(),
            filled_qty: filled.to_string(),
            filled_avg_price: (filled > 0).then(|| format_cents(value / filled)),
            order_class: &r.order_class,
            order_type: &r.order_type,
            type_: &r.order_type,
            side: &r.side,
            time_in_force: &r.time_in_force,
            limit_price: r.limit_price.map(format_cents),
            stop_price: r.condition.stop_price.map(format_cents),
            status,
            // Every order may trade outside the regular session: the engine matches at
            // any hour.
            extended_hours: true,
            legs: None,
            trail_percent: r.condition.trail_ppm.map(percent_text),
            trail_price: r.condition.trail_price.map(format_cents),
            hwm: r.hwm.map(format_cents),
        }
    }
}

/// An order row as Alpaca's order object.
pub(crate) fn order_json(r: &OrderRecord) -> Value {
    serde_json::to_value(OrderView::new(r, asset_id(&r.symbol))).unwrap_or(Value::Null)
}

/// Parts per million of one as a percent (`15000` → `"1.5"`).
fn percent_text(ppm: i64) -> String {
    let text = format_fixed(ppm, 4);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// An asset's id: the stock service's, from its symbol.
pub fn asset_id(symbol: &str) -> String {
    bourse_stock::assets::asset_id(symbol)
}

/// One of `user`'s orders, as the API shows it: a one-cancels-other order's
/// take-profit leg with its stop-loss leg in `legs`.
pub(crate) async fn load(
    state: &TraderState,
    user: u64,
    key: OrderKey<'_>,
) -> Result<Option<Value>, ApiError> {
    let Some(r) = state.store.order(user, key).await? else {
        return Ok(None);
    };
    let mut v = order_json(&r);
    if matches!(r.order_class.as_str(), "bracket" | "oto") && r.parent_id.is_none() {
        let legs = state.store.legs(user, &r.id).await?;
        v["legs"] = json!(legs.iter().map(order_json).collect::<Vec<_>>());
    } else if r.order_class == "oco"
        && let Some(other) = r.oco_with.as_deref()
        && r.condition == Condition::default()
        && let Some(leg) = state.store.order(user, OrderKey::Id(other)).await?
    {
        v["legs"] = json!([order_json(&leg)]);
    }
    Ok(Some(v))
}

/// `POST /v2/orders`.
#[utoipa::path(post, path = "/v2/orders", tag = "orders", request_body = NewOrder, responses((status = 200, body = crate::schema::Order)))]
pub async fn create(
    State(state): State<TraderState>,
    principal: Principal,
    Json(body): Json<NewOrder>,
) -> Result<Json<Value>, ApiError> {
    let (oco, body) = oco_legs(&body)?;
    let c = check(&body)?;
    let engine = engine(&state)?;
    state.suspensions.check(c.symbol.as_str()).await?;
    if c.condition.is_some() {
        // Held orders meet the engine only later: an unknown symbol is refused now.
        state.suspensions.listed(c.symbol.as_str()).await?;
    }
    let (id, token) = (new_id(), new_token());
    let side = if c.side == Side::Buy { "buy" } else { "sell" };
    // A bracket's or an oto's exits wait for the entry; an oco's stop-loss is written
    // once its take-profit is in the book.
    let waits = oco.is_some_and(OcoLegs::wait);
    let leg_id = oco.and_then(|l| (l.take_profit.is_some() || !waits).then(new_id));
    let stop_leg_id = oco.and_then(|l| (waits && l.stop.is_some()).then(new_id));
    let inserted = state
        .writes
        .insert(crate::writes::Pending {
            id: id.clone(),
            user: principal.user as i64,
            client_order_id: c.client_order_id.clone(),
            token: token.clone(),
            symbol: c.symbol.as_str().to_string(),
            side,
            order_type: c.type_name,
            time_in_force: body.time_in_force.clone(),
            qty: c.qty,
            limit_price: c.limit_price,
            condition: c.condition,
            order_class: oco.map_or("simple", |l| l.class.name()),
            oco_with: if waits { None } else { leg_id.clone() },
            parent_id: None,
        })
        .await?;
    if !inserted || c.condition.is_some() {
        // The same client_order_id again: the order that exists, never a second one.
        // A conditional order: held, as written.
        return load(
            &state,
            principal.user,
            OrderKey::ClientOrderId(&c.client_order_id),
        )
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::conflict("client_order_id in use"));
    }
    let exit_side = if c.side == Side::Buy { "sell" } else { "buy" };
    if let Some(legs) = oco.filter(|l| l.wait()) {
        // A bracket's or an oto's exits, written before its entry goes in: held until
        // it fills (the auto service activates them once settlement has it filled). A
        // bracket's two cancel each other.
        let leg = |this: &str, other: Option<&String>, order_type, limit_price, condition| {
            crate::writes::Pending {
                id: this.to_string(),
                user: principal.user as i64,
                client_order_id: new_id(),
                token: new_token(),
                symbol: c.symbol.as_str().to_string(),
                side: exit_side,
                order_type,
                time_in_force: body.time_in_force.clone(),
                qty: c.qty,
                limit_price,
                condition,
                order_class: legs.class.name(),
                oco_with: other.cloned(),
                parent_id: Some(id.clone()),
            }
        };
        if let Some(tp_id) = &leg_id {
            state
                .writes
                .insert(leg(
                    tp_id,
                    stop_leg_id.as_ref(),
                    "limit",
                    legs.take_profit,
                    None,
                ))
                .await?;
        }
        if let Some(sl_id) = &stop_leg_id {
            let stop_type = if legs.stop_limit.is_some() {
                "stop_limit"
            } else {
                "stop"
            };
            let stop = Condition {
                stop_price: legs.stop,
                ..Condition::default()
            };
            state
                .writes
                .insert(leg(
                    sl_id,
                    leg_id.as_ref(),
                    stop_type,
                    legs.stop_limit,
                    Some(stop),
                ))
                .await?;
        }
    }
    let order = EnterOrder {
        token: FixedStr::new(&token).map_err(ApiError::internal)?,
        symbol: c.symbol,
        side: c.side,
        order_type: c.order_type,
        tif: c.tif,
        post_only: false,
        price: Price(c.limit_price.unwrap_or(0)),
        qty: Qty(c.qty),
    };
    // No connection is held while the engine decides: the pool serves others meanwhile.
    let reports = match engine
        .request(ServiceMsg::EnterFor {
            request: 0,
            user: UserId(principal.user),
            order,
        })
        .await
    {
        Ok(r) => r,
        // Unknown outcome: the row stays pending_new, and reads show what settlement
        // later says about its token.
        Err(e) => return Err(ApiError::unavailable("exchange", e)),
    };
    let o = outcome(&reports, c.qty);
    let order = state.writes.finish(o.verdict(id.clone())).await?;
    if let Some(reason) = o.rejected {
        // A bracket's or an oto's exits go with its entry (an oco's leg is not written
        // yet).
        if waits {
            for leg in [&leg_id, &stop_leg_id].into_iter().flatten() {
                state.store.cancel_held(leg).await?;
            }
        }
        return Err(refusal(reason));
    }
    if waits {
        return load(&state, principal.user, OrderKey::Id(&id))
            .await?
            .map(Json)
            .ok_or_else(|| ApiError::internal("order vanished after entry"));
    }
    if let (Some(legs), Some(leg_id)) = (oco, leg_id) {
        // The stop-loss leg, held once the take-profit is in the book (canceled at
        // once if the take-profit traded on entry: one fill cancels the other).
        let leg = crate::writes::Pending {
            id: leg_id.clone(),
            user: principal.user as i64,
            client_order_id: new_id(),
            token: new_token(),
            symbol: c.symbol.as_str().to_string(),
            side,
            order_type: if legs.stop_limit.is_some() {
                "stop_limit"
            } else {
                "stop"
            },
            time_in_force: body.time_in_force.clone(),
            qty: c.qty,
            limit_price: legs.stop_limit,
            condition: Some(Condition {
                stop_price: legs.stop,
                ..Condition::default()
            }),
            order_class: "oco",
            oco_with: Some(id.clone()),
            parent_id: None,
        };
        state.writes.insert(leg).await?;
        if o.filled > 0 || o.status != "new" {
            state.store.cancel_held(&leg_id).await?;
        }
        return load(&state, principal.user, OrderKey::Id(&id))
            .await?
            .map(Json)
            .ok_or_else(|| ApiError::internal("order vanished after entry"));
    }
    order
        .map(Json)
        .ok_or_else(|| ApiError::internal("order vanished after entry"))
}

/// `GET /v2/orders/{id}`.
#[utoipa::path(get, path = "/v2/orders/{id}", tag = "orders", params(("id" = String, Path, description = "The order id")), responses((status = 200, body = crate::schema::Order)))]
pub async fn get_one(
    State(state): State<TraderState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    load(&state, principal.user, OrderKey::Id(&id))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("order not found"))
}

/// `?client_order_id=` of `GET /v2/orders:by_client_order_id`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ByClientId {
    /// The client's id.
    pub client_order_id: String,
}

/// `GET /v2/orders:by_client_order_id`.
#[utoipa::path(get, path = "/v2/orders:by_client_order_id", tag = "orders", params(ByClientId), responses((status = 200, body = crate::schema::Order)))]
pub async fn by_client_order_id(
    State(state): State<TraderState>,
    principal: Principal,
    Query(q): Query<ByClientId>,
) -> Result<Json<Value>, ApiError> {
    load(
        &state,
        principal.user,
        OrderKey::ClientOrderId(&q.client_order_id),
    )
    .await?
    .map(Json)
    .ok_or_else(|| ApiError::not_found("order not found"))
}

/// `GET /v2/orders` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `open` (default), `closed` or `all`.
    pub status: Option<String>,
    /// At most this many (default 50, at most 500).
    pub limit: Option<i64>,
    /// Only orders created after this time (RFC 3339).
    pub after: Option<String>,
    /// Only orders created before this time.
    pub until: Option<String>,
    /// `desc` (default) or `asc`, by creation time.
    pub direction: Option<String>,
    /// Comma-separated symbols.
    pub symbols: Option<String>,
}

/// `YYYY-MM-DD`, optionally `THH:MM:SS[.fraction]` and `Z` or `±HH:MM`.
fn is_rfc3339(t: &str) -> bool {
    let b = t.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let date = b.len() >= 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10);
    if !date {
        return false;
    }
    if b.len() == 10 {
        return true;
    }
    let time = b.len() >= 20
        && (b[10] == b'T' || b[10] == b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !time {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z'] => true,
        [s, _, _, b':', _, _] if *s == b'+' || *s == b'-' => {
            digits(i + 1..i + 3) && digits(i + 4..i + 6)
        }
        _ => false,
    }
}

/// `GET /v2/orders`.
#[utoipa::path(get, path = "/v2/orders", tag = "orders", params(ListQuery), responses((status = 200, body = Vec<crate::schema::Order>)))]
pub async fn list(
    State(state): State<TraderState>,
    principal: Principal,
    Query(q): Query<ListQuery>,
) -> Result<axum::response::Response, ApiError> {
    let filter = list_filter(principal.user, &q)?;
    // Read before the page, so that the page is at least as new as its tag (see
    // `crate::pages`).
    let body = match state.store.versions(filter.user).await? {
        Some(v) => {
            let make = || render(&state, &filter);
            state.pages.get_or_make(&filter, v, make).await?
        }
        None => render(&state, &filter).await?,
    };
    Ok(json_body(body))
}

/// The page `filter` asks for, as the answer's body.
async fn render(state: &TraderState, filter: &ListFilter) -> Result<axum::body::Bytes, ApiError> {
    let rows = page(state, filter).await?;
    // A page is mostly one symbol or a few: each asset id worked out once.
    let mut asset_ids: std::collections::HashMap<&str, String> = Default::default();
    let orders: Vec<OrderView> = rows
        .iter()
        .map(|r| {
            let id = asset_ids
                .entry(&r.symbol)
                .or_insert_with(|| asset_id(&r.symbol))
                .clone();
            OrderView::new(r, id)
        })
        .collect();
    // An order is ~700 bytes of JSON: the page's buffer made once, not grown by copies.
    let mut body = Vec::with_capacity(orders.len() * 768 + 2);
    serde_json::to_writer(&mut body, &orders).map_err(ApiError::internal)?;
    Ok(axum::body::Bytes::from(body))
}

/// A JSON answer of `body`.
fn json_body(body: axum::body::Bytes) -> axum::response::Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// A list query of `user`'s, checked: 422 for a value out of its range.
fn list_filter(user: u64, q: &ListQuery) -> Result<ListFilter, ApiError> {
    let status = q.status.as_deref().unwrap_or("open");
    if !matches!(status, "open" | "closed" | "all") {
        return Err(ApiError::unprocessable("status: open, closed or all"));
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::unprocessable("limit: 1 to 500"));
    }
    let ascending = match q.direction.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => return Err(ApiError::unprocessable("direction: asc or desc")),
    };
    let symbols: Vec<String> = q
        .symbols
        .as_deref()
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().to_ascii_uppercase())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let bound = |v: &Option<String>, field: &str| -> Result<Option<String>, ApiError> {
        match v {
            Some(t) if !is_rfc3339(t) => Err(ApiError::unprocessable(format!(
                "{field}: an RFC 3339 time or a date (2026-12-01T09:30:00Z)"
            ))),
            other => Ok(other.clone()),
        }
    };
    let (after, until) = (bound(&q.after, "after")?, bound(&q.until, "until")?);
    // The status filter and the limit in the store, so a page reads about as many rows
    // as it shows, whatever the user's history: an order is open by settlement's status
    // once settlement has caught up with the row's verdict (as `merged` decides), else
    // by the verdict's.
    let which = match status {
        "open" => Which::Open,
        "closed" => Which::Closed,
        _ => Which::All,
    };
    Ok(ListFilter {
        user,
        which,
        symbols,
        after,
        until,
        ascending,
        limit,
    })
}

/// The orders a list query asks for, in its order, at most its limit.
async fn page(state: &TraderState, filter: &ListFilter) -> Result<Vec<OrderRecord>, ApiError> {
    let rows = state.store.list(filter).await?;
    Ok(rows
        .into_iter()
        .filter(|r| {
            let merged = merged(r).0;
            match filter.which {
                Which::Open => OPEN.contains(&merged),
                Which::Closed => !OPEN.contains(&merged),
                Which::All => true,
            }
        })
        .take(filter.limit as usize)
        .collect())
}

/// `PATCH /v2/orders/{id}` body: what changes (absent: as it is).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct Replace {
    /// New total quantity (what has filled counts towards it).
    #[schema(value_type = Option<String>)]
    pub qty: Option<Value>,
    /// New limit price.
    #[schema(value_type = Option<String>)]
    pub limit_price: Option<Value>,
    /// Must stay as it is (the engine keeps an order's time in force).
    pub time_in_force: Option<String>,
    /// New stop price (a held `stop` or `stop_limit` order).
    #[schema(value_type = Option<String>)]
    pub stop_price: Option<Value>,
    /// New trail (a held `trailing_stop` order), in its own unit: dollars for one
    /// entered with `trail_price`, percent for one entered with `trail_percent`.
    #[schema(value_type = Option<String>)]
    pub trail: Option<Value>,
    /// The new order's client id (made if absent).
    pub client_order_id: Option<String>,
}

/// `PATCH /v2/orders/{id}`: the engine replaces the order; the answer is the new order
/// (a new id, `replaces` naming the old one, which becomes `replaced`). A replace at
/// the same price for less keeps time priority; any other loses it. A held
/// conditional order is replaced where it is held (`replace_held`), without the
/// engine.
#[utoipa::path(patch, path = "/v2/orders/{id}", tag = "orders", params(("id" = String, Path, description = "The order id")), request_body = Replace, responses((status = 200, body = crate::schema::Order)))]
pub async fn replace(
    State(state): State<TraderState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<Replace>,
) -> Result<Json<Value>, ApiError> {
    let engine = engine(&state)?;
    let bad = ApiError::unprocessable;
    // The old order as reads show it: its fills so far, settled or from the verdict.
    let old = state
        .store
        .order(principal.user, OrderKey::Id(&id))
        .await?
        .ok_or_else(|| ApiError::not_found("order not found"))?;
    if old.status == "held" && old.order_class == "simple" {
        return replace_held(&state, principal.user, &old, &body).await;
    }
    if body.stop_price.is_some() || body.trail.is_some() {
        return Err(bad("stop_price, trail: for held stop orders only"));
    }
    let (old_token, order_type, tif) = (
        old.token.clone(),
        old.order_type.clone(),
        old.time_in_force.clone(),
    );
    if order_type != "limit" {
        return Err(bad("only limit orders can be replaced"));
    }
    if old.order_class != "simple" {
        return Err(bad(
            "oco and bracket orders are not replaced: cancel and enter a new one",
        ));
    }
    if body.time_in_force.as_ref().is_some_and(|t| *t != tif) {
        return Err(bad("time_in_force: a replace keeps the order's"));
    }
    let qty = match &body.qty {
        Some(v) => parse_fixed("qty", &number_text("qty", v)?, 0)?,
        None => old.qty,
    };
    let price = match &body.limit_price {
        Some(v) => parse_cents("limit_price", &number_text("limit_price", v)?)?,
        None => old.limit_price.unwrap_or(0),
    };
    if qty <= 0 || price <= 0 {
        return Err(bad("qty and limit_price must be positive"));
    }
    let client_order_id = replacement_client_id(&body.client_order_id)?;
    let (new_order, new_token) = (new_id(), new_token());
    let (_, filled, value) = merged(&old);
    let inserted = state
        .store
        .insert_replacement(&Replacement {
            id: new_order.clone(),
            user: principal.user,
            client_order_id,
            token: new_token.clone(),
            symbol: old.symbol.clone(),
            side: old.side.clone(),
            time_in_force: tif,
            qty,
            limit_price: price,
            filled,
            value,
            replaces: id.clone(),
        })
        .await?;
    if !inserted {
        return Err(bad("client_order_id: already used for another order"));
    }
    let reports = engine
        .request(ServiceMsg::ReplaceFor {
            request: 0,
            user: UserId(principal.user),
            token: FixedStr::new(&old_token).map_err(ApiError::internal)?,
            new_token: FixedStr::new(&new_token).map_err(ApiError::internal)?,
            price: Price(price),
            qty: Qty(qty),
        })
        .await
        .map_err(|e| ApiError::unavailable("exchange", e))?;
    let mut o = outcome(&reports, qty);
    if let Some(reason) = o.rejected {
        state.store.delete(&new_order).await?;
        return Err(match reason {
            RejectReason::UnknownOrder => bad("order is not open: it cannot be replaced"),
            other => refusal(other),
        });
    }
    // The new order carries the old one's fills.
    o.filled += filled;
    o.value += value;
    if o.status == "new" && o.filled > 0 {
        o.status = if o.filled >= qty {
            "filled"
        } else {
            "partially_filled"
        };
    }
    state
        .store
        .replaced(&id, &o.verdict(new_order.clone()))
        .await?;
    load(&state, principal.user, OrderKey::Id(&new_order))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::internal("order vanished after replace"))
}

/// A replacement's client order id: the one given (1 to 128 characters), or a new one.
fn replacement_client_id(given: &Option<String>) -> Result<String, ApiError> {
    match given {
        Some(c) if c.is_empty() || c.chars().count() > 128 => Err(ApiError::unprocessable(
            "client_order_id: 1 to 128 characters",
        )),
        Some(c) => Ok(c.clone()),
        None => Ok(new_id()),
    }
}

/// Replaces a held conditional order (`stop`, `stop_limit`, `trailing_stop`) before it
/// fires: a new held order with the new quantity, prices or trail, in the old one's
/// place — whichever of this and the auto service's firing comes first wins (422
/// when the order fired first). A trailing stop keeps its mark.
async fn replace_held(
    state: &TraderState,
    user: u64,
    old: &OrderRecord,
    body: &Replace,
) -> Result<Json<Value>, ApiError> {
    let bad = ApiError::unprocessable;
    if body
        .time_in_force
        .as_ref()
        .is_some_and(|t| *t != old.time_in_force)
    {
        return Err(bad("time_in_force: a replace keeps the order's"));
    }
    let order_type: &'static str = match old.order_type.as_str() {
        "stop" => "stop",
        "stop_limit" => "stop_limit",
        "trailing_stop" => "trailing_stop",
        _ => return Err(bad("only limit and held stop orders can be replaced")),
    };
    let qty = match &body.qty {
        Some(v) => parse_fixed("qty", &number_text("qty", v)?, 0)?,
        None => old.qty,
    };
    if qty <= 0 {
        return Err(bad("qty: must be positive"));
    }
    let limit_price = match (&body.limit_price, order_type) {
        (Some(_), "stop" | "trailing_stop") => {
            return Err(bad("limit_price: not for stop and trailing_stop orders"));
        }
        (Some(_), _) => price_field("limit_price", &body.limit_price)?,
        (None, _) => old.limit_price,
    };
    let mut condition = old.condition;
    if body.stop_price.is_some() {
        if order_type == "trailing_stop" {
            return Err(bad("stop_price: not for trailing_stop orders (give trail)"));
        }
        condition.stop_price = price_field("stop_price", &body.stop_price)?;
    }
    if let Some(trail) = &body.trail {
        if order_type != "trailing_stop" {
            return Err(bad("trail: for trailing_stop orders only"));
        }
        if condition.trail_price.is_some() {
            condition.trail_price = price_field("trail", &body.trail)?;
        } else {
            let ppm = parse_fixed("trail", &number_text("trail", trail)?, 4)?;
            if !(1..100 * 10_000).contains(&ppm) {
                return Err(bad("trail: a percent above 0 and below 100"));
            }
            condition.trail_ppm = Some(ppm);
        }
    }
    let new = crate::writes::Pending {
        id: new_id(),
        user: user as i64,
        client_order_id: replacement_client_id(&body.client_order_id)?,
        token: new_token(),
        symbol: old.symbol.clone(),
        side: if old.side == "buy" { "buy" } else { "sell" },
        order_type,
        time_in_force: old.time_in_force.clone(),
        qty,
        limit_price,
        condition: Some(condition),
        order_class: "simple",
        oco_with: None,
        parent_id: None,
    };
    match state.store.replace_held(&old.id, &new).await? {
        HeldReplace::Done => {}
        HeldReplace::NotHeld => {
            return Err(bad("order is no longer held (it fired or was canceled)"));
        }
        HeldReplace::ClientIdTaken => {
            return Err(bad("client_order_id: already used for another order"));
        }
    }
    load(state, user, OrderKey::Id(&new.id))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::internal("order vanished after replace"))
}

/// `DELETE /v2/orders`: cancels every open order; 207 with each order's outcome
/// (`{"id", "status"}`: 200 canceled, or the error's status).
#[utoipa::path(delete, path = "/v2/orders", tag = "orders", responses((status = 207, body = Vec<crate::schema::CancelOutcome>)))]
pub async fn cancel_all(
    State(state): State<TraderState>,
    principal: Principal,
) -> Result<(StatusCode, Json<Vec<Value>>), ApiError> {
    let open = page(
        &state,
        &list_filter(
            principal.user,
            &ListQuery {
                status: Some("open".into()),
                limit: Some(500),
                after: None,
                until: None,
                direction: None,
                symbols: None,
            },
        )?,
    )
    .await?;
    let mut results = Vec::with_capacity(open.len());
    for order in open {
        let id = order.id;
        let status = match cancel(State(state.clone()), principal.clone(), Path(id.clone())).await {
            Ok(_) => 200,
            Err(e) => e.status.as_u16(),
        };
        results.push(json!({"id": id, "status": status}));
    }
    Ok((StatusCode::MULTI_STATUS, Json(results)))
}

/// `DELETE /v2/orders/{id}`: 204 once the engine canceled it; 404 for no such order
/// (or another user's); 422 when it is no longer open.
#[utoipa::path(delete, path = "/v2/orders/{id}", tag = "orders", params(("id" = String, Path, description = "The order id")), responses((status = 204, description = "Canceled")))]
pub async fn cancel(
    State(state): State<TraderState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let engine = engine(&state)?;
    let found = state
        .store
        .token(principal.user, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("order not found"))?;
    let canceled = cancel_one(&state, engine, principal.user, &id, &found).await?;
    // A bracket's or an oto's entry canceled: its exits, still waiting, go too.
    if matches!(found.order_class.as_str(), "bracket" | "oto") {
        for leg in state.store.legs(principal.user, &id).await? {
            if leg.status == "held" {
                state.store.cancel_held(&leg.id).await?;
            }
        }
    }
    // One leg of a one-cancels-other pair canceled: the other goes too.
    if let Some(other) = found.oco_with.as_deref()
        && let Some(o) = state.store.token(principal.user, other).await?
        && let Err(e) = cancel_one(&state, engine, principal.user, other, &o).await
        && e.status != StatusCode::UNPROCESSABLE_ENTITY
    {
        tracing::warn!(order = other, "canceling an oco leg: {}", e.message);
    }
    Ok(canceled)
}

/// Cancels one order: a held one where it is held, unless the auto service fired it
/// first — then it is in the engine, and canceled there like any other.
async fn cancel_one(
    state: &TraderState,
    engine: &GatewayClient,
    user: u64,
    id: &str,
    found: &crate::store::TokenStatus,
) -> Result<StatusCode, ApiError> {
    if found.status == "held" && state.store.cancel_held(id).await? {
        return Ok(StatusCode::NO_CONTENT);
    }
    let reports = engine
        .request(ServiceMsg::CancelFor {
            request: 0,
            user: UserId(user),
            token: FixedStr::new(&found.token).map_err(ApiError::internal)?,
        })
        .await
        .map_err(|e| ApiError::unavailable("exchange", e))?;
    for r in &reports {
        match r.msg {
            ServerMsg::Canceled { seq, .. } => {
                state.store.canceled(id, seq as i64).await?;
                return Ok(StatusCode::NO_CONTENT);
            }
            ServerMsg::Rejected {
                reason: RejectReason::UnknownOrder,
                ..
            } => {
                return Err(ApiError::unprocessable(
                    "order is not open: it cannot be canceled",
                ));
            }
            ServerMsg::Rejected { reason, .. } => return Err(refusal(reason)),
            _ => {}
        }
    }
    Err(ApiError::internal("no verdict in the cancel's reports"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_dates() {
        for ok in [
            "2026-12-01",
            "2026-12-01T09:30:00Z",
            "2026-12-01T09:30:00.123Z",
            "2026-12-01T09:30:00+01:00",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "yesterday",
            "2026-12-1",
            "2026-12-01T09:30Z",
            "2026-12-01T09:30:00",
            "2026-12-01T09:30:00.Z",
            "now",
            "",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }

    #[test]
    fn ids_look_like_uuids_and_tokens_fit_the_engine() {
        let id = new_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(new_id(), id);
        let t = new_token();
        assert_eq!(t.len(), 16);
        assert!(FixedStr::new(&t).is_ok());
    }
}
