//! The `status` command of both programs: read the admin endpoint an
//! `[admin]` section names, with its token, and print the picture as
//! tables (or the raw JSON).

use std::net::SocketAddr;
use std::time::Duration;

use crate::fetch::{FetchError, connect_addr, fetch_status};
use crate::table;

/// Default bound on the whole exchange.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The text `status` prints for the endpoint bound at `bind`: the tables,
/// or with `json` the document as the endpoint sent it.
pub fn status_text(
    bind: SocketAddr,
    token: Option<&[u8]>,
    json: bool,
    timeout: Duration,
) -> Result<String, FetchError> {
    let (status, raw) = fetch_status(connect_addr(bind), token, timeout)?;
    Ok(if json { raw } else { table::render(&status) })
}
