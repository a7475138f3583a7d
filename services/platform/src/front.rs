//! One address for every service of the all-in-one process: requests routed by path to
//! the service that owns them, as `nginx/nginx.conf` routes them in the distributed
//! mode, so an Alpaca client needs one base URL for trading, market data and the
//! streams.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Uri};
use axum::response::{IntoResponse, Response};
use bourse_shell::ApiError;
use tower::ServiceExt;

/// A service behind the front.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// Accounts, logins, API keys, funding.
    User,
    /// Orders, the account, positions, `trade_updates`.
    Trader,
    /// Assets, clock, calendar, market data and its stream.
    Stock,
    /// The live valuation socket.
    Portfolio,
    /// The inbox, its socket, webhooks.
    Notification,
    /// Price alerts and recurring orders.
    Auto,
}

impl Service {
    fn named(name: &str) -> Option<Service> {
        Some(match name {
            "user" => Service::User,
            "trader" => Service::Trader,
            "stock" => Service::Stock,
            "portfolio" => Service::Portfolio,
            "notification" => Service::Notification,
            "auto" => Service::Auto,
            _ => return None,
        })
    }
}

/// The service that owns `path` (the routes of `nginx/nginx.conf`), and the path to ask
/// it for (`/openapi/trader.json` is the trader's `/openapi.json`). The web page (`/`,
/// `/app/...`) is the user service's.
pub fn route(path: &str) -> Option<(Service, Option<&'static str>)> {
    let any = |prefixes: &[&str]| prefixes.iter().any(|p| path.starts_with(p));
    if bourse_web::owns(path) {
        return Some((Service::User, None));
    }
    if let Some(name) = path
        .strip_prefix("/openapi/")
        .and_then(|f| f.strip_suffix(".json"))
    {
        return Service::named(name).map(|s| (s, Some("/openapi.json")));
    }
    let service = if any(&["/v1/users", "/v1/auth/", "/v1/keys", "/v1/admin/users/"]) {
        Service::User
    } else if any(&["/v2/orders", "/v2/account", "/v2/positions"]) || path == "/stream" {
        Service::Trader
    } else if any(&[
        "/v2/assets",
        "/v2/stocks/",
        "/v1/admin/assets",
        "/v2/watchlists",
    ]) || matches!(
        path,
        "/v2/clock" | "/v2/calendar" | "/v2/iex" | "/v2/sip" | "/v2/delayed_sip" | "/v2/test"
    ) {
        Service::Stock
    } else if path == "/portfolio" {
        Service::Portfolio
    } else if path == "/v1/notifications" || path.starts_with("/v1/notifications/") {
        Service::Notification
    } else if path == "/v1/alerts"
        || path.starts_with("/v1/alerts/")
        || path == "/v1/recurring"
        || path.starts_with("/v1/recurring/")
    {
        Service::Auto
    } else {
        return None;
    };
    Some((service, None))
}

/// The services' apps behind one router.
#[derive(Clone)]
pub struct Apps {
    /// The user service.
    pub user: Router,
    /// The trader service.
    pub trader: Router,
    /// The stock service.
    pub stock: Router,
    /// The portfolio service.
    pub portfolio: Router,
    /// The notification service.
    pub notification: Router,
    /// The auto service.
    pub auto: Router,
}

impl Apps {
    fn app(&self, s: Service) -> Router {
        match s {
            Service::User => self.user.clone(),
            Service::Trader => self.trader.clone(),
            Service::Stock => self.stock.clone(),
            Service::Portfolio => self.portfolio.clone(),
            Service::Notification => self.notification.clone(),
            Service::Auto => self.auto.clone(),
        }
    }
}

/// The router of the front address.
pub fn router(apps: Apps) -> Router {
    Router::new().fallback(move |mut req: Request<Body>| {
        let apps = apps.clone();
        async move {
            let Some((service, rewrite)) = route(req.uri().path()) else {
                return ApiError::not_found("no such route").into_response();
            };
            if let Some(path) = rewrite {
                *req.uri_mut() = Uri::from_static(path);
            }
            let answer: Response = match apps.app(service).oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            answer
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_go_where_nginx_sends_them() {
        for (path, want) in [
            ("/", Service::User),
            ("/app/app.js", Service::User),
            ("/v1/users", Service::User),
            ("/v1/auth/login", Service::User),
            ("/v1/keys/BK1", Service::User),
            ("/v1/admin/users/7/deposit", Service::User),
            ("/v2/orders", Service::Trader),
            ("/v2/orders:by_client_order_id", Service::Trader),
            ("/v2/account", Service::Trader),
            ("/v2/positions/ACME", Service::Trader),
            ("/stream", Service::Trader),
            ("/v2/assets/ACME", Service::Stock),
            ("/v2/watchlists", Service::Stock),
            ("/v2/watchlists/0b7c/ACME", Service::Stock),
            ("/v2/clock", Service::Stock),
            ("/v2/stocks/ACME/bars", Service::Stock),
            ("/v1/admin/assets", Service::Stock),
            ("/v2/iex", Service::Stock),
            ("/portfolio", Service::Portfolio),
            ("/v1/notifications", Service::Notification),
            ("/v1/alerts", Service::Auto),
            ("/v1/alerts/0b7c", Service::Auto),
            ("/v1/recurring", Service::Auto),
            ("/v1/recurring/0b7c/pause", Service::Auto),
            (
                "/v1/notifications/webhook/deliveries",
                Service::Notification,
            ),
        ] {
            assert_eq!(route(path), Some((want, None)), "{path}");
        }
        assert_eq!(
            route("/openapi/trader.json"),
            Some((Service::Trader, Some("/openapi.json")))
        );
        for nowhere in [
            "/index.html",
            "/v2/streamx",
            "/openapi/nginx.json",
            "/v3/orders",
        ] {
            assert_eq!(route(nowhere), None, "{nowhere}");
        }
    }
}
