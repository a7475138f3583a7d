//! A small JSON HTTP/1 client over hyper, for tests, load tools and service-to-service
//! calls: one connection pool, requests with headers, the status and the JSON body back.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client as Hyper;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// A response: status, headers and body (JSON, or `Value::Null` if empty or not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: axum::http::HeaderMap,
    /// The body parsed as JSON.
    pub json: Value,
    /// The raw body.
    pub text: String,
}

impl Reply {
    /// Panics unless this is the shell's error answer with `status` (for tests).
    pub fn assert_error(&self, status: StatusCode) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.json["code"].as_u64(),
            Some(u64::from(status.as_u16()) * 100_000 + 10_000),
            "{}",
            self.text
        );
        assert!(
            self.json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            self.text
        );
    }
}

/// A client of one base URL (`http://127.0.0.1:8080`).
#[derive(Clone, Debug)]
pub struct Client {
    base: String,
    hyper: Hyper<HttpConnector, Body>,
    headers: Vec<(String, String)>,
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting or sending failed.
    #[error("request failed: {0}")]
    Send(#[from] hyper_util::client::legacy::Error),
    /// Reading the body failed.
    #[error("reading the body: {0}")]
    Body(#[from] hyper::Error),
    /// The request could not be built.
    #[error("bad request: {0}")]
    Build(#[from] axum::http::Error),
    /// No answer in time.
    #[error("timed out")]
    Timeout,
}

impl Client {
    /// A client of `base`.
    pub fn new(base: impl Into<String>) -> Self {
        Client {
            base: base.into().trim_end_matches('/').to_string(),
            hyper: Hyper::builder(TokioExecutor::new()).build_http(),
            headers: Vec::new(),
        }
    }

    /// The base URL requests go to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The same client, sending `name: value` on every request.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The same client, with a Bearer token.
    pub fn with_token(self, token: &str) -> Self {
        self.with_header("authorization", &format!("Bearer {token}"))
    }

    /// The same client, with an Alpaca key pair.
    pub fn with_key(self, key_id: &str, secret: &str) -> Self {
        self.with_header(crate::auth::KEY_ID_HEADER, key_id)
            .with_header(crate::auth::SECRET_HEADER, secret)
    }

    /// Sends a request; `body` is sent as JSON when given. Times out after 10 s.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, ClientError> {
        let (status, headers, bytes) = self.exchange(method, path, body).await?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Reply {
            status,
            headers,
            json,
            text,
        })
    }

    /// Sends a request as [`send`](Self::send) does and returns the status, headers and
    /// body as they came, unparsed: for a caller that only counts answers (a load
    /// generator, whose own parsing would compete with the server it measures).
    pub async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, axum::http::HeaderMap, axum::body::Bytes), ClientError> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string()))?,
            None => req.body(Body::empty())?,
        };
        let resp = tokio::time::timeout(Duration::from_secs(10), self.hyper.request(req))
            .await
            .map_err(|_| ClientError::Timeout)??;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((status, headers, bytes))
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Reply, ClientError> {
        self.send(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Reply, ClientError> {
        self.send(Method::POST, path, Some(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<Reply, ClientError> {
        self.send(Method::DELETE, path, None).await
    }
}
