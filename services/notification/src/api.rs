//! The inbox, the preferences and the webhook over HTTP: every route is the caller's
//! own (keyed by the principal's user; another user's id is a 404).

use axum::extract::State;
use axum::http::StatusCode;
use bourse_shell::ApiError;
use bourse_shell::auth::Principal;
use bourse_shell::extract::{Json, Path, Query};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

use crate::NotificationState;
use crate::kind::Kind;
use crate::service::render;
use crate::store::{DeliveryRecord, Page};

/// Most items in one page.
pub const MAX_LIMIT: u32 = 500;

fn limit(asked: Option<u32>) -> Result<u32, ApiError> {
    match asked {
        None => Ok(50),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::unprocessable(format!("limit: 1 to {MAX_LIMIT}"))),
    }
}

fn page_token(token: Option<&str>) -> Result<Option<i64>, ApiError> {
    token
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError::unprocessable("page_token: not a page token"))
        })
        .transpose()
}

/// `GET /v1/notifications`'s query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// At most this many (1 to 500; 50).
    pub limit: Option<u32>,
    /// The page after the one that gave this `next_page_token`.
    pub page_token: Option<String>,
    /// Only unread ones.
    #[serde(default)]
    pub unread_only: bool,
}

/// A page of notifications.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationPage {
    /// Newest first. Each: `id`, `kind`, `created_at`, `read`, `title`, `event`,
    /// `event_time`, `seq`, `order_id`, `client_order_id`, `symbol`, `side`,
    /// `order_type`, and as the kind has them `price`, `qty`, `reason`.
    #[schema(value_type = Vec<Object>)]
    pub notifications: Vec<Value>,
    /// The token of the next (older) page; null on the last.
    pub next_page_token: Option<String>,
}

/// `GET /v1/notifications`: the caller's inbox, newest first.
#[utoipa::path(get, path = "/v1/notifications", tag = "notifications", params(ListParams),
    responses((status = 200, body = NotificationPage)))]
pub async fn list(
    State(state): State<NotificationState>,
    principal: Principal,
    Query(q): Query<ListParams>,
) -> Result<Json<NotificationPage>, ApiError> {
    let limit = limit(q.limit)?;
    let page = Page {
        before: page_token(q.page_token.as_deref())?,
        limit,
        unread_only: q.unread_only,
    };
    let found = state.store.list(principal.user, page).await?;
    let next_page_token = (found.len() == limit as usize)
        .then(|| found.last().map(|n| n.id.to_string()))
        .flatten();
    Ok(Json(NotificationPage {
        notifications: found.iter().map(render).collect(),
        next_page_token,
    }))
}

/// The unread count.
#[derive(Debug, Serialize, ToSchema)]
pub struct Unread {
    /// Notifications not marked read.
    pub unread: u64,
}

/// `GET /v1/notifications/unread_count`.
#[utoipa::path(get, path = "/v1/notifications/unread_count", tag = "notifications",
    responses((status = 200, body = Unread)))]
pub async fn unread_count(
    State(state): State<NotificationState>,
    principal: Principal,
) -> Result<Json<Unread>, ApiError> {
    Ok(Json(Unread {
        unread: state.store.unread(principal.user).await?,
    }))
}

/// `PATCH /v1/notifications/{id}`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Mark {
    /// Read (true) or unread (false).
    pub read: bool,
}

/// `PATCH /v1/notifications/{id}`: marks one read or unread.
#[utoipa::path(patch, path = "/v1/notifications/{id}", tag = "notifications",
    params(("id" = String, Path, description = "The notification's id")),
    request_body = Mark, responses((status = 200, body = Object, description = "The notification")))]
pub async fn mark(
    State(state): State<NotificationState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<Mark>,
) -> Result<Json<Value>, ApiError> {
    let not_found = || ApiError::not_found("notification not found");
    let id = id.parse::<i64>().map_err(|_| not_found())?;
    let n = state
        .store
        .mark(principal.user, id, body.read)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(render(&n)))
}

/// What `read_all` marked.
#[derive(Debug, Serialize, ToSchema)]
pub struct Marked {
    /// Notifications that were unread.
    pub marked: u64,
}

/// `POST /v1/notifications/read_all`: marks every notification read.
#[utoipa::path(post, path = "/v1/notifications/read_all", tag = "notifications",
    responses((status = 200, body = Marked)))]
pub async fn read_all(
    State(state): State<NotificationState>,
    principal: Principal,
) -> Result<Json<Marked>, ApiError> {
    Ok(Json(Marked {
        marked: state.store.mark_all(principal.user).await?,
    }))
}

/// The kinds a user receives.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesBody {
    /// Kind → received (`new`, `fill`, `partial_fill`, `canceled`, `expired`,
    /// `replaced`, `rejected`, `triggered`). In a `PUT`, the kinds named change and
    /// the others stay.
    pub kinds: BTreeMap<String, bool>,
}

/// `GET /v1/notifications/preferences`: which kinds the caller receives (all but
/// `new` unless changed).
#[utoipa::path(get, path = "/v1/notifications/preferences", tag = "notifications",
    responses((status = 200, body = PreferencesBody)))]
pub async fn preferences(
    State(state): State<NotificationState>,
    principal: Principal,
) -> Result<Json<PreferencesBody>, ApiError> {
    let p = state
        .store
        .preferences(&[principal.user])
        .await?
        .remove(&principal.user)
        .unwrap_or_default();
    Ok(Json(PreferencesBody {
        kinds: p
            .all()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }))
}

/// `PUT /v1/notifications/preferences`: turns kinds on or off.
#[utoipa::path(put, path = "/v1/notifications/preferences", tag = "notifications",
    request_body = PreferencesBody, responses((status = 200, body = PreferencesBody)))]
pub async fn set_preferences(
    State(state): State<NotificationState>,
    principal: Principal,
    Json(body): Json<PreferencesBody>,
) -> Result<Json<PreferencesBody>, ApiError> {
    let set = body
        .kinds
        .iter()
        .map(|(name, on)| {
            Kind::parse(name)
                .map(|k| (k, *on))
                .ok_or_else(|| ApiError::unprocessable(format!("kinds: unknown kind {name:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let p = state.store.set_preferences(principal.user, &set).await?;
    Ok(Json(PreferencesBody {
        kinds: p
            .all()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }))
}

/// `PUT /v1/notifications/webhook`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where to POST each notification (`https://...`).
    pub url: String,
}

/// A webhook as registered.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    /// Where the calls go.
    pub url: String,
    /// The signing secret: shown once, when the webhook is registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// When it was registered.
    pub created_at: String,
}

/// `GET /v1/notifications/webhook`: the caller's webhook (without its secret).
#[utoipa::path(get, path = "/v1/notifications/webhook", tag = "webhooks",
    responses((status = 200, body = WebhookView)))]
pub async fn webhook(
    State(state): State<NotificationState>,
    principal: Principal,
) -> Result<Json<WebhookView>, ApiError> {
    let w = state
        .store
        .webhook(principal.user)
        .await?
        .ok_or_else(|| ApiError::not_found("no webhook registered"))?;
    Ok(Json(WebhookView {
        url: w.url,
        secret: None,
        created_at: w.created_at,
    }))
}

/// `PUT /v1/notifications/webhook`: registers (or replaces) the caller's webhook with
/// a new signing secret, shown in this answer only.
#[utoipa::path(put, path = "/v1/notifications/webhook", tag = "webhooks",
    request_body = NewWebhook, responses((status = 200, body = WebhookView)))]
pub async fn set_webhook(
    State(state): State<NotificationState>,
    principal: Principal,
    Json(body): Json<NewWebhook>,
) -> Result<Json<WebhookView>, ApiError> {
    crate::egress::check_url(body.url.trim(), state.webhooks.allow_private)
        .map_err(ApiError::unprocessable)?;
    let secret = format!("whsec_{}", bourse_shell::auth::random_hex(32));
    let w = state
        .store
        .set_webhook(principal.user, body.url.trim(), &secret)
        .await?;
    tracing::info!(user = principal.user, "webhook registered");
    Ok(Json(WebhookView {
        url: w.url,
        secret: Some(w.secret),
        created_at: w.created_at,
    }))
}

/// `DELETE /v1/notifications/webhook`: stops the calls (pending deliveries die).
#[utoipa::path(delete, path = "/v1/notifications/webhook", tag = "webhooks",
    responses((status = 204, description = "Removed")))]
pub async fn delete_webhook(
    State(state): State<NotificationState>,
    principal: Principal,
) -> Result<StatusCode, ApiError> {
    if !state.store.delete_webhook(principal.user).await? {
        return Err(ApiError::not_found("no webhook registered"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/notifications/webhook/deliveries`'s query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// Only `pending`, `delivered` or `dead` ones (the dead letter).
    pub status: Option<String>,
    /// At most this many (1 to 500; 50).
    pub limit: Option<u32>,
    /// The page after the one that gave this `next_page_token`.
    pub page_token: Option<String>,
}

/// One call to the webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    /// 1 for the first.
    pub attempt: i32,
    /// The URL called.
    pub url: String,
    /// The receiver's status code, if it answered.
    pub status_code: Option<i32>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: f64,
}

/// A delivery of one notification to the webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The delivery's id.
    pub id: String,
    /// The notification delivered.
    pub notification_id: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    /// The next call, while pending.
    pub next_attempt_at: Option<String>,
    /// When the delivery was made.
    pub created_at: String,
    /// Every call, in order.
    pub attempts: Vec<AttemptView>,
}

fn delivery_view(d: DeliveryRecord) -> DeliveryView {
    DeliveryView {
        id: d.id.to_string(),
        notification_id: d.notification.to_string(),
        status: d.status,
        next_attempt_at: d.next_at,
        created_at: d.created_at,
        attempts: d
            .attempts
            .into_iter()
            .map(|a| AttemptView {
                attempt: a.number,
                url: a.url,
                status_code: a.status_code,
                error: a.error,
                duration_ms: a.duration.as_secs_f64() * 1e3,
            })
            .collect(),
    }
}

/// A page of deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    /// Newest first.
    pub deliveries: Vec<DeliveryView>,
    /// The token of the next (older) page; null on the last.
    pub next_page_token: Option<String>,
}

/// `GET /v1/notifications/webhook/deliveries`: the delivery log.
#[utoipa::path(get, path = "/v1/notifications/webhook/deliveries", tag = "webhooks",
    params(DeliveryParams), responses((status = 200, body = DeliveryPage)))]
pub async fn deliveries(
    State(state): State<NotificationState>,
    principal: Principal,
    Query(q): Query<DeliveryParams>,
) -> Result<Json<DeliveryPage>, ApiError> {
    let status = q.status.as_deref().filter(|s| !s.is_empty());
    if let Some(s) = status
        && !["pending", "delivered", "dead"].contains(&s)
    {
        return Err(ApiError::unprocessable(
            "status: pending, delivered or dead",
        ));
    }
    let limit = limit(q.limit)?;
    let before = page_token(q.page_token.as_deref())?;
    let found = state
        .store
        .deliveries(principal.user, status, before, limit)
        .await?;
    let next_page_token = (found.len() == limit as usize)
        .then(|| found.last().map(|d| d.id.to_string()))
        .flatten();
    Ok(Json(DeliveryPage {
        deliveries: found.into_iter().map(delivery_view).collect(),
        next_page_token,
    }))
}

/// `POST /v1/notifications/webhook/deliveries/{id}/redeliver`: a dead delivery is
/// sent again now (one more call; if it fails, it is dead again).
#[utoipa::path(post, path = "/v1/notifications/webhook/deliveries/{id}/redeliver", tag = "webhooks",
    params(("id" = String, Path, description = "The delivery's id")),
    responses((status = 200, body = DeliveryView)))]
pub async fn redeliver(
    State(state): State<NotificationState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<DeliveryView>, ApiError> {
    let not_found = || ApiError::not_found("no dead delivery with this id");
    let id = id.parse::<i64>().map_err(|_| not_found())?;
    let d = state
        .store
        .redeliver(principal.user, id)
        .await?
        .ok_or_else(not_found)?;
    state.wake.notify_one();
    Ok(Json(delivery_view(d)))
}
