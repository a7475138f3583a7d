//! Calls out to users' webhooks, which are addresses users chose: the client refuses
//! to connect anywhere inside the exchange's own network (loopback, private, link-local
//! and other non-public addresses), checked on the addresses the name resolves to at
//! connection time — so a name that resolves to a public address when registered and a
//! private one later is refused too. Tests and private deployments allow them.
//!
//! HTTPS through rustls with the Mozilla roots (`webpki-roots`), and plain HTTP.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;

/// Whether `ip` is an address on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
        }
    }
}

/// Why a webhook URL is not accepted.
pub fn check_url(url: &str, allow_private: bool) -> Result<Uri, String> {
    if url.len() > 2_000 {
        return Err("url: at most 2000 characters".into());
    }
    let uri: Uri = url
        .parse()
        .map_err(|_| format!("url: {url:?} is not a URL"))?;
    match uri.scheme_str() {
        Some("https" | "http") => {}
        _ => return Err("url: http:// or https:// only".into()),
    }
    let Some(host) = uri.host() else {
        return Err("url: no host".into());
    };
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err("url: no credentials in the URL".into());
    }
    if !allow_private {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let refused = match bare.parse::<IpAddr>() {
            Ok(ip) => !is_public(ip),
            Err(_) => {
                let h = bare.to_ascii_lowercase();
                h == "localhost" || h.ends_with(".localhost") || h.ends_with(".internal")
            }
        };
        if refused {
            return Err(format!("url: {host} is not a public address"));
        }
    }
    Ok(uri)
}

/// The resolver that drops non-public addresses (unless allowed).
#[derive(Clone, Debug)]
pub struct Guarded {
    allow_private: bool,
}

impl tower::Service<Name> for Guarded {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow = self.allow_private;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| allow || is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!("{} has no public address", name.as_str()),
                ));
            }
            Ok(addrs.into_iter())
        })
    }
}

/// The HTTP(S) client webhooks are called with.
#[derive(Clone, Debug)]
pub struct Egress {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector<Guarded>>, Body>,
    allow_private: bool,
    timeout: Duration,
}

/// What a call came to: the status code, or why there was none.
pub type CallResult = Result<u16, String>;

impl Egress {
    /// A client whose calls time out after `timeout`.
    pub fn new(allow_private: bool, timeout: Duration) -> Egress {
        let mut http = HttpConnector::new_with_resolver(Guarded { allow_private });
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Egress {
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(4)
                .build(https),
            allow_private,
            timeout,
        }
    }

    /// POSTs `body` to `url` with `headers`; the receiver's status code.
    pub async fn post(&self, url: &str, headers: &[(&str, String)], body: String) -> CallResult {
        // An address literal is not resolved, so it is checked here.
        let uri = check_url(url, self.allow_private)?;
        let mut req = Request::post(uri).header("content-type", "application/json");
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let req = req.body(Body::from(body)).map_err(|e| e.to_string())?;
        let call = async {
            let resp = self.client.request(req).await.map_err(|e| {
                let mut msg = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    msg = format!("{msg}: {s}");
                    source = s.source();
                }
                msg
            })?;
            let status = resp.status().as_u16();
            // The body is not read past a little: the answer is the status.
            let _ = http_body_util::BodyExt::collect(http_body_util::Limited::new(
                resp.into_body(),
                64 * 1024,
            ))
            .await;
            Ok(status)
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass_unless_private_ones_are_allowed() {
        for private in [
            "http://127.0.0.1:9000/h",
            "http://10.1.2.3/h",
            "http://192.168.0.1/h",
            "http://172.16.5.5/h",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/h",
            "http://[fd00::1]/h",
            "http://[::ffff:127.0.0.1]/h",
            "http://localhost:8080/h",
            "http://100.64.0.1/h",
            "http://0.0.0.0/h",
        ] {
            assert!(check_url(private, false).is_err(), "{private}");
            assert!(check_url(private, true).is_ok(), "{private}");
        }
        assert!(check_url("https://hooks.example.com/bourse", false).is_ok());
        assert!(check_url("https://8.8.8.8/x", false).is_ok());
        for bad in [
            "ftp://example.com/x",
            "example.com/x",
            "https://u:p@example.com/",
            "https:///x",
        ] {
            assert!(check_url(bad, true).is_err(), "{bad}");
        }
    }
}
