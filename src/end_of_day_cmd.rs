//! `bourse end-of-day`: ends the trading day on a running engine. Every resting DAY
//! order expires (its owner hears `Canceled`, reason `expired`); GTC orders stay. The
//! command travels as a service session's `EndOfDay` request, so it is journaled like
//! every other command. Run it at the session's close (from cron or a scheduler).

use anyhow::{Context, bail};
use bourse_gateway::protocol::{ServerMsg, ServiceMsg};
use bourse_gateway_client::{GatewayArgs, Verdict, verdict};

/// Arguments of `bourse end-of-day`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Args {
    #[command(flatten)]
    gateway: GatewayArgs,
}

/// Sends the end of day and waits for the engine to finish it.
pub(crate) fn run(mut args: Args) -> anyhow::Result<()> {
    let endpoint = args
        .gateway
        .endpoint
        .clone()
        .context("no gateway: give --gateway (or BOURSE_GATEWAY)")?;
    // Expiring a large book is one command, but its reports are many.
    args.gateway.gateway_timeout_ms = args.gateway.gateway_timeout_ms.max(60_000);
    let client = args
        .gateway
        .connect()
        .with_context(|| format!("logging in on {endpoint} with the service key"))?
        .context("no gateway")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let reports = rt
        .block_on(client.request(ServiceMsg::EndOfDay { request: 0 }))
        .context("ending the day")?;
    let expired = reports
        .iter()
        .filter(|r| matches!(r.msg, ServerMsg::Canceled { .. }))
        .count();
    match verdict(&reports) {
        Verdict::Done(_) => {
            println!("bourse: end of day done: {expired} day orders expired");
            Ok(())
        }
        Verdict::Refused(reason) => bail!("the engine refused the end of day: {}", reason.as_str()),
    }
}
