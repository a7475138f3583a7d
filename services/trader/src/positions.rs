//! Positions: what the caller holds, valued at the last trade, in Alpaca's shape.
//!
//! Quantities and cost basis are settlement's (`bourse_order::holdings`). All money
//! stays in integer cents; only `unrealized_plpc`, a ratio, has four decimal places.

use axum::extract::State;
use bourse_shell::ApiError;
use bourse_shell::auth::Principal;
use bourse_shell::extract::{Json, Path};
use bourse_shell::money::{format_cents, format_fixed};
use serde_json::{Value, json};

use crate::TraderState;
use crate::orders::{self, NewOrder, asset_id};

/// One position's figures, in cents and shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Figures {
    qty: i64,
    cost: i64,
    price: Option<i64>,
}

fn position_json(symbol: &str, f: Figures) -> Value {
    let price = f.price.unwrap_or(0);
    let value = price * f.qty;
    let pl = value - f.cost;
    let plpc = if f.cost > 0 { pl * 10_000 / f.cost } else { 0 };
    let avg = if f.qty > 0 { f.cost / f.qty } else { 0 };
    json!({
        "asset_id": asset_id(symbol),
        "symbol": symbol,
        "exchange": "",
        "asset_class": "us_equity",
        "asset_marginable": false,
        "avg_entry_price": format_cents(avg),
        "qty": f.qty.to_string(),
        "qty_available": f.qty.to_string(),
        "side": "long",
        "market_value": format_cents(value),
        "cost_basis": format_cents(f.cost),
        "unrealized_pl": format_cents(pl),
        "unrealized_plpc": format_fixed(plpc, 4),
        "unrealized_intraday_pl": format_cents(pl),
        "unrealized_intraday_plpc": format_fixed(plpc, 4),
        "current_price": format_cents(price),
        "lastday_price": format_cents(price),
        "change_today": "0",
    })
}

async fn positions_of(
    state: &TraderState,
    user: u64,
    symbol: Option<&str>,
) -> Result<Vec<Value>, ApiError> {
    let held = state.holdings.holdings(user, symbol).await?;
    Ok(held
        .positions
        .iter()
        .map(|h| {
            position_json(
                &h.symbol,
                Figures {
                    qty: h.qty,
                    cost: h.cost,
                    price: h.last_price,
                },
            )
        })
        .collect())
}

/// `GET /v2/positions`.
#[utoipa::path(get, path = "/v2/positions", tag = "positions", responses((status = 200, body = Vec<crate::schema::Position>)))]
pub async fn list(
    State(state): State<TraderState>,
    principal: Principal,
) -> Result<Json<Vec<Value>>, ApiError> {
    positions_of(&state, principal.user, None).await.map(Json)
}

/// `GET /v2/positions/{symbol}`: 404 if the caller holds none.
#[utoipa::path(get, path = "/v2/positions/{symbol}", tag = "positions", params(("symbol" = String, Path, description = "Ticker", example = "ACME")), responses((status = 200, body = crate::schema::Position)))]
pub async fn get_one(
    State(state): State<TraderState>,
    principal: Principal,
    Path(symbol): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let symbol = symbol.to_ascii_uppercase();
    positions_of(&state, principal.user, Some(&symbol))
        .await?
        .pop()
        .map(Json)
        .ok_or_else(|| ApiError::not_found("position does not exist"))
}

/// `DELETE /v2/positions/{symbol}`: closes the position with a market sell of all of it;
/// answers that order.
#[utoipa::path(delete, path = "/v2/positions/{symbol}", tag = "positions", params(("symbol" = String, Path, description = "Ticker", example = "ACME")), responses((status = 200, body = crate::schema::Order, description = "The market sell that closes it")))]
pub async fn close(
    State(state): State<TraderState>,
    principal: Principal,
    Path(symbol): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let Json(position) = get_one(State(state.clone()), principal.clone(), Path(symbol)).await?;
    let order = NewOrder {
        symbol: position["symbol"].as_str().unwrap_or_default().to_string(),
        qty: Some(position["qty"].clone()),
        notional: None,
        side: "sell".into(),
        order_type: "market".into(),
        time_in_force: "day".into(),
        limit_price: None,
        stop_price: None,
        trail_price: None,
        trail_percent: None,
        extended_hours: false,
        client_order_id: None,
        order_class: None,
        take_profit: None,
        stop_loss: None,
    };
    orders::create(State(state), principal, Json(order)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_is_valued_at_its_price_against_its_cost() {
        let v = position_json(
            "ACME",
            Figures {
                qty: 20,
                cost: 220_000,
                price: Some(12_100),
            },
        );
        assert_eq!(v["avg_entry_price"], "110.00");
        assert_eq!(v["market_value"], "2420.00");
        assert_eq!(v["unrealized_pl"], "220.00");
        assert_eq!(v["unrealized_plpc"], "0.1000");
    }
}
