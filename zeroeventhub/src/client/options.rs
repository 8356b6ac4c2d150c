//! Per-request options.

use crate::HeaderSelection;

/// Options of one fetch: the optional parameters of the request.
///
/// ```
/// use zeroeventhub::{client::FetchOptions, HeaderSelection};
///
/// let options = FetchOptions {
///     page_size_hint: Some(500),
///     headers: HeaderSelection::All,
/// };
/// assert_eq!(FetchOptions::default().page_size_hint, None);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchOptions {
    /// `pagesizehint`: about how many events the response should hold at
    /// most; `None` leaves it to the producer.
    pub page_size_hint: Option<u32>,
    /// `headers`: which event headers to ask for.
    pub headers: HeaderSelection,
}
