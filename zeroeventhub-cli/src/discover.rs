//! `zeh discover`: a version 2 producer's discovery document, printed as
//! one JSON line.

use anyhow::{Context, anyhow, bail};

use crate::{
    args::DiscoverArgs,
    output::{Output, describe_feed_error},
};

/// Discovers the feed and prints its document.
///
/// # Errors
///
/// The producer speaks version 1 only (it answered 400), or any other
/// failure of the request, described on one line.
pub(crate) async fn run(args: DiscoverArgs) -> anyhow::Result<()> {
    // No partition count: discovery does not send one.
    let client = args
        .connection
        .connection()
        .client(args.url.as_str(), 0, |builder| builder)?;
    let discovery = match client.discover().await {
        Ok(discovery) => discovery,
        Err(error) if error.status().is_some_and(|status| status.as_u16() == 400) => bail!(
            "{} speaks version 1 only (ZeroEventHub): it answered the discovery request with 400; \
             use zeh fetch/follow with --partitions N",
            args.url
        ),
        Err(error) => return Err(anyhow!(describe_feed_error(&error))),
    };
    let line = serde_json::to_string(&discovery).context("cannot write the discovery")?;
    let mut out = Output::stdout();
    out.write_text(&line)?;
    out.write_text("\n")?;
    out.flush()?;
    Ok(())
}
