//! Which version of the protocol `zeh` speaks to a feed: version 1 when
//! the command line gives the partition count (`--partitions N`), version
//! 2 otherwise, from the producer's discovery.

use anyhow::{anyhow, bail};
use zeroeventhub::{Cursor, client::Client, v2::Discovery};

use crate::{args::FeedArgs, output::describe_feed_error};

/// The discovery of the feed of `client`.
///
/// # Errors
///
/// The producer answered `400`: it speaks version 1 only, and the message
/// says to give `--partitions`. Any other failure, described on one line.
pub(crate) async fn discover(client: &Client) -> anyhow::Result<Discovery> {
    match client.discover().await {
        Ok(discovery) => Ok(discovery),
        Err(error) if error.status().is_some_and(|status| status.as_u16() == 400) => bail!(
            "{} speaks version 1 only (ZeroEventHub): it answered the discovery request with 400; \
             zeh fetch and follow speak version 1 to it when given its partition count, --partitions N",
            client.url()
        ),
        Err(error) => Err(anyhow!(describe_feed_error(&error))),
    }
}

/// The cursors a version 2 fetch starts from: those given with
/// `--cursor`, each for a partition the discovery lists, or every listed
/// partition from `_first`.
///
/// # Errors
///
/// A `--cursor` names a partition the discovery does not list.
pub(crate) fn start_cursors(feed: &FeedArgs, discovery: &Discovery) -> anyhow::Result<Vec<Cursor>> {
    if feed.cursors.is_empty() {
        return Ok(discovery
            .partitions
            .iter()
            .map(|partition| Cursor::first(partition.id))
            .collect());
    }
    let listed = |id: u32| discovery.partitions.iter().any(|p| p.id == id);
    if let Some(unlisted) = feed.cursors.iter().find(|c| !listed(c.partition_id())) {
        let ids: Vec<String> = discovery
            .partitions
            .iter()
            .map(|p| p.id.to_string())
            .collect();
        bail!(
            "invalid --cursor: partition {} is not in the feed's discovery (token {}, partitions {})",
            unlisted.partition_id(),
            discovery.token,
            if ids.is_empty() {
                "none".to_owned()
            } else {
                ids.join(",")
            }
        );
    }
    Ok(feed.cursors.clone())
}
