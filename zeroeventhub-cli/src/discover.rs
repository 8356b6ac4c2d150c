//! `zeh discover`: a version 2 producer's discovery document, printed as
//! one JSON line.

use anyhow::Context;

use crate::{args::DiscoverArgs, output::Output, version};

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
    let discovery = version::discover(&client).await?;
    let line = serde_json::to_string(&discovery).context("cannot write the discovery")?;
    let mut out = Output::stdout();
    out.write_text(&line)?;
    out.write_text("\n")?;
    out.flush()?;
    Ok(())
}
