//! WATCH of a collection: a stream of the store's events, filtered by the request's selectors.

use std::time::Duration;

use axum::response::Response;

use super::{Call, q_bool, q_int, stream_response};
use crate::errors::ApiResult;
use crate::ops;
use crate::watch::{self, WatchParams};

pub(super) fn watch_response(c: &Call) -> ApiResult<Response> {
    let q = c.q;
    let filter = ops::Filter::new(
        &c.rt,
        q.get("labelSelector").map(String::as_str),
        q.get("fieldSelector").map(String::as_str),
    )?;
    let timeout = q_int(q, "timeoutSeconds")?
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64))
        .unwrap_or(Duration::from_secs(1800));
    let rx = watch::start(
        c.sim.clone(),
        c.rt.clone(),
        c.version.clone(),
        WatchParams {
            resource_version: q.get("resourceVersion").cloned(),
            bookmarks: q_bool(q, "allowWatchBookmarks"),
            timeout,
            send_initial_events: q_bool(q, "sendInitialEvents"),
            ns: c.ns.map(str::to_string),
            filter,
        },
    );
    Ok(stream_response("application/json", rx))
}
