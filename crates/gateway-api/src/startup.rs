//! Building and running the application: the seam tests use to start it on `127.0.0.1:0`.

use std::net::TcpListener;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Config;
use crate::http::fallback::not_routed;
use crate::http::rate_limit::rate_limit_headers;
use crate::http::request_id::{GatewayRootSpan, request_id};
use crate::http::{extractors, idempotency, metrics};
use crate::state::AppState;
use crate::store::Store;
use crate::workers::Workers;

/// A built, bound, not yet running gateway.
pub struct Application {
    port: u16,
    server: Server,
    /// The status listener (`server.admin_listen`), when configured.
    status: Option<(u16, Server)>,
    state: AppState,
    workers: Workers,
    signals: Signals,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .field("status_port", &self.status_port())
            .finish()
    }
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let store = Store::connect(&config.store.settings()).await?;
        Self::build_with_store(config, store).await
    }

    /// Builds with a given store (tests share one embedded store between two instances).
    pub async fn build_with_store(config: Config, store: Store) -> anyhow::Result<Self> {
        let state = AppState::new(config, store)?;
        let config = state.config.clone();
        let listener = bind(&config.server.listen)?;
        let port = listener.local_addr()?.port();
        let status = match &config.server.admin_listen {
            Some(address) => {
                let listener = bind(address)?;
                let port = listener.local_addr()?.port();
                Some((port, run(listener, state.clone(), Surface::Status)?))
            }
            None => None,
        };
        let surface = if status.is_some() {
            Surface::Public
        } else {
            Surface::Everything
        };
        let server = run(listener, state.clone(), surface)?;
        // Before anyone is told the gateway listens: a SIGTERM from then on drains, never kills.
        let signals = Signals::install();
        if state.store.backend_name() == "embedded" {
            tracing::warn!(
                "no Redis URL configured: using the embedded store (single replica, state lost on restart)"
            );
        }
        tracing::info!(
            port,
            status_port = status.as_ref().map(|(port, _)| *port),
            store = state.store.backend_name(),
            "gateway listening"
        );
        let mut workers = Workers::new();
        crate::number_checks::spawn_workers(&state, &mut workers);
        crate::accounts::spawn_workers(&state, &mut workers);
        crate::events::spawn_workers(&state, &mut workers);
        crate::gauges::spawn(&state, &mut workers);
        crate::http::rate_limit::spawn_sync(&state, &mut workers);
        Ok(Self {
            port,
            server,
            status,
            state,
            workers,
            signals,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the status listener, when `server.admin_listen` is set.
    pub fn status_port(&self) -> Option<u16> {
        self.status.as_ref().map(|(port, _)| *port)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Runs until the server is stopped (SIGTERM/SIGINT, or `handle().stop(true)`), letting
    /// in-flight requests finish within `server.drain_timeout`.
    /// Workers are stopped after the server: they hand back their leases so another replica
    /// resumes their jobs at once.
    ///
    /// SIGTERM / SIGINT start both at once, so the whole stop takes at most about one drain time.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        // The status listener keeps answering probes and scrapes while the API drains.
        let status = self.status.map(|(_, server)| {
            let handle = server.handle();
            (handle, tokio::spawn(server))
        });
        let stop_workers = self.workers.stopper();
        let received = self.signals;
        let signals = tokio::spawn(async move {
            received.wait().await;
            tracing::info!(
                "shutdown signal received: draining in-flight requests and stopping workers"
            );
            stop_workers.request();
            handle.stop(true).await;
        });
        let result = self.server.await;
        signals.abort();
        if let Some((handle, task)) = status {
            handle.stop(true).await;
            let _ = task.await;
        }
        self.workers
            .stop(self.state.config.server.drain_timeout)
            .await;
        // The last requests' usage counters, now that no request can add more.
        if let Err(e) = self.state.usage_tally.flush(&self.state.store).await {
            tracing::warn!(error = %e, "usage counters of the last second could not be written");
        }
        result
    }
}

/// SIGTERM and SIGINT, listened to from [`Application::build`] on.
struct Signals {
    #[cfg(unix)]
    unix: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                unix: signal(SignalKind::terminate())
                    .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)))
                    .ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut term, mut int)) = self.unix {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Connections the kernel holds for the gateway before it accepts them (capped by
/// `net.core.somaxconn`). The standard library listens with 128: a burst of new connections
/// beyond that is dropped and waits for each client's SYN retry (1 s, then 3 s).
const LISTEN_BACKLOG: i32 = 4096;

fn bind(address: &str) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(address)?;
    // Listening again on a listening socket only changes its backlog.
    socket2::SockRef::from(&listener).listen(LISTEN_BACKLOG)?;
    Ok(listener)
}

/// The page fetches the document relative to itself (`/docs/` → `/openapi.json`), so it also
/// works behind an ingress that serves the gateway under a path prefix; the token pasted into
/// Authorize survives a reload.
fn swagger_ui_config() -> utoipa_swagger_ui::Config<'static> {
    utoipa_swagger_ui::Config::new(["../openapi.json"])
        .persist_authorization(true)
        .try_it_out_enabled(true)
}

/// Which routes a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Surface {
    /// One listener for everything (no `server.admin_listen`).
    Everything,
    /// The public listener when a status listener exists: the API, webhooks and documentation.
    Public,
    /// The status listener: `/metrics`, `/healthz`, `/readyz` and `/v1/admin/*`.
    Status,
}

fn run(listener: TcpListener, state: AppState, surface: Surface) -> anyhow::Result<Server> {
    let config = state.config.clone();
    let table = crate::openapi::served().routes.clone();
    let table = match surface {
        Surface::Everything => table,
        Surface::Public => table.retain(|path| !crate::routes::is_status_path(path)),
        Surface::Status => table.retain(crate::routes::is_status_path),
    };
    let routes = web::Data::new(table);
    let data = web::Data::new(state);
    let max_body = config.limits.max_body_bytes;
    let mut server = HttpServer::new(move || {
        let app = App::new()
            .app_data(data.clone())
            .app_data(routes.clone())
            .app_data(extractors::json_config(max_body))
            .app_data(extractors::query_config())
            .app_data(extractors::path_config())
            .configure(|cfg| {
                let cfg = &mut crate::routes::Routes::Served(cfg);
                match surface {
                    Surface::Everything => crate::routes::configure(cfg),
                    Surface::Public => crate::routes::configure_api(cfg),
                    Surface::Status => crate::routes::configure_status(cfg),
                }
            });
        let app = if surface == Surface::Status {
            app
        } else {
            app.service(web::redirect("/docs", "/docs/"))
                .route(
                    "/openapi.json",
                    web::get().to(crate::openapi::document_json),
                )
                .service(SwaggerUi::new("/docs/{_:.*}").config(swagger_ui_config()))
        };
        app.default_service(web::to(not_routed))
            .wrap(from_fn(crate::events::inbound::base_path_rewrite))
            .wrap(from_fn(idempotency::idempotency))
            .wrap(from_fn(rate_limit_headers))
            .wrap(from_fn(metrics::record_requests))
            .wrap(Compress::default())
            .wrap(TracingLogger::<GatewayRootSpan>::new())
            .wrap(from_fn(request_id))
    })
    // Signals are handled by `run_until_stopped`, which also stops the workers.
    .disable_signals()
    .listen(listener)?
    .shutdown_timeout(config.server.drain_timeout.as_secs());
    if surface == Surface::Status {
        server = server.workers(1);
    } else if config.server.workers > 0 {
        server = server.workers(config.server.workers);
    }
    let _ = metrics::handle();
    Ok(server.run())
}
