//! `GET /v2/clock` and `GET /v2/calendar` in Alpaca's shapes, from [`crate::calendar`].
//!
//! The calendar is published for clients and schedules; the engine itself matches
//! around the clock (it reads no clock), so orders entered outside the regular session
//! trade as they would in an extended session.

use axum::extract::State;
use bourse_shell::ApiError;
use bourse_shell::auth::Principal;
use bourse_shell::extract::{Json, Query};
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::StockState;
use crate::calendar::{self, Session};

const OFFSET_TIME: &str = "%Y-%m-%dT%H:%M:%S%.f%:z";

/// `GET /v2/clock`.
#[utoipa::path(get, path = "/v2/clock", tag = "calendar", responses((status = 200, body = crate::schema::Clock)))]
pub async fn clock(
    State(_state): State<StockState>,
    _principal: Principal,
) -> Result<Json<Value>, ApiError> {
    let c = calendar::clock(Timestamp::now())
        .ok_or_else(|| ApiError::internal("no session within a fortnight"))?;
    Ok(Json(json!({
        "timestamp": c.now.strftime(OFFSET_TIME).to_string(),
        "is_open": c.is_open,
        "next_open": c.next_open.strftime(OFFSET_TIME).to_string(),
        "next_close": c.next_close.strftime(OFFSET_TIME).to_string(),
    })))
}

/// `GET /v2/calendar` range.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CalendarQuery {
    /// First day (`YYYY-MM-DD`, default today in the exchange's zone).
    pub start: Option<String>,
    /// Last day (default a year after `start`).
    pub end: Option<String>,
}

fn date(field: &str, text: &str) -> Result<Date, ApiError> {
    text.parse::<Date>()
        .or_else(|_| {
            text.parse::<Timestamp>()
                .map(|t| t.to_zoned_datetime(calendar::tz()).date())
        })
        .map_err(|_| {
            ApiError::unprocessable(format!(
                "{field}: a YYYY-MM-DD date is required (got {text:?})"
            ))
        })
}

fn day_json(s: &Session, next: Option<&Session>) -> Value {
    json!({
        "date": s.date.to_string(),
        "open": s.open.strftime("%H:%M").to_string(),
        "close": s.close.strftime("%H:%M").to_string(),
        "session_open": "0400",
        "session_close": "2000",
        "settlement_date": next.map_or(Value::Null, |n| n.date.to_string().into()),
    })
}

/// `GET /v2/calendar`: the trading days from `start` to `end` (at most ten years).
#[utoipa::path(get, path = "/v2/calendar", tag = "calendar", params(CalendarQuery), responses((status = 200, body = Vec<crate::schema::CalendarDay>)))]
pub async fn calendar(
    State(_state): State<StockState>,
    _principal: Principal,
    Query(q): Query<CalendarQuery>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let today = Timestamp::now().to_zoned_datetime(calendar::tz()).date();
    let start = q
        .start
        .as_deref()
        .map(|s| date("start", s))
        .transpose()?
        .unwrap_or(today);
    let end = match q.end.as_deref() {
        Some(e) => date("end", e)?,
        None => start.checked_add(1.year()).unwrap_or(start),
    };
    if end < start {
        return Err(ApiError::unprocessable("end: before start"));
    }
    if start.checked_add(10.years()).is_ok_and(|limit| end > limit) {
        return Err(ApiError::unprocessable("at most ten years at once"));
    }
    // One day past the end, for the last day's settlement date (T+1).
    let later = end.checked_add(15.days()).unwrap_or(end);
    let days = calendar::sessions(start, later);
    let shown = days.iter().take_while(|s| s.date <= end).count();
    Ok(Json(
        (0..shown)
            .map(|i| day_json(&days[i], days.get(i + 1)))
            .collect(),
    ))
}
