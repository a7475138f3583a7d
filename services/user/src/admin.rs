//! Funding, an admin's job: deposits and withdrawals of cash or shares, as journaled
//! engine commands through the gateway. Amounts are decimal strings: dollars with up to
//! two decimals for `USD`, whole shares for a symbol.

use axum::extract::State;
use axum::http::StatusCode;
use bourse_core::{CASH, FixedStr, RejectReason, UserId};
use bourse_gateway::protocol::ServiceMsg;
use bourse_gateway_client::{GatewayClient, Verdict, verdict};
use bourse_shell::ApiError;
use bourse_shell::auth::Principal;
use bourse_shell::extract::{Json, Path};
use bourse_shell::money;
use serde::{Deserialize, Serialize};

use crate::UserState;

/// A deposit or withdrawal.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Funding {
    /// `USD` or a symbol.
    pub asset: String,
    /// `"1000.50"` for USD, `"25"` for shares.
    pub amount: String,
}

/// What was done.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Funded {
    /// Whose account.
    pub user: u64,
    /// `USD` or a symbol.
    pub asset: String,
    /// The amount, as sent.
    pub amount: String,
    /// The engine event that did it.
    pub seq: u64,
}

/// The HTTP answer an engine refusal stands for.
pub fn refusal(reason: RejectReason) -> ApiError {
    let message = format!("refused by the exchange: {}", reason.as_str());
    match reason {
        RejectReason::UnknownUser | RejectReason::UnknownOrder => ApiError::not_found(message),
        RejectReason::UnknownSymbol => ApiError::unprocessable(message),
        RejectReason::InsufficientFunds | RejectReason::InsufficientShares => {
            ApiError::forbidden(message)
        }
        RejectReason::DuplicateId => ApiError::conflict(message),
        RejectReason::Throttled => ApiError::too_many_requests(1),
        _ => ApiError::unprocessable(message),
    }
}

/// The engine, or 503 when the service runs without one.
pub fn engine(state: &UserState) -> Result<&GatewayClient, ApiError> {
    state
        .engine
        .as_ref()
        .ok_or_else(|| ApiError::unavailable("exchange", "no gateway configured"))
}

/// Sends `msg` and turns its verdict into a result.
pub async fn execute(engine: &GatewayClient, msg: ServiceMsg) -> Result<u64, ApiError> {
    match engine.request(msg).await {
        Ok(reports) => match verdict(&reports) {
            Verdict::Done(seq) => Ok(seq),
            Verdict::Refused(reason) => Err(refusal(reason)),
        },
        Err(e) => Err(ApiError::unavailable("exchange", e)),
    }
}

async fn fund(
    state: UserState,
    principal: Principal,
    user: u64,
    body: Funding,
    deposit: bool,
) -> Result<(StatusCode, Json<Funded>), ApiError> {
    principal.require_admin()?;
    let asset = FixedStr::new(&body.asset)
        .map_err(|_| ApiError::unprocessable("asset: USD or a symbol"))?;
    let amount = if body.asset == CASH {
        money::parse_cents("amount", &body.amount)?
    } else {
        money::parse_fixed("amount", &body.amount, 0)?
    };
    if amount <= 0 {
        return Err(ApiError::unprocessable("amount: must be positive"));
    }
    let (user, request) = (UserId(user), 0);
    let msg = if deposit {
        ServiceMsg::Deposit {
            request,
            user,
            asset,
            amount,
        }
    } else {
        ServiceMsg::Withdraw {
            request,
            user,
            asset,
            amount,
        }
    };
    let seq = execute(engine(&state)?, msg).await?;
    tracing::info!(
        admin = principal.user,
        user = user.0,
        asset = body.asset,
        amount,
        deposit,
        "funded"
    );
    Ok((
        StatusCode::OK,
        Json(Funded {
            user: user.0,
            asset: body.asset,
            amount: body.amount,
            seq,
        }),
    ))
}

/// `POST /v1/admin/users/{id}/deposit`.
#[utoipa::path(post, path = "/v1/admin/users/{id}/deposit", tag = "admin", params(("id" = u64, Path, description = "The user")), request_body = Funding, responses((status = 200, body = Funded)))]
pub async fn deposit(
    State(state): State<UserState>,
    principal: Principal,
    Path(user): Path<u64>,
    Json(body): Json<Funding>,
) -> Result<(StatusCode, Json<Funded>), ApiError> {
    fund(state, principal, user, body, true).await
}

/// `POST /v1/admin/users/{id}/withdraw`.
#[utoipa::path(post, path = "/v1/admin/users/{id}/withdraw", tag = "admin", params(("id" = u64, Path, description = "The user")), request_body = Funding, responses((status = 200, body = Funded)))]
pub async fn withdraw(
    State(state): State<UserState>,
    principal: Principal,
    Path(user): Path<u64>,
    Json(body): Json<Funding>,
) -> Result<(StatusCode, Json<Funded>), ApiError> {
    fund(state, principal, user, body, false).await
}
