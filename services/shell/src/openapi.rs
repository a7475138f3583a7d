//! Every service's OpenAPI 3.1 document, generated from its handlers (`utoipa`) and
//! served at `/openapi.json`: what the shell adds to each is written once here — the
//! error shape, the two ways to authenticate, and the error answers every operation can
//! give, so a handler's annotation lists only what is its own.

use axum::Router;
use axum::routing::get;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// The error body every failure has (see [`crate::ApiError`]).
#[derive(Debug, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// The HTTP status × 100,000 plus a detail number (`42210000`).
    pub code: u32,
    /// What went wrong, for a person.
    pub message: String,
}

/// The errors any authenticated operation may answer, with what they mean.
const ERRORS: [(&str, &str); 7] = [
    (
        "400",
        "The request cannot be read (a malformed body or parameter).",
    ),
    ("401", "No credentials, or credentials that are not valid."),
    (
        "403",
        "Not allowed (an admin route; insufficient buying power).",
    ),
    ("404", "No such thing (or not yours: ids do not leak)."),
    (
        "422",
        "Well-formed but invalid (a price off the tick, an unknown value).",
    ),
    ("429", "Rate limit: retry after the `Retry-After` seconds."),
    (
        "503",
        "A dependency (database, exchange) is unavailable: retry.",
    ),
];

/// Operations reachable without credentials: `(method, path)`.
pub type Public<'a> = &'a [(&'a str, &'a str)];

/// Finishes a service's document: title and version, the error schema, the security
/// schemes (`bearer`: a JWT access token; `key_id` + `secret_key`: Alpaca's API key
/// headers), and on every operation the shell's error answers and the security
/// requirement (except the `public` ones).
pub fn finish(mut api: OpenApi, service: &str, public: Public<'_>) -> OpenApi {
    api.info.title = format!("Bourse {service} service");
    api.info.version = env!("CARGO_PKG_VERSION").to_string();
    api.info.description = Some(format!(
        "The {service} service of Bourse, an open-source stock exchange, in the Alpaca \
         API's conventions: money and quantities as decimal strings in the trading API, \
         errors as `{{\"code\", \"message\"}}`."
    ));
    let components = api.components.get_or_insert_with(Default::default);
    components
        .schemas
        .insert("Error".into(), ErrorBody::schema());
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    components.add_security_scheme(
        "key_id",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("APCA-API-KEY-ID"))),
    );
    components.add_security_scheme(
        "secret_key",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("APCA-API-SECRET-KEY"))),
    );
    let error = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Error")))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in api.paths.paths.iter_mut() {
        let ops = [
            ("get", item.get.as_mut()),
            ("post", item.post.as_mut()),
            ("put", item.put.as_mut()),
            ("patch", item.patch.as_mut()),
            ("delete", item.delete.as_mut()),
        ];
        for (method, op) in ops {
            let Some(op) = op else { continue };
            let open = public.contains(&(method, path.as_str()));
            // Public operations answer 401 too: a wrong password, a spent refresh token.
            for (status, description) in ERRORS {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| error(description));
            }
            if !open {
                op.security = Some(vec![
                    SecurityRequirement::new("bearer", Vec::<String>::new()),
                    SecurityRequirement::default()
                        .add("key_id", Vec::<String>::new())
                        .add("secret_key", Vec::<String>::new()),
                ]);
            }
        }
    }
    api
}

/// A service's whole app: its `routes` and their generated document `api` (finished
/// with [`finish`] and served at `/openapi.json`) in the shell ([`crate::server::app`]).
pub fn app(
    service: &'static str,
    (routes, api): (Router, OpenApi),
    public: Public<'_>,
    checks: crate::health::Checks,
) -> Router {
    let api = finish(api, service, public);
    crate::server::app(service, routes.merge(route(api)), checks)
}

/// `GET /openapi.json`: `api`, as JSON.
pub fn route(api: OpenApi) -> Router {
    let body = api.to_json().unwrap_or_else(|_| "{}".into());
    Router::new().route(
        "/openapi.json",
        get(move || {
            let body = body.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }
        }),
    )
}
