//! `GET /v2/account`: the caller's cash and buying power, in Alpaca's account shape,
//! from settlement's balances and open orders.

use axum::extract::State;
use bourse_core::CASH;
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
    let client = state.pool.get().await?;
    let user = principal.user as i64;
    let row = client
        .query_one(
            &client
                .prepare_cached(
                    "SELECT
                 (SELECT amount FROM balances WHERE user_id = $1 AND asset = $2),
                 (SELECT sum(price * (qty - filled))::BIGINT FROM orders
                   WHERE user_id = $1 AND status = 'open' AND side = 'buy' AND price IS NOT NULL),
                 (SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')
                    FROM accounts WHERE id = $1)",
                )
                .await?,
            &[&user, &CASH],
        )
        .await?;
    let cash = row.get::<_, Option<i64>>(0).unwrap_or(0);
    let reserved = row.get::<_, Option<i64>>(1).unwrap_or(0);
    let buying_power = cash - reserved;
    Ok(Json(json!({
        "id": crate::orders::asset_id(&format!("acct{user}")),
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
            .get::<_, Option<String>>(2)
            .unwrap_or_else(|| "1970-01-01T00:00:00.000000Z".into()),
    })))
}
