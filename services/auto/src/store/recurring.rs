//! Recurring orders' storage: plans and their runs (`migrations/0003_recurring.sql`),
//! the same statements on both stores (times are microseconds in both; SQLite reads
//! `$n` as `?n`).

use bourse_shell::ApiError;

/// A recurring order's plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Its id.
    pub id: String,
    /// Its owner.
    pub user: u64,
    /// Ticker.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Shares per run (or `notional`).
    pub qty: Option<i64>,
    /// Cents per run, in whole shares at the last price (or `qty`).
    pub notional: Option<i64>,
    /// `daily`, `weekly` or `monthly`.
    pub frequency: String,
    /// Weekly: `mon,thu`.
    pub weekdays: String,
    /// Monthly: the day of the month.
    pub day_of_month: Option<i32>,
    /// `HH:MM`, exchange time.
    pub at_time: String,
    /// `active`, `paused` or `deleted`.
    pub status: String,
    /// The next run (microseconds), while active.
    pub next_run_at: Option<i64>,
    /// When it was made (microseconds).
    pub created_at: i64,
}

/// One run of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// The plan.
    pub plan_id: String,
    /// The time it was due (microseconds).
    pub scheduled_for: i64,
    /// `pending` (claimed, its order not yet answered), `submitted`, `skipped` or
    /// `rejected`.
    pub status: String,
    /// Its order's client order id (from the plan and the time).
    pub client_order_id: String,
    /// Its order's id, once entered.
    pub order_id: Option<String>,
    /// Why it was skipped or rejected.
    pub detail: Option<String>,
    /// When it was finished (microseconds).
    pub ran_at: Option<i64>,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    /// `submitted`, `skipped` or `rejected`.
    pub status: &'static str,
    /// Its order, if one was entered.
    pub order_id: Option<String>,
    /// Why it was skipped or rejected.
    pub detail: Option<String>,
}

/// The columns [`Plan`]s are read from.
pub(crate) const PLAN_COLUMNS: &str = "id, user_id, symbol, side, qty, notional, frequency, weekdays, day_of_month, at_time, status, next_run_at, created_at";
/// The columns [`Run`]s are read from.
pub(crate) const RUN_COLUMNS: &str =
    "plan_id, scheduled_for, status, client_order_id, order_id, detail, ran_at";

/// The statements, in PostgreSQL's placeholders.
pub(crate) mod sql {
    pub(crate) const INSERT: &str =
        "INSERT INTO auto_recurring (id, user_id, symbol, side, qty, notional, frequency, weekdays,
         day_of_month, at_time, next_run_at, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)";
    pub(crate) const COUNT_ACTIVE: &str =
        "SELECT count(*) FROM auto_recurring WHERE user_id = $1 AND status <> 'deleted'";
    pub(crate) const SET_STATUS: &str =
        "UPDATE auto_recurring SET status = $3, next_run_at = $4, updated_at = $5
     WHERE user_id = $1 AND id = $2 AND status <> 'deleted'";
    pub(crate) const CLAIM: &str = "UPDATE auto_recurring SET next_run_at = $3, updated_at = $4
     WHERE id = $1 AND status = 'active' AND next_run_at = $2";
    pub(crate) const INSERT_RUN: &str =
        "INSERT INTO auto_recurring_runs (plan_id, scheduled_for, client_order_id)
     VALUES ($1, $2, $3) ON CONFLICT (plan_id, scheduled_for) DO NOTHING";
    pub(crate) const FINISH_RUN: &str =
        "UPDATE auto_recurring_runs SET status = $3, order_id = $4, detail = $5, ran_at = $6
     WHERE plan_id = $1 AND scheduled_for = $2 AND status = 'pending'";
}

/// Recurring orders' storage.
#[async_trait::async_trait]
pub trait RecurringStore: Send + Sync {
    /// Stores a new plan, unless its owner has `max` plans already (`false`).
    async fn create_plan(&self, plan: &Plan, max: u32) -> Result<bool, ApiError>;
    /// `user`'s plans (not deleted), newest first.
    async fn plans(&self, user: u64) -> Result<Vec<Plan>, ApiError>;
    /// One of `user`'s plans (not deleted).
    async fn plan(&self, user: u64, id: &str) -> Result<Option<Plan>, ApiError>;
    /// Sets a plan's status and next run; whether it was `user`'s and not deleted.
    async fn set_plan_status(
        &self,
        user: u64,
        id: &str,
        status: &str,
        next_run_at: Option<i64>,
    ) -> Result<bool, ApiError>;
    /// A plan's runs, newest first.
    async fn runs(&self, plan: &str, limit: u32) -> Result<Vec<Run>, ApiError>;
    /// Active plans whose next run is due at `now`.
    async fn due_plans(&self, now: i64) -> Result<Vec<Plan>, ApiError>;
    /// Claims the run of `plan` due at `scheduled`: moves the plan to `next` (compare-
    /// and-set on `scheduled`) and writes the run `pending`, in one transaction; false
    /// if another claimed it (or the plan changed).
    async fn claim_run(
        &self,
        plan: &str,
        scheduled: i64,
        next: Option<i64>,
        client_order_id: &str,
    ) -> Result<bool, ApiError>;
    /// Runs claimed and not finished, with their plans.
    async fn pending_runs(&self) -> Result<Vec<(Plan, Run)>, ApiError>;
    /// Finishes a pending run.
    async fn finish_run(
        &self,
        plan: &str,
        scheduled: i64,
        outcome: &RunOutcome,
    ) -> Result<(), ApiError>;
}
