//! Market data over HTTP in the Alpaca Market Data API v2's shapes: latest trades and
//! quotes, historical trades and bars with `page_token` paging, snapshots, and the
//! order book (`orderbooks`, in the shape Alpaca uses for its crypto books).
//!
//! Alpaca's market data carries prices as JSON numbers (its SDKs read floats), so here
//! they leave as numbers too: cents are integers inside and are printed as the shortest
//! decimal that reads back as the same value (`10125` → `101.25`, exact for every price
//! below 2^53 cents). Sizes are whole shares. Times are RFC 3339 in UTC with
//! nanoseconds: the journal's time of the trade's command.

use std::collections::BTreeMap;

use axum::extract::State;
use bourse_shell::ApiError;
use bourse_shell::auth::Principal;
use bourse_shell::extract::{Json, Path, Query};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::StockState;
use crate::bars::Timeframe;
use crate::store::{BarRow, PageQuery, TradeRow};

/// The venue code on trades and quotes.
pub const VENUE: &str = "BOURSE";

/// Most rows per page.
pub const MAX_LIMIT: i64 = 10_000;

/// A price in cents as Alpaca's market data prints it: a JSON number in dollars.
pub fn price(cents: i64) -> Value {
    serde_json::Number::from_f64(cents as f64 / 100.0).map_or(Value::Null, Value::Number)
}

/// Nanoseconds since the Unix epoch as RFC 3339 (UTC).
pub fn rfc3339(time_ns: i64) -> String {
    Timestamp::from_nanosecond(i128::from(time_ns))
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_string()
}

/// Reads `start`/`end`: RFC 3339, or a date (midnight in the exchange's zone).
pub fn parse_time(field: &str, text: &str) -> Result<i64, ApiError> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t.as_nanosecond() as i64);
    }
    if let Ok(d) = text.parse::<jiff::civil::Date>()
        && let Ok(z) = d.to_zoned_datetime(crate::calendar::tz())
    {
        return Ok(z.timestamp().as_nanosecond() as i64);
    }
    Err(ApiError::unprocessable(format!(
        "{field}: an RFC 3339 time or a YYYY-MM-DD date is required (got {text:?})"
    )))
}

/// The `symbols` list of a multi-symbol request.
fn symbols(list: Option<&str>) -> Result<Vec<String>, ApiError> {
    let list = list.unwrap_or("");
    let out: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if out.is_empty() {
        return Err(ApiError::bad_request(
            "symbols: at least one symbol is required",
        ));
    }
    if out.len() > 1_000 {
        return Err(ApiError::bad_request("symbols: at most 1000"));
    }
    Ok(out)
}

/// The listed instruments among `wanted`.
async fn listed(state: &StockState, wanted: &[String]) -> Result<Vec<String>, ApiError> {
    state.store.listed_among(wanted).await
}

/// One listed symbol, or 404.
async fn one(state: &StockState, symbol: &str) -> Result<(), ApiError> {
    if listed(state, &[symbol.to_string()]).await?.is_empty() {
        return Err(ApiError::not_found(format!("unknown symbol {symbol}")));
    }
    Ok(())
}

fn trade_json(seq: i64, price_cents: i64, qty: i64, time_ns: i64) -> Value {
    json!({"t": rfc3339(time_ns), "x": VENUE, "p": price(price_cents), "s": qty,
           "c": [], "i": seq, "z": ""})
}

/// The latest trade of each of `symbols` that has traded.
async fn latest_trades(
    state: &StockState,
    symbols: &[String],
) -> Result<BTreeMap<String, Value>, ApiError> {
    Ok(state
        .store
        .latest_trades(symbols)
        .await?
        .into_iter()
        .map(|t| (t.symbol.clone(), trade_row_json(&t)))
        .collect())
}

fn quote_json(state: &StockState, symbol: &str) -> Option<Value> {
    let v = state.book.view(symbol)?;
    let side = |l: Option<&bourse_feeds::Level>| l.map_or((0, 0), |l| (l.price, l.qty));
    let (bp, bs) = side(v.bids.first());
    let (ap, r#as) = side(v.asks.first());
    Some(
        json!({"t": rfc3339(v.time_ns), "ax": VENUE, "ap": price(ap), "as": r#as,
                "bx": VENUE, "bp": price(bp), "bs": bs, "c": [], "z": ""}),
    )
}

fn book_json(state: &StockState, symbol: &str) -> Option<Value> {
    let v = state.book.view(symbol)?;
    let levels = |ls: &[bourse_feeds::Level]| -> Vec<Value> {
        ls.iter()
            .map(|l| json!({"p": price(l.price), "s": l.qty}))
            .collect()
    };
    Some(json!({"t": rfc3339(v.time_ns), "b": levels(&v.bids), "a": levels(&v.asks)}))
}

/// `?symbols=A,B` of the latest-value routes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SymbolsQuery {
    /// Comma-separated tickers.
    #[param(required = true, example = "ACME")]
    pub symbols: Option<String>,
}

/// `GET /v2/stocks/trades/latest?symbols=`.
#[utoipa::path(get, path = "/v2/stocks/trades/latest", tag = "market data", params(SymbolsQuery), responses((status = 200, body = crate::schema::LatestTrades)))]
pub async fn latest_trades_multi(
    State(state): State<StockState>,
    _principal: Principal,
    Query(q): Query<SymbolsQuery>,
) -> Result<Json<Value>, ApiError> {
    let wanted = symbols(q.symbols.as_deref())?;
    Ok(Json(
        json!({"trades": latest_trades(&state, &wanted).await?}),
    ))
}

/// `GET /v2/stocks/{symbol}/trades/latest`.
#[utoipa::path(get, path = "/v2/stocks/{symbol}/trades/latest", tag = "market data", params(("symbol" = String, Path, description = "Ticker", example = "ACME")), responses((status = 200, body = crate::schema::LatestTrade)))]
pub async fn latest_trade(
    State(state): State<StockState>,
    _principal: Principal,
    Path(symbol): Path<String>,
) -> Result<Json<Value>, ApiError> {
    one(&state, &symbol).await?;
    let mut trades = latest_trades(&state, std::slice::from_ref(&symbol)).await?;
    let trade = trades
        .remove(&symbol)
        .ok_or_else(|| ApiError::not_found(format!("no trade in {symbol} yet")))?;
    Ok(Json(json!({"symbol": symbol, "trade": trade})))
}

/// `GET /v2/stocks/quotes/latest?symbols=`: the best bid and ask now (0 for an empty
/// side); symbols whose book is not known yet are left out.
#[utoipa::path(get, path = "/v2/stocks/quotes/latest", tag = "market data", params(SymbolsQuery), responses((status = 200, body = crate::schema::LatestQuotes)))]
pub async fn latest_quotes_multi(
    State(state): State<StockState>,
    _principal: Principal,
    Query(q): Query<SymbolsQuery>,
) -> Result<Json<Value>, ApiError> {
    let wanted = symbols(q.symbols.as_deref())?;
    let quotes: BTreeMap<String, Value> = listed(&state, &wanted)
        .await?
        .into_iter()
        .filter_map(|s| quote_json(&state, &s).map(|q| (s, q)))
        .collect();
    Ok(Json(json!({"quotes": quotes})))
}

/// `GET /v2/stocks/{symbol}/quotes/latest`.
#[utoipa::path(get, path = "/v2/stocks/{symbol}/quotes/latest", tag = "market data", params(("symbol" = String, Path, description = "Ticker", example = "ACME")), responses((status = 200, body = crate::schema::LatestQuote)))]
pub async fn latest_quote(
    State(state): State<StockState>,
    _principal: Principal,
    Path(symbol): Path<String>,
) -> Result<Json<Value>, ApiError> {
    one(&state, &symbol).await?;
    let quote = quote_json(&state, &symbol).ok_or_else(no_book(&symbol))?;
    Ok(Json(json!({"symbol": symbol, "quote": quote})))
}

fn no_book(symbol: &str) -> impl FnOnce() -> ApiError + '_ {
    move || {
        ApiError::unavailable(
            "market data feed",
            format!("the book of {symbol} is not known yet"),
        )
    }
}

/// `GET /v2/stocks/orderbooks/latest?symbols=`: the top levels of each book.
#[utoipa::path(get, path = "/v2/stocks/orderbooks/latest", tag = "market data", params(SymbolsQuery), responses((status = 200, body = crate::schema::Orderbooks)))]
pub async fn orderbooks(
    State(state): State<StockState>,
    _principal: Principal,
    Query(q): Query<SymbolsQuery>,
) -> Result<Json<Value>, ApiError> {
    let wanted = symbols(q.symbols.as_deref())?;
    let books: BTreeMap<String, Value> = listed(&state, &wanted)
        .await?
        .into_iter()
        .filter_map(|s| book_json(&state, &s).map(|b| (s, b)))
        .collect();
    Ok(Json(json!({"orderbooks": books})))
}

/// Paging and range parameters of the historical routes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Comma-separated tickers (multi-symbol routes).
    pub symbols: Option<String>,
    /// Bars: `1Min`, `5Min`, `1Hour`, `1Day`.
    pub timeframe: Option<String>,
    /// From (inclusive).
    pub start: Option<String>,
    /// To (inclusive).
    pub end: Option<String>,
    /// Rows per page, 1–10000 (default 1000).
    pub limit: Option<i64>,
    /// Where the previous page ended.
    pub page_token: Option<String>,
    /// `asc` (default) or `desc`, by time within each symbol.
    pub sort: Option<String>,
}

/// What a range request asks for, checked.
struct Range {
    start: i64,
    end: i64,
    limit: i64,
    desc: bool,
    after: Option<(String, i64)>,
}

impl Range {
    fn read(q: &RangeQuery) -> Result<Range, ApiError> {
        let limit = q.limit.unwrap_or(1_000);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::unprocessable(format!(
                "limit: 1 to {MAX_LIMIT} (got {limit})"
            )));
        }
        let desc = match q.sort.as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(ApiError::unprocessable(format!(
                    "sort: asc or desc (got {other:?})"
                )));
            }
        };
        let start = q
            .start
            .as_deref()
            .map(|s| parse_time("start", s))
            .transpose()?;
        let end = q.end.as_deref().map(|s| parse_time("end", s)).transpose()?;
        let after = q.page_token.as_deref().map(decode_token).transpose()?;
        Ok(Range {
            start: start.unwrap_or(i64::MIN),
            end: end.unwrap_or(i64::MAX),
            limit,
            desc,
            after,
        })
    }
}

/// A page token: where the last page ended, hex-encoded (opaque to clients).
fn encode_token(symbol: &str, key: i64) -> String {
    format!("{symbol}:{key}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_token(token: &str) -> Result<(String, i64), ApiError> {
    let bad = || ApiError::bad_request("page_token: not a token this service gave out");
    if !token.len().is_multiple_of(2) || token.len() > 200 {
        return Err(bad());
    }
    let bytes: Vec<u8> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (symbol, key) = text.rsplit_once(':').ok_or_else(bad)?;
    Ok((symbol.to_string(), key.parse().map_err(|_| bad())?))
}

fn bar_json(r: &BarRow) -> Value {
    let (volume, vwap) = (r.volume, r.vwap);
    json!({"t": rfc3339(r.start_ns), "o": price(r.open), "h": price(r.high),
           "l": price(r.low), "c": price(r.close), "v": volume,
           "n": r.trades,
           "vw": serde_json::Number::from_f64((vwap / 100.0 * 1e4).round() / 1e4)
               .map_or(Value::Null, Value::Number)})
}

/// A page of rows per symbol, and the token for the next page.
type Page = (BTreeMap<String, Vec<Value>>, Option<String>);

/// The page `q` asks for, as the store reads it.
fn page_query(wanted: &[String], q: &RangeQuery) -> Result<(PageQuery, i64), ApiError> {
    let range = Range::read(q)?;
    Ok((
        PageQuery {
            symbols: wanted.to_vec(),
            start: range.start,
            end: range.end,
            after: range.after,
            desc: range.desc,
            limit: range.limit,
        },
        range.limit,
    ))
}

async fn trades_page(
    state: &StockState,
    wanted: &[String],
    q: &RangeQuery,
) -> Result<Page, ApiError> {
    let (query, limit) = page_query(wanted, q)?;
    let rows = state.store.trades(&query).await?;
    Ok(paginate(
        &rows,
        limit,
        |t| (&t.symbol, t.seq),
        trade_row_json,
    ))
}

async fn bars_page(
    state: &StockState,
    wanted: &[String],
    q: &RangeQuery,
) -> Result<Page, ApiError> {
    let tf_name = q
        .timeframe
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("timeframe: required (1Min, 5Min, 1Hour, 1Day)"))?;
    let tf = Timeframe::parse(tf_name).ok_or_else(|| {
        ApiError::unprocessable(format!(
            "timeframe: 1Min, 5Min, 1Hour or 1Day (got {tf_name:?})"
        ))
    })?;
    let (query, limit) = page_query(wanted, q)?;
    let rows = state.store.bars(&query, tf.as_str()).await?;
    Ok(paginate(
        &rows,
        limit,
        |b| (&b.symbol, b.start_ns),
        bar_json,
    ))
}

/// Rows (`limit` + 1 read, to tell whether more follow) as a page: by symbol, with the
/// token of the last row shown when more follow. `key` is a row's (symbol, key).
fn paginate<R>(
    rows: &[R],
    limit: i64,
    key: fn(&R) -> (&String, i64),
    to_json: fn(&R) -> Value,
) -> Page {
    let more = rows.len() as i64 > limit;
    let page = &rows[..rows.len().min(limit as usize)];
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in page {
        out.entry(key(r).0.clone()).or_default().push(to_json(r));
    }
    let token = more.then(|| page.last()).flatten().map(|r| {
        let (symbol, k) = key(r);
        encode_token(symbol, k)
    });
    (out, token)
}

/// What a historical route pages through.
#[derive(Clone, Copy)]
enum History {
    Bars,
    Trades,
}

impl History {
    fn name(self) -> &'static str {
        match self {
            History::Bars => "bars",
            History::Trades => "trades",
        }
    }

    async fn page(
        self,
        state: &StockState,
        wanted: &[String],
        q: &RangeQuery,
    ) -> Result<Page, ApiError> {
        match self {
            History::Bars => bars_page(state, wanted, q).await,
            History::Trades => trades_page(state, wanted, q).await,
        }
    }

    /// `{name: {symbol: [...]}, next_page_token}`.
    async fn multi(self, state: &StockState, q: &RangeQuery) -> Result<Json<Value>, ApiError> {
        let wanted = symbols(q.symbols.as_deref())?;
        let (rows, token) = self.page(state, &wanted, q).await?;
        Ok(Json(json!({self.name(): rows, "next_page_token": token})))
    }

    /// `{name: [...], symbol, next_page_token}`.
    async fn one(
        self,
        state: &StockState,
        symbol: String,
        q: &RangeQuery,
    ) -> Result<Json<Value>, ApiError> {
        one(state, &symbol).await?;
        let (mut rows, token) = self.page(state, std::slice::from_ref(&symbol), q).await?;
        let rows = rows.remove(&symbol).unwrap_or_default();
        Ok(Json(
            json!({self.name(): rows, "symbol": symbol, "next_page_token": token}),
        ))
    }
}

fn trade_row_json(r: &TradeRow) -> Value {
    trade_json(r.seq, r.price, r.qty, r.time_ns)
}

/// `GET /v2/stocks/bars?symbols=&timeframe=`.
#[utoipa::path(get, path = "/v2/stocks/bars", tag = "market data", params(RangeQuery), responses((status = 200, body = crate::schema::BarsPage)))]
pub async fn bars_multi(
    State(state): State<StockState>,
    _principal: Principal,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Value>, ApiError> {
    History::Bars.multi(&state, &q).await
}

/// `GET /v2/stocks/{symbol}/bars?timeframe=`.
#[utoipa::path(get, path = "/v2/stocks/{symbol}/bars", tag = "market data", params(("symbol" = String, Path, description = "Ticker", example = "ACME"), RangeQuery), responses((status = 200, body = crate::schema::SymbolBarsPage)))]
pub async fn bars(
    State(state): State<StockState>,
    _principal: Principal,
    Path(symbol): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Value>, ApiError> {
    History::Bars.one(&state, symbol, &q).await
}

/// `GET /v2/stocks/trades?symbols=`: the trades in a time range.
#[utoipa::path(get, path = "/v2/stocks/trades", tag = "market data", params(RangeQuery), responses((status = 200, body = crate::schema::TradesPage)))]
pub async fn trades_multi(
    State(state): State<StockState>,
    _principal: Principal,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Value>, ApiError> {
    History::Trades.multi(&state, &q).await
}

/// `GET /v2/stocks/{symbol}/trades`.
#[utoipa::path(get, path = "/v2/stocks/{symbol}/trades", tag = "market data", params(("symbol" = String, Path, description = "Ticker", example = "ACME"), RangeQuery), responses((status = 200, body = crate::schema::SymbolTradesPage)))]
pub async fn trades(
    State(state): State<StockState>,
    _principal: Principal,
    Path(symbol): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Value>, ApiError> {
    History::Trades.one(&state, symbol, &q).await
}

/// The snapshot of each listed symbol among `wanted`.
async fn snapshots_of(
    state: &StockState,
    wanted: &[String],
) -> Result<BTreeMap<String, Value>, ApiError> {
    let symbols = listed(state, wanted).await?;
    let mut trades = latest_trades(state, &symbols).await?;
    // The latest minute bar and the two latest daily bars of each symbol.
    let rows = state.store.snapshot_bars(&symbols).await?;
    let mut out = BTreeMap::new();
    for s in symbols {
        let bar = |tf: &str, n: i64| {
            rows.iter()
                .find(|(b, rank)| b.symbol == s && b.timeframe == tf && *rank == n)
                .map_or(Value::Null, |(b, _)| bar_json(b))
        };
        let snapshot = json!({
            "latestTrade": trades.remove(&s).unwrap_or(Value::Null),
            "latestQuote": quote_json(state, &s).unwrap_or(Value::Null),
            "minuteBar": bar("1Min", 1),
            "dailyBar": bar("1Day", 1),
            "prevDailyBar": bar("1Day", 2),
        });
        out.insert(s, snapshot);
    }
    Ok(out)
}

/// `GET /v2/stocks/snapshots?symbols=`: `{symbol: snapshot}`.
#[utoipa::path(get, path = "/v2/stocks/snapshots", tag = "market data", params(SymbolsQuery), responses((status = 200, body = BTreeMap<String, crate::schema::Snapshot>)))]
pub async fn snapshots(
    State(state): State<StockState>,
    _principal: Principal,
    Query(q): Query<SymbolsQuery>,
) -> Result<Json<Value>, ApiError> {
    let wanted = symbols(q.symbols.as_deref())?;
    Ok(Json(json!(snapshots_of(&state, &wanted).await?)))
}

/// `GET /v2/stocks/{symbol}/snapshot`.
#[utoipa::path(get, path = "/v2/stocks/{symbol}/snapshot", tag = "market data", params(("symbol" = String, Path, description = "Ticker", example = "ACME")), responses((status = 200, body = crate::schema::SymbolSnapshot)))]
pub async fn snapshot(
    State(state): State<StockState>,
    _principal: Principal,
    Path(symbol): Path<String>,
) -> Result<Json<Value>, ApiError> {
    // `snapshots_of` answers for listed symbols only: none is a 404.
    let mut all = snapshots_of(&state, std::slice::from_ref(&symbol)).await?;
    let mut snap = all
        .remove(&symbol)
        .ok_or_else(|| ApiError::not_found(format!("unknown symbol {symbol}")))?;
    if let Value::Object(m) = &mut snap {
        m.insert("symbol".into(), symbol.into());
    }
    Ok(Json(snap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_print_exactly() {
        for (cents, text) in [
            (10125, "101.25"),
            (1, "0.01"),
            (100, "1.0"),
            (123456789012, "1234567890.12"),
        ] {
            assert_eq!(price(cents).to_string(), text);
        }
    }

    #[test]
    fn page_tokens_round_trip_and_refuse_garbage() {
        let t = encode_token("ACME", 1_764_583_200_000_000_000);
        assert_eq!(
            decode_token(&t).unwrap(),
            ("ACME".into(), 1_764_583_200_000_000_000)
        );
        for bad in ["zz", "abc", "41434d45", ""] {
            assert!(decode_token(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_read_as_rfc3339_or_exchange_dates() {
        assert_eq!(
            parse_time("start", "1970-01-01T00:00:01Z").unwrap(),
            1_000_000_000
        );
        let d = parse_time("start", "2026-12-01").unwrap();
        assert_eq!(rfc3339(d), "2026-12-01T05:00:00Z");
        let err = parse_time("start", "yesterday").unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    }
}
