//! `--metrics ADDR`: Prometheus metrics for the roles without an HTTP API of their own
//! (the engine and gateway, the bridge, settlement).

use std::net::SocketAddr;

use anyhow::Context;

/// Where a role serves `/metrics`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct MetricsArgs {
    /// Serve Prometheus metrics at `http://ADDR/metrics` (e.g. `0.0.0.0:9100`; port 0
    /// picks a free one). Off when not given.
    #[arg(long = "metrics", env = "BOURSE_METRICS_BIND", value_name = "ADDR")]
    pub(crate) metrics_bind: Option<SocketAddr>,
}

impl MetricsArgs {
    /// Starts serving, if asked to, and says where.
    pub(crate) fn serve(&self, role: &str) -> anyhow::Result<()> {
        if let Some(addr) = self.metrics_bind {
            let bound = bourse_shell::telemetry::serve_alone(addr)
                .with_context(|| format!("serving metrics on {addr}"))?;
            eprintln!("bourse {role}: metrics on http://{bound}/metrics");
        }
        Ok(())
    }
}
