//! # bourse-web
//!
//! The web trading page (`web/static/`): plain HTML, CSS and JavaScript with no build
//! step, and TradingView's Lightweight Charts vendored from npm for the candles. The
//! files are built into the binary, so the page ships with every `bourse` and needs
//! no directory at run time. [`router`] serves them: `/` is the page, `/app/...` its
//! files. Each answer carries an `ETag` (a `304` when the browser has it already) and
//! is gzipped, once, for a browser that accepts it.
//!
//! The page uses only the public REST and WebSocket APIs, from the same origin: it is
//! served where they are (the all-in-one front address; NGINX sends `/` and `/app/` to
//! the user service in the distributed mode).

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One file of the page.
struct Asset {
    /// Its path under `/app/` (the page itself: `index.html`).
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// The page's files, as built in.
const ASSETS: &[Asset] = &[
    Asset {
        path: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../static/index.html"),
    },
    Asset {
        path: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../static/app.js"),
    },
    Asset {
        path: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../static/style.css"),
    },
    Asset {
        path: "vendor/lightweight-charts.standalone.production.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../static/vendor/lightweight-charts.standalone.production.js"),
    },
];

/// A file as served: its tag and its gzipped body, made once.
struct Served {
    asset: &'static Asset,
    etag: HeaderValue,
    /// Shared: each answer takes a reference, not a copy.
    gzipped: axum::body::Bytes,
}

static SERVED: LazyLock<Vec<Served>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| Served {
            asset,
            etag: HeaderValue::from_str(&format!("\"{:016x}\"", fnv1a(asset.body)))
                .unwrap_or_else(|_| HeaderValue::from_static("\"0\"")),
            gzipped: gzip(asset.body).into(),
        })
        .collect()
});

/// FNV-1a, 64 bits: a tag that changes when the file does.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut out = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing into a Vec cannot fail.
    let _ = out.write_all(bytes);
    out.finish().unwrap_or_default()
}

/// The page's routes: `GET /` and `GET /app/{file}`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|headers: HeaderMap| async move { serve("index.html", &headers) }))
        .route(
            "/app/{*file}",
            get(|Path(file): Path<String>, headers: HeaderMap| async move {
                serve(&file, &headers)
            }),
        )
}

/// Whether `path` is one of the page's (what a router in front sends here).
pub fn owns(path: &str) -> bool {
    path == "/" || path.starts_with("/app/")
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(f) = SERVED.iter().find(|f| f.asset.path == path) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"code":40410000,"message":"no such file"}"#,
        )
            .into_response();
    };
    let base = [
        (header::ETAG, f.etag.clone()),
        // Revalidated each time: a new build's page is never mixed with an old script.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::VARY, HeaderValue::from_static("accept-encoding")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == f.etag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, base).into_response();
    }
    let content_type = [(
        header::CONTENT_TYPE,
        HeaderValue::from_static(f.asset.content_type),
    )];
    let gzip_ok = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| e.trim().split(';').next() == Some("gzip"));
    if gzip_ok {
        (
            base,
            content_type,
            [(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"))],
            f.gzipped.clone(),
        )
            .into_response()
    } else {
        (base, content_type, f.asset.body).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get(path: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut req = Request::get(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = router::<()>()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = r.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes().to_vec();
        (parts.status, parts.headers, bytes)
    }

    #[tokio::test]
    async fn the_page_and_its_files_are_served_tagged_and_gzipped_on_request() {
        let (status, h, body) = get("/", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(String::from_utf8(body).unwrap().contains("/app/app.js"));
        // Every file the page names is served.
        for f in ASSETS {
            let (status, h, body) = get(&format!("/app/{}", f.path), &[]).await;
            assert_eq!(status, StatusCode::OK, "{}", f.path);
            assert_eq!(body, f.body, "{}", f.path);
            assert!(h.get(header::ETAG).is_some());
        }
        // Gzipped for a browser that takes it, and the same bytes once inflated.
        let (_, h, zipped) = get("/app/app.js", &[("accept-encoding", "br, gzip;q=0.9")]).await;
        assert_eq!(h[header::CONTENT_ENCODING], "gzip");
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&zipped[..]), &mut plain)
            .unwrap();
        assert_eq!(plain, include_bytes!("../static/app.js"));
        assert!(
            zipped.len() < plain.len() / 2,
            "{} of {}",
            zipped.len(),
            plain.len()
        );
        // Revalidation: the same tag is a 304 without a body.
        let etag = h[header::ETAG].to_str().unwrap().to_string();
        let (status, _, body) = get("/app/app.js", &[("if-none-match", &etag)]).await;
        assert_eq!((status, body.len()), (StatusCode::NOT_MODIFIED, 0));
        // Anything else under /app/ is a JSON 404.
        let (status, h, _) = get("/app/../Cargo.toml", &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(h[header::CONTENT_TYPE], "application/json");
    }

    #[test]
    fn every_file_in_static_is_served() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
        let mut on_disk = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if !p.to_string_lossy().ends_with("LICENSE") {
                    on_disk.push(
                        p.strip_prefix(&root)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        on_disk.sort();
        let mut served: Vec<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        served.sort();
        assert_eq!(on_disk, served);
    }
}
