//! Recurring orders: buy or sell a quantity, or an amount of money, of a symbol on a
//! schedule ([`crate::schedule`]: daily, weekly on given days, monthly, at a time in the
//! exchange's zone, only when the market is open); pause, resume, delete; a run
//! history. Each run is a market order (`day`) entered like any other — it shows in
//! `GET /v2/orders` — with the client order id `rec-<plan>-<time>`.
//!
//! # Exactly once
//! A run is claimed by moving the plan's next run on with a compare-and-set in the
//! transaction that writes the run, so no two instances (or ticks) claim it; its order's
//! client order id is made from the plan and the run's time, so submitting a claimed run
//! again after a restart finds the order that exists instead of making another.
//!
//! # Time
//! The runner reads a [`Clock`]: the system's in service, one the tests set.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use bourse_core::{FixedStr, OrderType, Price, Qty, Side, TimeInForce, UserId};
use bourse_gateway::protocol::{EnterOrder, ServiceMsg};
use bourse_gateway_client::GatewayClient;
use bourse_shell::ApiError;
use bourse_shell::auth::Principal;
use bourse_shell::extract::{Json, Path};
use bourse_shell::lite::rfc3339_micros;
use bourse_shell::money::{format_cents, parse_cents, parse_fixed};
use bourse_trader::store::OrderKey;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::alerts::AutoState;
use crate::schedule::{Frequency, Schedule, time_of_day, weekday, weekday_name};
use crate::service::Stores;
use crate::store::recurring::{Plan, Run, RunOutcome};

/// Plans one user may have.
pub const MAX_PLANS: u32 = 100;
/// How often the runner looks for due runs (runs are set to the minute).
pub const TICK: Duration = Duration::from_secs(1);
/// A run found due this long after its time was missed (the service was down): it is
/// recorded skipped, not made late.
const STALE_MICROS: i64 = 3_600_000_000;

/// What time it is.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system's clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that stands still until it is set (for tests).
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    /// A clock at `t`.
    pub fn new(t: Timestamp) -> Arc<Self> {
        Arc::new(ManualClock(Mutex::new(t)))
    }

    /// Sets it to `t`.
    pub fn set(&self, t: Timestamp) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

fn timestamp(us: i64) -> Timestamp {
    Timestamp::from_microsecond(us).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A plan's schedule, from its stored fields.
fn schedule(p: &Plan) -> Option<Schedule> {
    let frequency = match p.frequency.as_str() {
        "daily" => Frequency::Daily,
        "weekly" => Frequency::Weekly(
            p.weekdays
                .split(',')
                .filter_map(weekday)
                .collect::<Vec<_>>(),
        ),
        "monthly" => Frequency::Monthly(i8::try_from(p.day_of_month?).ok()?),
        _ => return None,
    };
    Some(Schedule {
        frequency,
        at: time_of_day(&p.at_time)?,
    })
}

/// What the runner has done since start.
#[derive(Debug, Default)]
pub struct Counters {
    /// Runs claimed.
    pub claimed: AtomicU64,
    /// Runs finished (submitted, skipped or rejected).
    pub finished: AtomicU64,
}

/// Runs due plans every `tick` until `stop`.
pub async fn run(
    stores: Stores,
    engine: GatewayClient,
    clock: Arc<dyn Clock>,
    tick: Duration,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = round(&stores, &engine, &*clock, &counters).await {
            tracing::warn!("recurring orders: {}", e.message);
        }
        tokio::time::sleep(tick).await;
    }
}

/// One look: claims what is due, then submits every claimed run.
async fn round(
    stores: &Stores,
    engine: &GatewayClient,
    clock: &dyn Clock,
    counters: &Counters,
) -> Result<(), ApiError> {
    let now = micros(clock.now());
    for p in stores.auto.due_plans(now).await? {
        let (Some(scheduled), Some(s)) = (p.next_run_at, schedule(&p)) else {
            continue;
        };
        let stale = now - scheduled > STALE_MICROS;
        // Missed runs are not made late: the next one is after now.
        let after = if stale { now } else { scheduled };
        let next = s.next_after(timestamp(after)).map(micros);
        let client_order_id = format!(
            "rec-{}-{}",
            &p.id[..8.min(p.id.len())],
            scheduled / 1_000_000
        );
        if !stores
            .auto
            .claim_run(&p.id, scheduled, next, &client_order_id)
            .await?
        {
            continue;
        }
        counters.claimed.fetch_add(1, Ordering::Relaxed);
        if stale {
            let skipped = RunOutcome {
                status: "skipped",
                order_id: None,
                detail: Some("missed: the service was not running at its time".into()),
            };
            stores.auto.finish_run(&p.id, scheduled, &skipped).await?;
            counters.finished.fetch_add(1, Ordering::Relaxed);
        }
    }
    for (p, r) in stores.auto.pending_runs().await? {
        if let Some(outcome) = submit(stores, engine, &p, &r).await? {
            stores
                .auto
                .finish_run(&p.id, r.scheduled_for, &outcome)
                .await?;
            counters.finished.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("auto_recurring_runs_total", "status" => outcome.status).increment(1);
        }
    }
    Ok(())
}

/// Enters a claimed run's order; how the run ended (`None`: the engine did not answer,
/// try again).
async fn submit(
    stores: &Stores,
    engine: &GatewayClient,
    p: &Plan,
    r: &Run,
) -> Result<Option<RunOutcome>, ApiError> {
    let skipped = |why: String| {
        Ok(Some(RunOutcome {
            status: "skipped",
            order_id: None,
            detail: Some(why),
        }))
    };
    // Submitted before (a restart after entry): the order that exists.
    if let Some(o) = stores
        .trader
        .order(p.user, OrderKey::ClientOrderId(&r.client_order_id))
        .await?
    {
        return Ok(Some(RunOutcome {
            status: "submitted",
            order_id: Some(o.id),
            detail: None,
        }));
    }
    let qty = match (p.qty, p.notional) {
        (Some(q), _) => q,
        (None, Some(amount)) => {
            let last = stores
                .market
                .latest_trades(std::slice::from_ref(&p.symbol))
                .await?;
            let Some(price) = last.first().map(|t| t.price).filter(|p| *p > 0) else {
                return skipped(format!("no trade in {} yet to price the amount", p.symbol));
            };
            let q = amount / price;
            if q == 0 {
                return skipped(format!(
                    "{} buys no whole share at {}",
                    format_cents(amount),
                    format_cents(price)
                ));
            }
            q
        }
        (None, None) => return skipped("the plan has no quantity".into()),
    };
    let side = if p.side == "buy" {
        Side::Buy
    } else {
        Side::Sell
    };
    let (id, token) = (
        bourse_trader::orders::new_id(),
        bourse_trader::orders::new_token(),
    );
    let row = bourse_trader::writes::Pending {
        id: id.clone(),
        user: p.user as i64,
        client_order_id: r.client_order_id.clone(),
        token: token.clone(),
        symbol: p.symbol.clone(),
        side: if side == Side::Buy { "buy" } else { "sell" },
        order_type: "market",
        time_in_force: "day".into(),
        qty,
        limit_price: None,
        condition: None,
        order_class: "simple",
        oco_with: None,
        parent_id: None,
    };
    if !stores
        .trader
        .insert_pending(vec![row])
        .await?
        .first()
        .copied()
        .unwrap_or(false)
    {
        return Ok(None); // entered meanwhile: found next round
    }
    let order = EnterOrder {
        token: FixedStr::new(&token).map_err(ApiError::internal)?,
        symbol: FixedStr::new(&p.symbol).map_err(ApiError::internal)?,
        side,
        order_type: OrderType::Market,
        tif: TimeInForce::Day,
        post_only: false,
        price: Price(0),
        qty: Qty(qty),
    };
    let reports = match engine
        .request(ServiceMsg::EnterFor {
            request: 0,
            user: UserId(p.user),
            order,
        })
        .await
    {
        Ok(r) => r,
        Err(e) => {
            // Unknown outcome: the row stays pending_new for the trader's reconciler,
            // and this run is found submitted next round.
            tracing::warn!(plan = %p.id, "recurring order not answered: {e}");
            return Ok(None);
        }
    };
    let o = bourse_trader::orders::outcome(&reports, qty);
    stores.trader.finish(vec![o.verdict(id.clone())]).await?;
    Ok(Some(match o.rejected {
        Some(reason) => RunOutcome {
            status: "rejected",
            order_id: Some(id),
            detail: Some(reason.as_str().to_string()),
        },
        None => RunOutcome {
            status: "submitted",
            order_id: Some(id),
            detail: None,
        },
    }))
}

/// `POST /v1/recurring`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    /// A listed symbol.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Shares per run (or `notional`).
    pub qty: Option<String>,
    /// Dollars per run, as whole shares at the last price (or `qty`).
    pub notional: Option<String>,
    /// `daily`, `weekly` or `monthly`.
    pub frequency: String,
    /// `weekly`: the days, `mon` to `fri`.
    #[serde(default)]
    pub weekdays: Vec<String>,
    /// `monthly`: the day of the month, 1 to 28.
    pub day_of_month: Option<i32>,
    /// `HH:MM`, exchange time (America/New_York), 09:30 to 15:59.
    pub time: String,
}

/// A recurring order's plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    /// Its id.
    pub id: String,
    /// Ticker.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Shares per run.
    pub qty: Option<String>,
    /// Dollars per run.
    pub notional: Option<String>,
    /// `daily`, `weekly` or `monthly`.
    pub frequency: String,
    /// `weekly`: the days.
    pub weekdays: Vec<String>,
    /// `monthly`: the day of the month.
    pub day_of_month: Option<i32>,
    /// `HH:MM`, exchange time.
    pub time: String,
    /// `active` or `paused`.
    pub status: String,
    /// The next run, while active.
    pub next_run_at: Option<String>,
    /// When it was made.
    pub created_at: String,
    /// Its runs, newest first (on a single plan's read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs: Option<Vec<RunView>>,
}

/// One run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    /// When it was due.
    pub scheduled_for: String,
    /// `pending`, `submitted`, `skipped` or `rejected`.
    pub status: String,
    /// Its order's client order id.
    pub client_order_id: String,
    /// Its order (see `GET /v2/orders/{id}`).
    pub order_id: Option<String>,
    /// Why it was skipped or rejected.
    pub detail: Option<String>,
    /// When it finished.
    pub ran_at: Option<String>,
}

fn view(p: Plan, runs: Option<Vec<Run>>) -> PlanView {
    PlanView {
        id: p.id,
        symbol: p.symbol,
        side: p.side,
        qty: p.qty.map(|q| q.to_string()),
        notional: p.notional.map(format_cents),
        frequency: p.frequency,
        weekdays: p
            .weekdays
            .split(',')
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect(),
        day_of_month: p.day_of_month,
        time: p.at_time,
        status: p.status,
        next_run_at: p.next_run_at.map(rfc3339_micros),
        created_at: rfc3339_micros(p.created_at),
        runs: runs.map(|rs| {
            rs.into_iter()
                .map(|r| RunView {
                    scheduled_for: rfc3339_micros(r.scheduled_for),
                    status: r.status,
                    client_order_id: r.client_order_id,
                    order_id: r.order_id,
                    detail: r.detail,
                    ran_at: r.ran_at.map(rfc3339_micros),
                })
                .collect()
        }),
    }
}

/// `POST /v1/recurring`: a new recurring order.
#[utoipa::path(post, path = "/v1/recurring", tag = "recurring", request_body = NewPlan,
    responses((status = 201, body = PlanView)))]
pub async fn create(
    State(state): State<AutoState>,
    principal: Principal,
    Json(body): Json<NewPlan>,
) -> Result<(StatusCode, Json<PlanView>), ApiError> {
    let bad = ApiError::unprocessable;
    let symbol = body.symbol.trim().to_ascii_uppercase();
    if !matches!(body.side.as_str(), "buy" | "sell") {
        return Err(bad("side: buy or sell"));
    }
    let (qty, notional) = match (&body.qty, &body.notional) {
        (Some(q), None) => (Some(parse_fixed("qty", q, 0)?), None),
        (None, Some(n)) => (None, Some(parse_cents("notional", n)?)),
        _ => return Err(bad("exactly one of qty and notional")),
    };
    if qty.is_some_and(|q| q <= 0) || notional.is_some_and(|n| n <= 0) {
        return Err(bad("qty or notional: above zero"));
    }
    if notional.is_some() && body.side != "buy" {
        return Err(bad("notional: for buys (sell a qty)"));
    }
    let at = time_of_day(&body.time)
        .ok_or_else(|| bad("time: HH:MM from 09:30 to 15:59, exchange time (America/New_York)"))?;
    let (frequency, weekdays, day_of_month) = match body.frequency.as_str() {
        "daily" if body.weekdays.is_empty() && body.day_of_month.is_none() => {
            (Frequency::Daily, String::new(), None)
        }
        "weekly" if body.day_of_month.is_none() => {
            let days = body
                .weekdays
                .iter()
                .map(|d| weekday(d))
                .collect::<Option<Vec<_>>>()
                .filter(|d| !d.is_empty())
                .ok_or_else(|| bad("weekdays: one or more of mon, tue, wed, thu, fri"))?;
            let names: Vec<&str> = days.iter().map(|d| weekday_name(*d)).collect();
            (Frequency::Weekly(days.clone()), names.join(","), None)
        }
        "monthly" if body.weekdays.is_empty() => {
            let d = body
                .day_of_month
                .filter(|d| (1..=28).contains(d))
                .ok_or_else(|| bad("day_of_month: 1 to 28"))?;
            (Frequency::Monthly(d as i8), String::new(), Some(d))
        }
        "daily" | "weekly" | "monthly" => {
            return Err(bad(
                "weekdays go with weekly plans, day_of_month with monthly ones",
            ));
        }
        _ => return Err(bad("frequency: daily, weekly or monthly")),
    };
    if symbol.is_empty() || state.market.instrument(&symbol).await?.is_none() {
        return Err(ApiError::unprocessable(format!(
            "symbol: {symbol:?} is not listed"
        )));
    }
    let now = state.clock.now();
    let s = Schedule { frequency, at };
    let plan = Plan {
        id: bourse_trader::orders::new_id(),
        user: principal.user,
        symbol,
        side: body.side,
        qty,
        notional,
        frequency: body.frequency,
        weekdays,
        day_of_month,
        at_time: body.time,
        status: "active".into(),
        next_run_at: s.next_after(now).map(micros),
        created_at: micros(now),
    };
    if !state.store.create_plan(&plan, MAX_PLANS).await? {
        return Err(ApiError::unprocessable(format!(
            "at most {MAX_PLANS} plans: delete one first"
        )));
    }
    Ok((StatusCode::CREATED, Json(view(plan, None))))
}

/// `GET /v1/recurring`: the caller's plans, newest first.
#[utoipa::path(get, path = "/v1/recurring", tag = "recurring",
    responses((status = 200, body = Vec<PlanView>)))]
pub async fn list(
    State(state): State<AutoState>,
    principal: Principal,
) -> Result<Json<Vec<PlanView>>, ApiError> {
    let plans = state.store.plans(principal.user).await?;
    Ok(Json(plans.into_iter().map(|p| view(p, None)).collect()))
}

async fn found(state: &AutoState, user: u64, id: &str) -> Result<Plan, ApiError> {
    state
        .store
        .plan(user, id)
        .await?
        .ok_or_else(|| ApiError::not_found("recurring order not found"))
}

/// `GET /v1/recurring/{id}`: a plan with its last 100 runs.
#[utoipa::path(get, path = "/v1/recurring/{id}", tag = "recurring",
    params(("id" = String, Path, description = "The plan's id")),
    responses((status = 200, body = PlanView)))]
pub async fn get_one(
    State(state): State<AutoState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<PlanView>, ApiError> {
    let p = found(&state, principal.user, &id).await?;
    let runs = state.store.runs(&p.id, 100).await?;
    Ok(Json(view(p, Some(runs))))
}

/// `POST /v1/recurring/{id}/pause`: no runs until resumed.
#[utoipa::path(post, path = "/v1/recurring/{id}/pause", tag = "recurring",
    params(("id" = String, Path, description = "The plan's id")),
    responses((status = 200, body = PlanView)))]
pub async fn pause(
    State(state): State<AutoState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<PlanView>, ApiError> {
    found(&state, principal.user, &id).await?;
    state
        .store
        .set_plan_status(principal.user, &id, "paused", None)
        .await?;
    Ok(Json(view(found(&state, principal.user, &id).await?, None)))
}

/// `POST /v1/recurring/{id}/resume`: runs again from the next time after now.
#[utoipa::path(post, path = "/v1/recurring/{id}/resume", tag = "recurring",
    params(("id" = String, Path, description = "The plan's id")),
    responses((status = 200, body = PlanView)))]
pub async fn resume(
    State(state): State<AutoState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<PlanView>, ApiError> {
    let p = found(&state, principal.user, &id).await?;
    let next = schedule(&p)
        .and_then(|s| s.next_after(state.clock.now()))
        .map(micros);
    state
        .store
        .set_plan_status(principal.user, &id, "active", next)
        .await?;
    Ok(Json(view(found(&state, principal.user, &id).await?, None)))
}

/// `DELETE /v1/recurring/{id}`: no more runs (its history is kept).
#[utoipa::path(delete, path = "/v1/recurring/{id}", tag = "recurring",
    params(("id" = String, Path, description = "The plan's id")),
    responses((status = 204, description = "Deleted")))]
pub async fn delete(
    State(state): State<AutoState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !state
        .store
        .set_plan_status(principal.user, &id, "deleted", None)
        .await?
    {
        return Err(ApiError::not_found("recurring order not found"));
    }
    Ok(StatusCode::NO_CONTENT)
}
