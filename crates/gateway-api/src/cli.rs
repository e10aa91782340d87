//! The `gateway-api` command: `serve` (default), `check-config`, `token`, `openapi`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::store::StoreMode;

#[derive(Debug, Parser)]
#[command(name = "gateway-api", version = crate::build_info::VERSION_LINE, about = "WhatsApp vendor gateway")]
struct Cli {
    /// Configuration file (TOML); `GATEWAY_*` variables override it.
    #[arg(long, global = true, env = "GATEWAY_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Validate the configuration (defaults, file, `GATEWAY_*` variables) as `serve` would,
    /// print every problem at once, and exit non-zero when there is any.
    CheckConfig,
    /// Print a development HS256 token signed with the configured secret.
    Token {
        #[arg(long)]
        tenant: String,
        /// Space-separated scopes, e.g. "numbers:read numbers:check".
        #[arg(long, default_value = "")]
        scope: String,
        #[arg(long)]
        sub: Option<String>,
        /// Lifetime, e.g. 1h, 30m, 7d.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
    },
    /// Print the OpenAPI document (JSON), or with `--errors` the table of error codes (Markdown).
    Openapi {
        #[arg(long)]
        errors: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi { errors: true } => {
            print!("{}", crate::openapi::error_table_markdown());
            ExitCode::SUCCESS
        }
        Command::Openapi { errors: false } => match crate::openapi::document().to_pretty_json() {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(error) => fail(&format!("openapi: {error}")),
        },
        Command::Token {
            tenant,
            scope,
            sub,
            ttl,
        } => {
            let config = match Config::load(cli.config.as_deref()) {
                Ok(config) => config,
                Err(error) => return fail(&error.to_string()),
            };
            let Some(secret) = config.hs256_secrets().into_iter().next() else {
                return fail("no HS256 secret is configured (auth.hs256_secrets)");
            };
            if !crate::auth::is_valid_tenant(&tenant) {
                return fail(&format!(
                    "tenant `{tenant}` must match {}",
                    crate::auth::TENANT_PATTERN
                ));
            }
            let scopes: Vec<String> = scope.split_ascii_whitespace().map(str::to_owned).collect();
            if let Some(unknown) = scopes
                .iter()
                .find(|s| crate::auth::Scope::parse(s).is_none())
            {
                return fail(&format!("unknown scope `{unknown}`"));
            }
            match crate::auth::mint_dev_token(
                &secret,
                &tenant,
                &scopes,
                sub.as_deref(),
                ttl,
                config.auth.issuer.as_deref(),
                config.auth.audience.as_deref(),
            ) {
                Ok(token) => {
                    println!("{token}");
                    ExitCode::SUCCESS
                }
                Err(error) => fail(&format!("token: {error}")),
            }
        }
        Command::Serve => serve(cli.config),
        Command::CheckConfig => check_config(cli.config),
    }
}

fn check_config(file: Option<PathBuf>) -> ExitCode {
    match Config::load(file.as_deref()) {
        Ok(config) => {
            println!(
                "gateway-api: configuration is valid ({} store, listening on {}{})",
                match config.store.mode {
                    StoreMode::Standalone if config.store.redis_url.is_none() => "embedded",
                    StoreMode::Standalone => "redis",
                    StoreMode::Cluster => "redis cluster",
                    StoreMode::Sentinel => "redis sentinel",
                },
                config.server.listen,
                config
                    .server
                    .admin_listen
                    .as_deref()
                    .map(|admin| format!(", status listener on {admin}"))
                    .unwrap_or_default(),
            );
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error.to_string()),
    }
}

fn serve(file: Option<PathBuf>) -> ExitCode {
    let config = match Config::load(file.as_deref()) {
        Ok(config) => config,
        Err(error) => return fail(&error.to_string()),
    };
    let traces = crate::telemetry::init(&config.log, &config.traces);
    let result = actix_web::rt::System::new().block_on(async move {
        let app = crate::startup::Application::build(config).await?;
        app.run_until_stopped().await?;
        anyhow::Ok(())
    });
    // Spans still buffered are sent before the process ends.
    drop(traces);
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(error = %error, "gateway failed");
            fail(&format!("{error:#}"))
        }
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("gateway-api: {message}");
    ExitCode::from(2)
}
