//! `--metrics-addr`: the library's metrics (see `zeroeventhub::metrics`)
//! served in the Prometheus text format by the exporter of the `metrics`
//! ecosystem.

use std::net::SocketAddr;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusBuilder;

/// Starts serving the metrics at `http://ADDR/metrics` (any path answers);
/// a `None` address serves nothing. Must run inside the runtime.
///
/// # Errors
///
/// The address cannot be bound, or a recorder is installed already.
pub(crate) fn serve(addr: Option<SocketAddr>) -> anyhow::Result<()> {
    let Some(addr) = addr else {
        return Ok(());
    };
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .with_context(|| format!("cannot serve metrics on {addr}"))?;
    tracing::info!(%addr, "serving metrics at /metrics");
    Ok(())
}
