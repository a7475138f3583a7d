//! `GET /v2/account`: the caller's cash and buying power, in Alpaca's account shape,
//! from settlement's balances and open orders.

use axum::extract::State;
use bourse_shell::ApiError;
use bourse_shell::auth::Principal;
use bourse_shell::extract::Json;
use bourse_shell::money::format_cents;
use serde_json::{Value, json};

use crate::TraderState;

/// `GET /v2/account`.
#[utoipa::path(get, path = "/v2/account", tag = "account", responses((status = 200, body = crate::schema::Account)))]
pub async fn account(
    State(state): State<TraderState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    let user = principal.user;
    let row = state.store.account(user).await?;
    let (cash, reserved) = (row.cash, row.reserved);
    let buying_power = cash - reserved;
    Ok(Json(json!({
        "id": bourse_stock::assets::account_id(user),
        "account_number": format!("BRS{user:09}"),
        "status": "ACTIVE",
        "crypto_status": "INACTIVE",
        "currency": "USD",
        "cash": format_cents(cash),
        "buying_power": format_cents(buying_power),
        "regt_buying_power": format_cents(buying_power),
        "daytrading_buying_power": format_cents(buying_power),
        "non_marginable_buying_power": format_cents(buying_power),
        "pattern_day_trader": false,
        "trading_blocked": false,
        "transfers_blocked": false,
        "account_blocked": false,
        "trade_suspended_by_user": false,
        "shorting_enabled": false,
        "multiplier": "1",
        // The user service's account (an engine account opened around it has none).
        "created_at": row
            .created_at
            .unwrap_or_else(|| "1970-01-01T00:00:00.000000Z".into()),
    })))
}
