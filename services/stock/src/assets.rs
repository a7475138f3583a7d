//! Instruments as Alpaca's assets: everyone reads (`GET /v2/assets`,
//! `GET /v2/assets/{symbol_or_id}`); an admin lists new ones — a journaled
//! `add_instrument` command through the gateway — and suspends or reinstates them.
//!
//! A suspended asset is `inactive` and not `tradable`: the trader service refuses
//! orders in it. Alpaca's SDK accepts only its own venues' codes for `exchange`, so
//! Bourse answers with the empty code the SDK allows. An asset's `id` is a UUID derived
//! from its symbol (SHA-256), stable across restarts and instances.

use axum::extract::State;
use axum::http::StatusCode;
use bourse_core::{FixedStr, Price, Qty};
use bourse_gateway::protocol::ServiceMsg;
use bourse_shell::ApiError;
use bourse_shell::auth::Principal;
use bourse_shell::extract::{Json, Path, Query};
use bourse_shell::money;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::StockState;
use crate::store::{Instrument, MarketStore};

/// An asset's id: a version-8 (name-based, SHA-256) UUID of its symbol.
pub fn asset_id(symbol: &str) -> String {
    let h = Sha256::digest(format!("bourse-asset:{symbol}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    bourse_shell::ids::uuid_text(&b)
}

/// A user's account id, as `GET /v2/account` and the watchlists show it: name-based
/// like an asset's.
pub fn account_id(user: u64) -> String {
    asset_id(&format!("acct{user}"))
}

/// An instrument row as Alpaca's asset.
pub(crate) fn asset_json(r: &Instrument) -> Value {
    let (symbol, status, lot) = (&r.symbol, &r.status, r.lot);
    json!({
        "id": asset_id(symbol),
        "class": "us_equity",
        "exchange": "",
        "symbol": symbol,
        "name": r.name,
        "status": status,
        "tradable": status == "active",
        "marginable": false,
        "shortable": false,
        "easy_to_borrow": false,
        "fractionable": false,
        "min_order_size": lot.to_string(),
        "min_trade_increment": lot.to_string(),
        "price_increment": money::format_cents(r.tick),
        "attributes": [],
    })
}

/// `GET /v2/assets` filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssetsQuery {
    /// `active` or `inactive` (default: both).
    pub status: Option<String>,
    /// `us_equity` (the only class).
    pub asset_class: Option<String>,
    /// Ignored: one venue.
    pub exchange: Option<String>,
}

/// `GET /v2/assets`.
#[utoipa::path(get, path = "/v2/assets", tag = "assets", params(AssetsQuery), responses((status = 200, body = Vec<crate::schema::Asset>)))]
pub async fn list(
    State(state): State<StockState>,
    _principal: Principal,
    Query(q): Query<AssetsQuery>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let status = match q.status.as_deref() {
        None => None,
        Some(s @ ("active" | "inactive")) => Some(s.to_string()),
        Some(other) => {
            return Err(ApiError::unprocessable(format!(
                "status: active or inactive (got {other:?})"
            )));
        }
    };
    if q.asset_class.as_deref().is_some_and(|c| c != "us_equity") {
        return Ok(Json(Vec::new()));
    }
    let rows = state.store.instruments(status.as_deref()).await?;
    Ok(Json(rows.iter().map(asset_json).collect()))
}

/// The instrument `key` names (its symbol, or its asset id), or 404.
async fn find(state: &StockState, key: &str) -> Result<Instrument, ApiError> {
    if let Some(i) = state.store.instrument(key).await? {
        return Ok(i);
    }
    // An id: the few instruments of an exchange are quick to look through.
    state
        .store
        .instruments(None)
        .await?
        .into_iter()
        .find(|i| asset_id(&i.symbol) == key)
        .ok_or_else(|| ApiError::not_found(format!("asset not found for {key}")))
}

/// `GET /v2/assets/{symbol_or_asset_id}`.
#[utoipa::path(get, path = "/v2/assets/{key}", tag = "assets", params(("key" = String, Path, description = "Symbol or asset id", example = "ACME")), responses((status = 200, body = crate::schema::Asset)))]
pub async fn get_one(
    State(state): State<StockState>,
    _principal: Principal,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(asset_json(&find(&state, &key).await?)))
}

/// A new listing.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAsset {
    /// Ticker: 1–16 capital letters and digits.
    pub symbol: String,
    /// Price increment in dollars (`"0.01"`, the default).
    pub price_increment: Option<String>,
    /// Quantity increment in shares (`"1"`, the default).
    pub min_trade_increment: Option<String>,
    /// The company's name.
    pub name: Option<String>,
}

/// Checks a ticker: 1–16 of `A`–`Z` and `0`–`9`, and not the cash asset's name.
pub fn check_symbol(symbol: &str) -> Result<FixedStr, ApiError> {
    let ok = !symbol.is_empty()
        && symbol.len() <= 16
        && symbol
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && symbol != bourse_core::CASH;
    if !ok {
        return Err(ApiError::unprocessable(format!(
            "symbol: 1 to 16 capital letters and digits, not {} (got {symbol:?})",
            bourse_core::CASH
        )));
    }
    FixedStr::new(symbol).map_err(|_| ApiError::unprocessable("symbol: too long"))
}

/// `POST /v1/admin/assets` (admin): lists an instrument on the exchange.
#[utoipa::path(post, path = "/v1/admin/assets", tag = "admin", request_body = NewAsset, responses((status = 201, body = crate::schema::Asset), (status = 409, body = bourse_shell::openapi::ErrorBody, description = "Listed already")))]
pub async fn create(
    State(state): State<StockState>,
    principal: Principal,
    Json(body): Json<NewAsset>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    principal.require_admin()?;
    let symbol = check_symbol(&body.symbol)?;
    let tick = money::parse_cents(
        "price_increment",
        body.price_increment.as_deref().unwrap_or("0.01"),
    )?;
    let lot = money::parse_fixed(
        "min_trade_increment",
        body.min_trade_increment.as_deref().unwrap_or("1"),
        0,
    )?;
    if tick <= 0 || lot <= 0 {
        return Err(ApiError::unprocessable(
            "price_increment and min_trade_increment must be positive",
        ));
    }
    let name = body.name.unwrap_or_default();
    if name.len() > 200 {
        return Err(ApiError::unprocessable("name: at most 200 bytes"));
    }
    let engine = state
        .engine
        .as_ref()
        .ok_or_else(|| ApiError::unavailable("exchange", "no gateway configured"))?;
    let msg = ServiceMsg::AddInstrument {
        request: 0,
        symbol,
        tick: Price(tick),
        lot: Qty(lot),
    };
    let seq = bourse_user::admin::execute(engine, msg)
        .await
        .map_err(|e| {
            if e.status == StatusCode::CONFLICT {
                ApiError::conflict(format!("{} is listed already", body.symbol))
            } else {
                e
            }
        })?;
    // The listing event reaches the table through the bus as well; writing it here
    // lets the admin read it back at once. Both write the same row.
    state
        .store
        .listed(&body.symbol, tick, lot, &name, seq as i64)
        .await?;
    tracing::info!(admin = principal.user, symbol = body.symbol, seq, "listed");
    let row = find(&state, &body.symbol).await?;
    Ok((StatusCode::CREATED, Json(asset_json(&row))))
}

/// A change to a listing.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetChange {
    /// `inactive` suspends trading; `active` reinstates it.
    pub status: Option<String>,
    /// The company's name.
    pub name: Option<String>,
}

/// `PATCH /v1/admin/assets/{symbol}` (admin): suspends, reinstates or renames.
#[utoipa::path(patch, path = "/v1/admin/assets/{symbol}", tag = "admin", params(("symbol" = String, Path, description = "Ticker", example = "ACME")), request_body = AssetChange, responses((status = 200, body = crate::schema::Asset)))]
pub async fn update(
    State(state): State<StockState>,
    principal: Principal,
    Path(symbol): Path<String>,
    Json(body): Json<AssetChange>,
) -> Result<Json<Value>, ApiError> {
    principal.require_admin()?;
    if let Some(s) = body.status.as_deref()
        && s != "active"
        && s != "inactive"
    {
        return Err(ApiError::unprocessable(format!(
            "status: active or inactive (got {s:?})"
        )));
    }
    find(&state, &symbol).await?;
    state
        .store
        .change(&symbol, body.status.as_deref(), body.name.as_deref())
        .await?;
    tracing::info!(admin = principal.user, symbol, status = ?body.status, "asset changed");
    Ok(Json(asset_json(&find(&state, &symbol).await?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_ids_are_stable_uuids() {
        let id = asset_id("ACME");
        assert_eq!(id, asset_id("ACME"));
        assert_ne!(id, asset_id("ACMF"));
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "8", "version 8");
        assert!(
            matches!(&id[19..20], "8" | "9" | "a" | "b"),
            "RFC 4122 variant"
        );
    }

    #[test]
    fn symbols_are_checked() {
        assert!(check_symbol("ACME").is_ok());
        assert!(check_symbol("BRK2").is_ok());
        for bad in ["", "acme", "AC.ME", "USD", "ABCDEFGHIJKLMNOPQ"] {
            assert!(check_symbol(bad).is_err(), "{bad}");
        }
    }
}

/// Which instruments are suspended, as order entry asks it: the set is read at most once
/// a second (one query for all of them), so checking an order costs no round trip.
#[derive(Debug)]
pub struct Suspensions {
    store: std::sync::Arc<dyn MarketStore>,
    cache: tokio::sync::Mutex<(
        Option<std::time::Instant>,
        std::collections::HashSet<String>,
    )>,
}

impl Suspensions {
    /// Suspensions read from PostgreSQL's `instruments` (in `pool`).
    pub fn new(pool: deadpool_postgres::Pool) -> Self {
        Self::over(std::sync::Arc::new(crate::store::pg::PgMarket::new(pool)))
    }

    /// Suspensions read from `store`.
    pub fn over(store: std::sync::Arc<dyn MarketStore>) -> Self {
        Suspensions {
            store,
            cache: tokio::sync::Mutex::new((None, Default::default())),
        }
    }

    /// 422 if `symbol` is suspended (as of at most a second ago).
    pub async fn check(&self, symbol: &str) -> Result<(), ApiError> {
        let mut cache = self.cache.lock().await;
        if cache
            .0
            .is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(1))
        {
            let rows = self.store.suspended().await?;
            *cache = (Some(std::time::Instant::now()), rows.into_iter().collect());
        }
        if cache.1.contains(symbol) {
            return Err(ApiError::unprocessable(format!(
                "asset {symbol} is not active: trading in it is suspended"
            )));
        }
        Ok(())
    }

    /// 422 if `symbol` is not listed (one query: for orders the engine will not see at
    /// once, which it would otherwise refuse only when they fire).
    pub async fn listed(&self, symbol: &str) -> Result<(), ApiError> {
        if self
            .store
            .listed_among(&[symbol.to_string()])
            .await?
            .is_empty()
        {
            return Err(ApiError::unprocessable("asset not found"));
        }
        Ok(())
    }
}
