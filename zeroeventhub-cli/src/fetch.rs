//! `zeh fetch`: one request, every line printed as it arrives.

use anyhow::anyhow;
use futures_util::{FutureExt, StreamExt};

use crate::{
    args::FetchArgs,
    output::{Output, describe_feed_error},
};

/// Sends one request and prints every line of the response, in the order
/// received. On an error, the lines received before it stay printed.
///
/// # Errors
///
/// The feed's or the network's failure, described on one line, or a
/// failure to write to stdout.
pub(crate) async fn run(args: FetchArgs) -> anyhow::Result<()> {
    let max_line_length = usize::try_from(args.max_line_bytes).unwrap_or(usize::MAX);
    let client = args
        .feed
        .client(|builder| builder.max_line_length(max_line_length))?;
    let mut lines = args
        .feed
        .fetch(&client, &args.feed.start_cursors())
        .send()
        .await
        .map_err(|error| anyhow!(describe_feed_error(&error)))?;

    let mut out = Output::stdout();
    loop {
        // Flush only when about to wait for the network: output keeps up
        // with the response without a system call per line.
        let next = match lines.next().now_or_never() {
            Some(next) => next,
            None => {
                out.flush()?;
                lines.next().await
            }
        };
        match next {
            Some(Ok(line)) => out.write_line(&line)?,
            Some(Err(error)) => {
                // "The items received before it stay printed."
                out.flush()?;
                return Err(anyhow!(describe_feed_error(&error)));
            }
            None => break,
        }
    }
    out.flush()?;
    Ok(())
}
