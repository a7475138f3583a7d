//! Watchlists in the shape of Alpaca's Trading API v2: each user's named lists of
//! symbols to follow, which only that user sees.
//!
//! | route | what |
//! |---|---|
//! | `GET /v2/watchlists` | the caller's watchlists (without their assets) |
//! | `POST /v2/watchlists` | a new one: `name`, optional `symbols` |
//! | `GET /v2/watchlists/{id}` | one, with its assets in the order they were added |
//! | `PUT /v2/watchlists/{id}` | a new `name` and/or `symbols` (which replace the old) |
//! | `POST /v2/watchlists/{id}` | adds `symbol` at the end (once: adding it again changes nothing) |
//! | `DELETE /v2/watchlists/{id}/{symbol}` | removes a symbol |
//! | `DELETE /v2/watchlists/{id}` | deletes the watchlist (204) |
//!
//! Every symbol must be listed (`GET /v2/assets`), and a name is unique among its
//! user's watchlists. Another user's watchlist is a 404, as one that does not exist.
//! Two changes to one watchlist at once both land: each is saved only over the version
//! it was made from, and made again from the newer one if it lost the race.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use bourse_shell::ApiError;
use bourse_shell::auth::Principal;
use bourse_shell::extract::{Json, Path};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::StockState;
use crate::assets::{account_id, asset_json};
use crate::store::{Created, Saved, Watchlist};

/// The most watchlists one user may have.
pub const MAX_WATCHLISTS: i64 = 100;
/// The most symbols in one watchlist.
pub const MAX_SYMBOLS: usize = 500;
/// The longest name, in characters.
pub const MAX_NAME: usize = 64;
/// How many times a change is made again after another change to the same watchlist
/// was saved first.
const ATTEMPTS: usize = 16;

/// A new watchlist.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWatchlist {
    /// Unique among the caller's watchlists; 1 to 64 characters.
    pub name: String,
    /// Tickers to start with (each listed); a repeated one is kept once.
    pub symbols: Option<Vec<String>>,
}

/// A change to a watchlist: a new name, new symbols, or both.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchlistChange {
    /// The new name.
    pub name: Option<String>,
    /// The symbols that replace the watchlist's.
    pub symbols: Option<Vec<String>>,
}

/// A symbol to add to a watchlist.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddSymbol {
    /// A listed ticker.
    pub symbol: String,
}

/// `name`, if it can name a watchlist.
fn check_name(name: &str) -> Result<String, ApiError> {
    let chars = name.chars().count();
    if name.trim().is_empty() || chars > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(format!(
            "name: 1 to {MAX_NAME} characters, not only spaces, no control characters"
        )));
    }
    Ok(name.to_string())
}

/// `symbols` without repeats, in their order, if each is listed and they are few
/// enough.
async fn check_symbols(state: &StockState, symbols: &[String]) -> Result<Vec<String>, ApiError> {
    let mut seen = std::collections::HashSet::with_capacity(symbols.len());
    let kept: Vec<String> = symbols
        .iter()
        .filter(|s| seen.insert(s.as_str()))
        .cloned()
        .collect();
    if kept.len() > MAX_SYMBOLS {
        return Err(ApiError::unprocessable(format!(
            "symbols: at most {MAX_SYMBOLS} in a watchlist"
        )));
    }
    if kept.is_empty() {
        return Ok(kept);
    }
    let listed = state.store.listed_among(&kept).await?;
    if let Some(unknown) = kept.iter().find(|s| !listed.contains(s)) {
        return Err(ApiError::unprocessable(format!(
            "asset not found: {unknown}"
        )));
    }
    Ok(kept)
}

fn not_found() -> ApiError {
    ApiError::not_found("watchlist not found")
}

fn name_taken(name: &str) -> ApiError {
    ApiError::unprocessable(format!("name: you have a watchlist named {name:?} already"))
}

/// `w` as Alpaca's watchlist: with its assets (in the watchlist's order) when `assets`
/// is true.
async fn render(
    state: &StockState,
    user: u64,
    w: &Watchlist,
    assets: bool,
) -> Result<Value, ApiError> {
    let mut v = json!({
        "id": w.id,
        "account_id": account_id(user),
        "name": w.name,
        "created_at": w.created_at,
        "updated_at": w.updated_at,
    });
    if assets {
        // An exchange lists few instruments: one read of them all.
        let instruments: HashMap<String, _> = state
            .store
            .instruments(None)
            .await?
            .into_iter()
            .map(|i| (i.symbol.clone(), i))
            .collect();
        v["assets"] = w
            .symbols
            .iter()
            .filter_map(|s| instruments.get(s).map(asset_json))
            .collect();
    }
    Ok(v)
}

/// Makes `change` to the caller's watchlist `id` and saves it; made again from the
/// newer version if another change was saved first.
async fn change(
    state: &StockState,
    user: u64,
    id: &str,
    change: impl Fn(&Watchlist) -> Result<(String, Vec<String>), ApiError>,
) -> Result<Watchlist, ApiError> {
    for _ in 0..ATTEMPTS {
        let Some(w) = state.store.watchlist(user, id).await? else {
            return Err(not_found());
        };
        let (name, symbols) = change(&w)?;
        if name == w.name && symbols == w.symbols {
            return Ok(w);
        }
        match state
            .store
            .save_watchlist(user, id, w.version, &name, &symbols)
            .await?
        {
            Saved::Done(saved) => return Ok(saved),
            Saved::NameTaken => return Err(name_taken(&name)),
            Saved::Stale => continue,
        }
    }
    Err(ApiError::conflict(
        "the watchlist kept changing while this change was made: try again",
    ))
}

/// `GET /v2/watchlists`.
#[utoipa::path(get, path = "/v2/watchlists", tag = "watchlists", responses((status = 200, body = Vec<crate::schema::Watchlist>)))]
pub async fn list(
    State(state): State<StockState>,
    principal: Principal,
) -> Result<Json<Vec<Value>>, ApiError> {
    let mut out = Vec::new();
    for w in state.store.watchlists(principal.user).await? {
        out.push(render(&state, principal.user, &w, false).await?);
    }
    Ok(Json(out))
}

/// `POST /v2/watchlists`.
#[utoipa::path(post, path = "/v2/watchlists", tag = "watchlists", request_body = NewWatchlist, responses((status = 200, body = crate::schema::Watchlist)))]
pub async fn create(
    State(state): State<StockState>,
    principal: Principal,
    Json(body): Json<NewWatchlist>,
) -> Result<Json<Value>, ApiError> {
    let name = check_name(&body.name)?;
    let symbols = check_symbols(&state, body.symbols.as_deref().unwrap_or_default()).await?;
    let id = bourse_shell::ids::random_uuid();
    let user = principal.user;
    match state
        .store
        .create_watchlist(user, &id, &name, &symbols, MAX_WATCHLISTS)
        .await?
    {
        Created::Done(w) => Ok(Json(render(&state, user, &w, true).await?)),
        Created::NameTaken => Err(name_taken(&name)),
        Created::TooMany => Err(ApiError::unprocessable(format!(
            "at most {MAX_WATCHLISTS} watchlists: delete one first"
        ))),
    }
}

/// `GET /v2/watchlists/{id}`.
#[utoipa::path(get, path = "/v2/watchlists/{id}", tag = "watchlists", params(("id" = String, Path, description = "The watchlist's id")), responses((status = 200, body = crate::schema::Watchlist)))]
pub async fn get_one(
    State(state): State<StockState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let w = state
        .store
        .watchlist(principal.user, &id)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(render(&state, principal.user, &w, true).await?))
}

/// `PUT /v2/watchlists/{id}`.
#[utoipa::path(put, path = "/v2/watchlists/{id}", tag = "watchlists", params(("id" = String, Path, description = "The watchlist's id")), request_body = WatchlistChange, responses((status = 200, body = crate::schema::Watchlist)))]
pub async fn update(
    State(state): State<StockState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<WatchlistChange>,
) -> Result<Json<Value>, ApiError> {
    if body.name.is_none() && body.symbols.is_none() {
        return Err(ApiError::unprocessable("give a name, symbols or both"));
    }
    let name = body.name.as_deref().map(check_name).transpose()?;
    let symbols = match &body.symbols {
        Some(s) => Some(check_symbols(&state, s).await?),
        None => None,
    };
    let w = change(&state, principal.user, &id, |w| {
        Ok((
            name.clone().unwrap_or_else(|| w.name.clone()),
            symbols.clone().unwrap_or_else(|| w.symbols.clone()),
        ))
    })
    .await?;
    Ok(Json(render(&state, principal.user, &w, true).await?))
}

/// `POST /v2/watchlists/{id}`: adds a symbol at the end.
#[utoipa::path(post, path = "/v2/watchlists/{id}", tag = "watchlists", params(("id" = String, Path, description = "The watchlist's id")), request_body = AddSymbol, responses((status = 200, body = crate::schema::Watchlist)))]
pub async fn add(
    State(state): State<StockState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<AddSymbol>,
) -> Result<Json<Value>, ApiError> {
    let symbol = check_symbols(&state, std::slice::from_ref(&body.symbol))
        .await?
        .swap_remove(0);
    let w = change(&state, principal.user, &id, |w| {
        let mut symbols = w.symbols.clone();
        if !symbols.contains(&symbol) {
            if symbols.len() >= MAX_SYMBOLS {
                return Err(ApiError::unprocessable(format!(
                    "symbols: at most {MAX_SYMBOLS} in a watchlist"
                )));
            }
            symbols.push(symbol.clone());
        }
        Ok((w.name.clone(), symbols))
    })
    .await?;
    Ok(Json(render(&state, principal.user, &w, true).await?))
}

/// `DELETE /v2/watchlists/{id}/{symbol}`: removes a symbol.
#[utoipa::path(delete, path = "/v2/watchlists/{id}/{symbol}", tag = "watchlists", params(("id" = String, Path, description = "The watchlist's id"), ("symbol" = String, Path, description = "Ticker", example = "ACME")), responses((status = 200, body = crate::schema::Watchlist)))]
pub async fn remove(
    State(state): State<StockState>,
    principal: Principal,
    Path((id, symbol)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let w = change(&state, principal.user, &id, |w| {
        if !w.symbols.contains(&symbol) {
            return Err(ApiError::not_found(format!(
                "{symbol} is not in this watchlist"
            )));
        }
        let symbols = w
            .symbols
            .iter()
            .filter(|s| **s != symbol)
            .cloned()
            .collect();
        Ok((w.name.clone(), symbols))
    })
    .await?;
    Ok(Json(render(&state, principal.user, &w, true).await?))
}

/// `DELETE /v2/watchlists/{id}`.
#[utoipa::path(delete, path = "/v2/watchlists/{id}", tag = "watchlists", params(("id" = String, Path, description = "The watchlist's id")), responses((status = 204, description = "Deleted")))]
pub async fn delete(
    State(state): State<StockState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_watchlist(principal.user, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_printable_and_not_blank() {
        assert_eq!(check_name("Tech").unwrap(), "Tech");
        assert!(
            check_name(&"é".repeat(MAX_NAME)).is_ok(),
            "characters, not bytes"
        );
        for bad in ["", "   ", "a\nb", "tab\there"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&"x".repeat(MAX_NAME + 1)).is_err());
    }
}
