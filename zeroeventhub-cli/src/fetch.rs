//! `zeh fetch`: one request (version 2: one per partition), every line
//! printed as it arrives.

use anyhow::anyhow;
use futures_util::{FutureExt, StreamExt};
use zeroeventhub::client::FetchBuilder;

use crate::{
    args::FetchArgs,
    output::{Output, describe_feed_error},
    version,
};

/// Version 1 (`--partitions`): sends one request and prints every line of
/// the response, in the order received. Version 2: discovers the feed,
/// then requests each partition in turn (those of `--cursor`, or every
/// listed one) and prints its lines, in the same form as version 1's
/// (with `partition`). On an error, the lines received before it stay
/// printed.
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
    let mut out = Output::stdout();
    if let Some(partitions) = args.feed.partitions {
        let cursors = args.feed.start_cursors(partitions);
        return print_response(args.feed.fetch(&client, &cursors), &mut out).await;
    }
    let discovery = version::discover(&client).await?;
    for cursor in version::start_cursors(&args.feed, &discovery)? {
        let fetch = args
            .feed
            .request(client.fetch_partition(&discovery.token, cursor));
        print_response(fetch, &mut out).await?;
    }
    Ok(())
}

/// Sends `fetch` and prints the lines of its response as they arrive.
async fn print_response(fetch: FetchBuilder<'_>, out: &mut Output) -> anyhow::Result<()> {
    let mut lines = fetch
        .send()
        .await
        .map_err(|error| anyhow!(describe_feed_error(&error)))?;
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
