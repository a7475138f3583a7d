//! Price alerts over HTTP: "tell me when ACME trades at or above 120". An alert is
//! armed like a stop (the same trigger index), fires once on the first trade that
//! crosses it, and the notification service tells its owner (kind `price_alert`).
//! Every route is the caller's own; another user's alert is a 404.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use bourse_shell::ApiError;
use bourse_shell::auth::{Auth, Principal};
use bourse_shell::extract::{Json, Path, Query};
use bourse_shell::money::{format_cents, parse_cents};
use bourse_stock::store::MarketStore;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::store::{Alert, AutoStore, NewAlert};

/// Active alerts one user may have.
pub const MAX_ACTIVE: u32 = 1_000;

/// The auto service's HTTP state.
#[derive(Clone)]
pub struct AutoState {
    /// Alerts (and held orders).
    pub store: Arc<dyn AutoStore>,
    /// Instruments (an alert's symbol must be listed).
    pub market: Arc<dyn MarketStore>,
    /// Token keys, the key verifier and the rate limit.
    pub auth: Arc<Auth>,
    /// What time it is (recurring orders' next runs).
    pub clock: Arc<dyn crate::recurring::Clock>,
}

impl FromRef<AutoState> for Arc<Auth> {
    fn from_ref(s: &AutoState) -> Arc<Auth> {
        s.auth.clone()
    }
}

/// `POST /v1/alerts`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAlertBody {
    /// A listed symbol.
    pub symbol: String,
    /// `at_or_above` or `at_or_below`.
    pub condition: String,
    /// The price, a decimal string (`"120.00"`).
    pub price: String,
    /// A note of the owner's, at most 200 characters.
    #[serde(default)]
    pub note: Option<String>,
}

/// A price alert.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertView {
    /// Its id.
    pub id: String,
    /// Ticker.
    pub symbol: String,
    /// `at_or_above` or `at_or_below`.
    pub condition: String,
    /// The price.
    pub price: String,
    /// The owner's note.
    pub note: String,
    /// `active`, `triggered` or `canceled`.
    pub status: String,
    /// When it was made.
    pub created_at: String,
    /// When a trade crossed it.
    pub triggered_at: Option<String>,
    /// That trade's price.
    pub triggered_price: Option<String>,
    /// That trade's sequence number.
    pub triggered_seq: Option<i64>,
}

/// An alert as the API shows it.
pub fn view(a: Alert) -> AlertView {
    AlertView {
        id: a.id,
        symbol: a.symbol,
        condition: a.condition,
        price: format_cents(a.price),
        note: a.note,
        status: a.status,
        created_at: a.created_at,
        triggered_at: a.triggered_at,
        triggered_price: a.triggered.map(|(p, _)| format_cents(p)),
        triggered_seq: a.triggered.map(|(_, s)| s),
    }
}

/// `POST /v1/alerts`: a new price alert.
#[utoipa::path(post, path = "/v1/alerts", tag = "alerts", request_body = NewAlertBody,
    responses((status = 201, body = AlertView)))]
pub async fn create(
    State(state): State<AutoState>,
    principal: Principal,
    Json(body): Json<NewAlertBody>,
) -> Result<(StatusCode, Json<AlertView>), ApiError> {
    let symbol = body.symbol.trim().to_ascii_uppercase();
    if !matches!(body.condition.as_str(), "at_or_above" | "at_or_below") {
        return Err(ApiError::unprocessable(
            "condition: at_or_above or at_or_below",
        ));
    }
    let price = parse_cents("price", &body.price)?;
    if price <= 0 {
        return Err(ApiError::unprocessable("price: above zero"));
    }
    let note = body.note.unwrap_or_default();
    if note.chars().count() > 200 {
        return Err(ApiError::unprocessable("note: at most 200 characters"));
    }
    if symbol.is_empty() || state.market.instrument(&symbol).await?.is_none() {
        return Err(ApiError::unprocessable(format!(
            "symbol: {symbol:?} is not listed"
        )));
    }
    let alert = NewAlert {
        id: bourse_trader::orders::new_id(),
        user: principal.user,
        symbol,
        condition: body.condition,
        price,
        note,
    };
    let made = state
        .store
        .create_alert(&alert, MAX_ACTIVE)
        .await?
        .ok_or_else(|| {
            ApiError::unprocessable(format!(
                "at most {MAX_ACTIVE} active alerts: cancel one first"
            ))
        })?;
    Ok((StatusCode::CREATED, Json(view(made))))
}

/// `GET /v1/alerts`'s query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `active` (the default), `triggered`, `canceled` or `all`.
    pub status: Option<String>,
    /// At most this many (1 to 1000; 100).
    pub limit: Option<u32>,
}

/// `GET /v1/alerts`: the caller's alerts, newest first.
#[utoipa::path(get, path = "/v1/alerts", tag = "alerts", params(ListParams),
    responses((status = 200, body = Vec<AlertView>)))]
pub async fn list(
    State(state): State<AutoState>,
    principal: Principal,
    Query(q): Query<ListParams>,
) -> Result<Json<Vec<AlertView>>, ApiError> {
    let status = match q.status.as_deref().unwrap_or("active") {
        "all" => None,
        s @ ("active" | "triggered" | "canceled") => Some(s),
        _ => {
            return Err(ApiError::unprocessable(
                "status: active, triggered, canceled or all",
            ));
        }
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1_000).contains(&limit) {
        return Err(ApiError::unprocessable("limit: 1 to 1000"));
    }
    let found = state.store.alerts(principal.user, status, limit).await?;
    Ok(Json(found.into_iter().map(view).collect()))
}

/// `GET /v1/alerts/{id}`: one alert.
#[utoipa::path(get, path = "/v1/alerts/{id}", tag = "alerts",
    params(("id" = String, Path, description = "The alert's id")),
    responses((status = 200, body = AlertView)))]
pub async fn get_one(
    State(state): State<AutoState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<AlertView>, ApiError> {
    let a = state
        .store
        .alert(principal.user, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("alert not found"))?;
    Ok(Json(view(a)))
}

/// `DELETE /v1/alerts/{id}`: cancels an active alert (422 once it triggered).
#[utoipa::path(delete, path = "/v1/alerts/{id}", tag = "alerts",
    params(("id" = String, Path, description = "The alert's id")),
    responses((status = 204, description = "Canceled: it will not fire")))]
pub async fn cancel(
    State(state): State<AutoState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let a = state
        .store
        .cancel_alert(principal.user, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("alert not found"))?;
    if a.status != "canceled" {
        return Err(ApiError::unprocessable(format!(
            "the alert is {}",
            a.status
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}
