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
//! # Reads
//! Each read joins the row with the order service's `orders` (by user and token):
//! settlement, when it has seen an event newer than the row's verdict, is the truth;
//! until then the verdict is.

use axum::extract::State;
use axum::http::StatusCode;
use bourse_core::{
    CancelReason, FixedStr, OrderType, Price, Qty, RejectReason, Side, TimeInForce, UserId,
};
use bourse_gateway::protocol::{EnterOrder, ForRequest, ServerMsg, ServiceMsg};
use bourse_gateway_client::GatewayClient;
use bourse_shell::ApiError;
use bourse_shell::auth::{Principal, random_bytes};
use bourse_shell::extract::{Json, Path, Query};
use bourse_shell::ids::uuid_text;
use bourse_shell::money::{format_cents, parse_cents, parse_fixed};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_postgres::Row;

use crate::TraderState;

/// `POST /v2/orders` body (Alpaca's field names; numbers as strings or JSON numbers).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
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
    /// `market`, `limit` (`stop`, `stop_limit`, `trailing_stop`: not yet, 422).
    #[serde(rename = "type")]
    pub order_type: String,
    /// `day`, `gtc`, `ioc`, `fok`.
    pub time_in_force: String,
    /// Limit price (limit orders only).
    #[schema(value_type = Option<String>)]
    pub limit_price: Option<Value>,
    /// Stop price.
    #[schema(value_type = Option<String>)]
    pub stop_price: Option<Value>,
    /// Trailing amount.
    #[schema(value_type = Option<String>)]
    pub trail_price: Option<Value>,
    /// Trailing percent.
    #[schema(value_type = Option<String>)]
    pub trail_percent: Option<Value>,
    /// Extended hours (the exchange has none: must be false).
    #[serde(default)]
    pub extended_hours: bool,
    /// The client's id for the order (at most 128 characters); made if absent.
    pub client_order_id: Option<String>,
    /// `simple` (or absent); brackets and others: not yet, 422.
    pub order_class: Option<String>,
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

/// A random UUID (version 4).
pub fn new_id() -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&random_bytes(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid_text(&b)
}

/// A fresh engine token: 16 characters, random.
fn new_token() -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::iter::once('H')
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
    order_type: OrderType,
    tif: TimeInForce,
    qty: i64,
    limit_price: Option<i64>,
    client_order_id: String,
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
    let order_type = match o.order_type.as_str() {
        "market" => OrderType::Market,
        "limit" => OrderType::Limit,
        "stop" | "stop_limit" | "trailing_stop" => {
            return Err(bad(
                "type: stop, stop_limit and trailing_stop orders are held by the auto service, which this exchange does not run yet",
            ));
        }
        _ => return Err(bad("type: market or limit")),
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
    if o.stop_price.is_some() || o.trail_price.is_some() || o.trail_percent.is_some() {
        return Err(bad(
            "stop_price, trail_price and trail_percent go with stop orders only",
        ));
    }
    if o.extended_hours {
        return Err(bad("extended_hours: the exchange has no extended hours"));
    }
    if !matches!(o.order_class.as_deref(), None | Some("") | Some("simple")) {
        return Err(bad("order_class: only simple orders for now"));
    }
    let qty = o
        .qty
        .as_ref()
        .ok_or_else(|| bad("qty: required"))
        .and_then(|v| parse_fixed("qty", &number_text("qty", v)?, 0))?;
    if qty <= 0 {
        return Err(bad("qty: must be positive"));
    }
    let limit_price = match (order_type, &o.limit_price) {
        (OrderType::Limit, Some(v)) => {
            let p = parse_cents("limit_price", &number_text("limit_price", v)?)?;
            if p <= 0 {
                return Err(bad("limit_price: must be positive"));
            }
            Some(p)
        }
        (OrderType::Limit, None) => return Err(bad("limit_price: required for limit orders")),
        (OrderType::Market, Some(_)) => return Err(bad("limit_price: not for market orders")),
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
        order_type,
        tif,
        qty,
        limit_price,
        client_order_id,
    })
}

/// What the engine's reports say about an order just entered.
#[derive(Debug, Default, PartialEq, Eq)]
struct Outcome {
    status: &'static str,
    filled: i64,
    value: i64,
    order_seq: Option<i64>,
    known_seq: i64,
    rejected: Option<RejectReason>,
}

fn outcome(reports: &[ForRequest], qty: i64) -> Outcome {
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

/// The columns every read selects: the row, and settlement's view of its token.
pub(crate) const SELECT: &str =
    "SELECT t.id, t.client_order_id, t.symbol, t.side, t.type, t.time_in_force,
        t.qty, t.limit_price, t.status, t.filled_qty, t.filled_value, t.known_seq,
        to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),
        to_char(t.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),
        o.status, o.filled, o.updated_seq, o.reason,
        t.carried_value + COALESCE((SELECT sum(x.price * x.qty)::BIGINT FROM trades x
          WHERE x.buy_order_seq = o.order_seq OR x.sell_order_seq = o.order_seq), 0),
        t.replaces, t.replaced_by, t.token
     FROM trader_orders t
     LEFT JOIN orders o ON o.user_id = t.user_id AND o.client_id = t.token";

/// An order's status, filled quantity and fill value: settlement's, once it has seen
/// an event at or after the row's verdict; the verdict's until then.
fn merged(r: &Row) -> (String, i64, i64) {
    let mut status: String = r.get(8);
    let mut filled: i64 = r.get(9);
    let mut value: i64 = r.get(10);
    let known: i64 = r.get(11);
    if let (Some(s), Some(f), Some(u)) = (
        r.get::<_, Option<String>>(14),
        r.get::<_, Option<i64>>(15),
        r.get::<_, Option<i64>>(16),
    ) && u >= known
    {
        let reason: Option<String> = r.get(17);
        status = match (s.as_str(), f) {
            ("open", 0) => "new".into(),
            ("open", _) => "partially_filled".into(),
            ("canceled", _) if reason.as_deref() == Some("expired") => "expired".into(),
            (other, _) => other.into(),
        };
        filled = f;
        value = r.get::<_, Option<i64>>(18).unwrap_or(value);
    }
    (status, filled, value)
}

/// An order row as Alpaca's order object.
pub(crate) fn order_json(r: &Row) -> Value {
    let qty: i64 = r.get(6);
    let updated: String = r.get(13);
    let (status, filled, value) = merged(r);
    let created: String = r.get(12);
    let avg = (filled > 0).then(|| format_cents(value / filled));
    let at = |wanted: &[&str]| wanted.contains(&status.as_str()).then(|| updated.clone());
    let order_type: String = r.get(4);
    json!({
        "id": r.get::<_, String>(0),
        "client_order_id": r.get::<_, String>(1),
        "created_at": created,
        "updated_at": updated,
        "submitted_at": created,
        "filled_at": at(&["filled"]),
        "expired_at": at(&["expired"]),
        "canceled_at": at(&["canceled"]),
        "failed_at": at(&["rejected"]),
        "replaced_at": at(&["replaced"]),
        "replaced_by": r.get::<_, Option<String>>(20),
        "replaces": r.get::<_, Option<String>>(19),
        "asset_id": asset_id(&r.get::<_, String>(2)),
        "symbol": r.get::<_, String>(2),
        "asset_class": "us_equity",
        "notional": null,
        "qty": qty.to_string(),
        "filled_qty": filled.to_string(),
        "filled_avg_price": avg,
        "order_class": "simple",
        "order_type": order_type,
        "type": order_type,
        "side": r.get::<_, String>(3),
        "time_in_force": r.get::<_, String>(5),
        "limit_price": r.get::<_, Option<i64>>(7).map(format_cents),
        "stop_price": null,
        "status": status,
        "extended_hours": false,
        "legs": null,
        "trail_percent": null,
        "trail_price": null,
        "hwm": null,
    })
}

/// An asset's id: the stock service's, from its symbol.
pub fn asset_id(symbol: &str) -> String {
    bourse_stock::assets::asset_id(symbol)
}

/// One of `user`'s orders by `column`, on a connection the caller holds (a handler
/// never holds two pooled connections at once: under load that deadlocks the pool).
pub(crate) async fn load(
    client: &deadpool_postgres::Client,
    user: u64,
    column: &str,
    key: &str,
) -> Result<Option<Value>, ApiError> {
    let row = client
        .query_opt(
            &client
                .prepare_cached(&format!(
                    "{SELECT} WHERE t.user_id = $1 AND t.{column} = $2"
                ))
                .await?,
            &[&(user as i64), &key],
        )
        .await?;
    Ok(row.as_ref().map(order_json))
}

/// `POST /v2/orders`.
#[utoipa::path(post, path = "/v2/orders", tag = "orders", request_body = NewOrder, responses((status = 200, body = crate::schema::Order)))]
pub async fn create(
    State(state): State<TraderState>,
    principal: Principal,
    Json(body): Json<NewOrder>,
) -> Result<Json<Value>, ApiError> {
    let c = check(&body)?;
    let engine = engine(&state)?;
    state.suspensions.check(c.symbol.as_str()).await?;
    let (id, token) = (new_id(), new_token());
    let side = if c.side == Side::Buy { "buy" } else { "sell" };
    let order_type = if c.order_type == OrderType::Limit {
        "limit"
    } else {
        "market"
    };
    let inserted = state
        .writes
        .insert(crate::writes::Pending {
            id: id.clone(),
            user: principal.user as i64,
            client_order_id: c.client_order_id.clone(),
            token: token.clone(),
            symbol: c.symbol.as_str().to_string(),
            side,
            order_type,
            time_in_force: body.time_in_force.clone(),
            qty: c.qty,
            limit_price: c.limit_price,
        })
        .await?;
    if !inserted {
        // The same client_order_id again: the order that exists, never a second one.
        let client = state.pool.get().await?;
        return load(
            &client,
            principal.user,
            "client_order_id",
            &c.client_order_id,
        )
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::conflict("client_order_id in use"));
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
    let order = state
        .writes
        .finish(crate::writes::Verdict {
            id,
            status: o.status,
            filled: o.filled,
            value: o.value,
            order_seq: o.order_seq,
            known_seq: o.known_seq,
            reject_reason: o.rejected.map(RejectReason::as_str),
        })
        .await?;
    if let Some(reason) = o.rejected {
        return Err(refusal(reason));
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
    let client = state.pool.get().await?;
    load(&client, principal.user, "id", &id)
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
    let client = state.pool.get().await?;
    load(
        &client,
        principal.user,
        "client_order_id",
        &q.client_order_id,
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

const OPEN: [&str; 5] = [
    "new",
    "partially_filled",
    "pending_new",
    "pending_replace",
    "accepted",
];

/// `GET /v2/orders`.
#[utoipa::path(get, path = "/v2/orders", tag = "orders", params(ListQuery), responses((status = 200, body = Vec<crate::schema::Order>)))]
pub async fn list(
    State(state): State<TraderState>,
    principal: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let status = q.status.as_deref().unwrap_or("open");
    if !matches!(status, "open" | "closed" | "all") {
        return Err(ApiError::unprocessable("status: open, closed or all"));
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::unprocessable("limit: 1 to 500"));
    }
    let direction = match q.direction.as_deref() {
        None | Some("desc") => "DESC",
        Some("asc") => "ASC",
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
    // The status filter and the limit in SQL, so a page reads about as many rows as it
    // shows, whatever the user's history: an order is open by settlement's status once
    // settlement has caught up with the row's verdict (as `merged` decides), else by
    // the verdict's.
    let open_list: Vec<&str> = OPEN.to_vec();
    let client = state.pool.get().await?;
    // Open orders are found through indexes, not by walking the user's history: the
    // candidates (an array, so that each is one primary key probe) are settlement's
    // open orders, the rows whose verdict is newer than
    // settlement's position (the account stream is settled in order, so every other
    // row's settled state is current), and rows with no verdict yet; the filter below
    // then decides each as `merged` does.
    let candidates = if status == "open" {
        "AND t.id = ANY(ARRAY(
           SELECT t2.id FROM orders o2
             JOIN trader_orders t2 ON t2.user_id = o2.user_id AND t2.token = o2.client_id
            WHERE o2.user_id = $1 AND o2.status = 'open'
           UNION
           SELECT id FROM trader_orders WHERE user_id = $1
              AND known_seq > (SELECT seq FROM settlement_position WHERE id = 1)
           UNION
           SELECT id FROM trader_orders WHERE user_id = $1 AND known_seq = 0))"
    } else {
        ""
    };
    // The page is chosen first (ids only), then only its rows are read in full: the
    // fill value's subquery runs for the rows shown, not for every candidate.
    let sql = format!(
        "{SELECT}
         JOIN (SELECT t.id, t.created_at FROM trader_orders t
                 LEFT JOIN orders o ON o.user_id = t.user_id AND o.client_id = t.token
                WHERE t.user_id = $1 {candidates}
                  AND (cardinality($2::TEXT[]) = 0 OR t.symbol = ANY($2))
                  AND ($3::TEXT IS NULL OR t.created_at > $3::TIMESTAMPTZ)
                  AND ($4::TEXT IS NULL OR t.created_at < $4::TIMESTAMPTZ)
                  AND ($5::TEXT = 'all' OR (CASE WHEN o.updated_seq >= t.known_seq
                                                 THEN o.status = 'open'
                                                 ELSE t.status = ANY($6) END) = ($5::TEXT = 'open'))
                ORDER BY t.created_at {direction}, t.id LIMIT $7) page ON page.id = t.id
         ORDER BY t.created_at {direction}, t.id"
    );
    let rows = client
        .query(
            &client.prepare_cached(&sql).await?,
            &[
                &(principal.user as i64),
                &symbols,
                &after,
                &until,
                &status,
                &open_list,
                &limit,
            ],
        )
        .await
        .map_err(|e| match e.code() {
            Some(c) if c.code().starts_with("22") => {
                ApiError::unprocessable("after/until: an RFC 3339 time")
            }
            _ => ApiError::from(e),
        })?;
    let orders = rows
        .iter()
        .map(order_json)
        .filter(|o| {
            let s = o["status"].as_str().unwrap_or("");
            match status {
                "open" => OPEN.contains(&s),
                "closed" => !OPEN.contains(&s),
                _ => true,
            }
        })
        .take(limit as usize)
        .collect();
    Ok(Json(orders))
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
    /// Stop orders are not entered here.
    #[schema(value_type = Option<String>)]
    pub stop_price: Option<Value>,
    /// Stop orders are not entered here.
    #[schema(value_type = Option<String>)]
    pub trail: Option<Value>,
    /// The new order's client id (made if absent).
    pub client_order_id: Option<String>,
}

/// `PATCH /v2/orders/{id}`: the engine replaces the order; the answer is the new order
/// (a new id, `replaces` naming the old one, which becomes `replaced`). A replace at
/// the same price for less keeps time priority; any other loses it.
#[utoipa::path(patch, path = "/v2/orders/{id}", tag = "orders", params(("id" = String, Path, description = "The order id")), request_body = Replace, responses((status = 200, body = crate::schema::Order)))]
pub async fn replace(
    State(state): State<TraderState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<Replace>,
) -> Result<Json<Value>, ApiError> {
    let engine = engine(&state)?;
    let bad = ApiError::unprocessable;
    if body.stop_price.is_some() || body.trail.is_some() {
        return Err(bad("stop_price, trail: not for these orders"));
    }
    let client = state.pool.get().await?;
    // The old order as reads show it: its fills so far, settled or from the verdict.
    let old = client
        .query_opt(
            &client
                .prepare_cached(&format!("{SELECT} WHERE t.id = $2 AND t.user_id = $1"))
                .await?,
            &[&(principal.user as i64), &id],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("order not found"))?;
    let (old_token, order_type, tif): (String, String, String) =
        (old.get(21), old.get(4), old.get(5));
    if order_type != "limit" {
        return Err(bad("only limit orders can be replaced"));
    }
    if body.time_in_force.as_ref().is_some_and(|t| *t != tif) {
        return Err(bad("time_in_force: a replace keeps the order's"));
    }
    let qty = match &body.qty {
        Some(v) => parse_fixed("qty", &number_text("qty", v)?, 0)?,
        None => old.get(6),
    };
    let price = match &body.limit_price {
        Some(v) => parse_cents("limit_price", &number_text("limit_price", v)?)?,
        None => old.get::<_, Option<i64>>(7).unwrap_or(0),
    };
    if qty <= 0 || price <= 0 {
        return Err(bad("qty and limit_price must be positive"));
    }
    let client_order_id = match &body.client_order_id {
        Some(c) if c.is_empty() || c.chars().count() > 128 => {
            return Err(bad("client_order_id: 1 to 128 characters"));
        }
        Some(c) => c.clone(),
        None => new_id(),
    };
    let (new_order, new_token) = (new_id(), new_token());
    let (_, filled, value) = merged(&old);
    let inserted = client
        .execute(&client.prepare_cached("INSERT INTO trader_orders (id, user_id, client_order_id, token, symbol, side, type,
                 time_in_force, qty, limit_price, status, filled_qty, filled_value, carried_value, replaces)
             VALUES ($1, $2, $3, $4, $5, $6, 'limit', $7, $8, $9, 'pending_replace', $10, $11, $11, $12)
             ON CONFLICT (user_id, client_order_id) DO NOTHING").await?,
            &[
                &new_order,
                &(principal.user as i64),
                &client_order_id,
                &new_token,
                &old.get::<_, String>(2),
                &old.get::<_, String>(3),
                &tif,
                &qty,
                &price,
                &filled,
                &value,
                &id,
            ],
        )
        .await?;
    if inserted == 0 {
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
        client
            .execute(
                &client
                    .prepare_cached("DELETE FROM trader_orders WHERE id = $1")
                    .await?,
                &[&new_order],
            )
            .await?;
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
    client
        .execute(
            &client
                .prepare_cached(
                    "UPDATE trader_orders SET status = 'replaced', replaced_by = $2,
                 known_seq = GREATEST(known_seq, $3), updated_at = clock_timestamp()
             WHERE id = $1",
                )
                .await?,
            &[&id, &new_order, &o.known_seq],
        )
        .await?;
    client
        .execute(
            &client
                .prepare_cached(
                    "UPDATE trader_orders SET status = $2, filled_qty = $3, filled_value = $4,
                 order_seq = $5, known_seq = $6, updated_at = clock_timestamp()
             WHERE id = $1",
                )
                .await?,
            &[
                &new_order,
                &o.status,
                &o.filled,
                &o.value,
                &o.order_seq,
                &o.known_seq,
            ],
        )
        .await?;
    load(&client, principal.user, "id", &new_order)
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
    let Json(open) = list(
        State(state.clone()),
        principal.clone(),
        Query(ListQuery {
            status: Some("open".into()),
            limit: Some(500),
            after: None,
            until: None,
            direction: None,
            symbols: None,
        }),
    )
    .await?;
    let mut results = Vec::with_capacity(open.len());
    for order in open {
        let id = order["id"].as_str().unwrap_or_default().to_string();
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
    let client = state.pool.get().await?;
    let row = client
        .query_opt(
            &client
                .prepare_cached("SELECT token FROM trader_orders WHERE id = $1 AND user_id = $2")
                .await?,
            &[&id, &(principal.user as i64)],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("order not found"))?;
    let token: String = row.get(0);
    let reports = engine
        .request(ServiceMsg::CancelFor {
            request: 0,
            user: UserId(principal.user),
            token: FixedStr::new(&token).map_err(ApiError::internal)?,
        })
        .await
        .map_err(|e| ApiError::unavailable("exchange", e))?;
    for r in &reports {
        match r.msg {
            ServerMsg::Canceled { seq, .. } => {
                client
                    .execute(&client.prepare_cached("UPDATE trader_orders SET status = 'canceled', known_seq = GREATEST(known_seq, $2),
                             updated_at = clock_timestamp() WHERE id = $1").await?,
                        &[&id, &(seq as i64)],
                    )
                    .await?;
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
