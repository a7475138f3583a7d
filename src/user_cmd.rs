//! `bourse serve user`: the user service (accounts, logins, API keys) on its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bourse_shell::config::ShellArgs;
use bourse_user::keys::Keys;
use bourse_user::session::Credentials;
use bourse_user::store::UserStore;
use bourse_user::store::pg::PgUserStore;
use bourse_user::{UserState, app, prepare};

/// Arguments of `bourse serve user`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Args {
    /// Address to listen on (port 0: any free port; the chosen one is printed).
    #[arg(long, env = "BOURSE_USER_LISTEN", default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// Days a refresh token lives.
    #[arg(long, env = "BOURSE_REFRESH_DAYS", default_value_t = 30)]
    refresh_days: u64,
    /// Make sure this admin exists: `USERNAME:PASSWORD` (created if missing).
    #[arg(long, env = "BOURSE_ADMIN", hide_env_values = true)]
    admin: Option<String>,
    /// Paper money each new sign-up gets, in dollars (`100000.00`): for a paper trading
    /// deployment. None by default: real accounts are funded by an admin.
    #[arg(long, env = "BOURSE_SIGNUP_CASH", value_parser = dollars)]
    signup_cash: Option<i64>,
    #[command(flatten)]
    shell: ShellArgs,
    #[command(flatten)]
    gateway: bourse_gateway_client::GatewayArgs,
}

/// Dollars (`100000`, `2500.50`) as cents, positive.
fn dollars(text: &str) -> Result<i64, String> {
    match bourse_shell::money::parse_cents("signup cash", text) {
        Ok(c) if c > 0 => Ok(c),
        Ok(_) => Err("must be positive".into()),
        Err(e) => Err(e.message),
    }
}

/// Runs the user service until SIGINT or SIGTERM.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    crate::http_role::serve("user", args.listen, args.shell.log_json, || async move {
        let pool = args.shell.pool().await?;
        prepare(&pool)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))
            .context("migrating the user schema (is PostgreSQL up?)")?;
        let store: Arc<dyn UserStore> = Arc::new(PgUserStore::new(pool));
        let auth = args.shell.auth(Arc::new(Keys::new(store.clone())))?;
        let engine = args
            .gateway
            .connect()
            .context("logging in on the gateway with the service key")?;
        if engine.is_none() {
            tracing::warn!(
                "no --gateway: registration opens no engine account, funding is unavailable"
            );
        }
        let state = UserState {
            store,
            auth,
            refresh_ttl: Duration::from_secs(args.refresh_days * 86_400),
            engine,
            signup_cash: args.signup_cash.unwrap_or(0),
        };
        if let Some(admin) = &args.admin {
            let (username, password) = admin
                .split_once(':')
                .context("--admin must be USERNAME:PASSWORD")?;
            let credentials = Credentials {
                username: username.into(),
                password: password.into(),
            };
            bourse_user::session::ensure_admin(&state, &credentials)
                .await
                .map_err(|e| anyhow::anyhow!("creating the admin: {}", e.message))?;
        }
        Ok(app(state))
    })
}
