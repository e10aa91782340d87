//! `vendor-sim`: serves the five simulated vendor APIs until interrupted.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use vendor_sim::SimConfig;

#[derive(Debug, Parser)]
#[command(name = "vendor-sim", about = "Simulator of the WhatsApp vendor APIs")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "VENDOR_SIM_LISTEN", default_value = "127.0.0.1:9090")]
    listen: String,
    /// Seed of all derived data (overrides the config file).
    #[arg(long, env = "VENDOR_SIM_SEED")]
    seed: Option<u64>,
    /// A JSON or TOML file with any subset of the settings (see docs/vendors/simulator.md).
    #[arg(long, env = "VENDOR_SIM_CONFIG")]
    config: Option<PathBuf>,
    /// Base URL that receives the account-management webhooks (overrides the config file).
    #[arg(long, env = "VENDOR_SIM_WEBHOOK_TARGET")]
    webhook_target: Option<String>,
}

fn load(path: &PathBuf) -> anyhow::Result<SimConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    if is_toml {
        use figment::providers::{Format, Toml};
        figment::Figment::from(Toml::string(&text))
            .extract()
            .with_context(|| format!("invalid TOML config {}", path.display()))
    } else {
        serde_json::from_str(&text)
            .with_context(|| format!("invalid JSON config {}", path.display()))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let mut config = match &args.config {
        Some(path) => load(path)?,
        None => vendor_sim::default_dev_config(),
    };
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if let Some(target) = args.webhook_target {
        config.webhook_target = Some(target);
    }
    let sim = vendor_sim::start(config, &args.listen).await?;
    tracing::info!(base_url = sim.base_url(), "vendor simulator listening");
    println!("vendor-sim listening on {}", sim.base_url());
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    tracing::info!("stopping");
    sim.stop().await;
    Ok(())
}
