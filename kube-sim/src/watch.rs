//! `?watch=true`: newline-delimited watch events from a resourceVersion, with bookmarks,
//! 410 Gone for compacted history, timeouts and selector filtering.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::Sim;
use crate::errors::ApiError;
use crate::ops::{Filter, present};
use crate::registry::ResourceType;
use crate::store::{EventType, WatchEvent};

pub struct WatchParams {
    pub resource_version: Option<String>,
    pub bookmarks: bool,
    pub timeout: Duration,
    pub send_initial_events: bool,
    pub ns: Option<String>,
    pub filter: Filter,
}

fn line(etype: &str, object: &Value) -> Bytes {
    let mut s = json!({"type": etype, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

fn translate(ev: &WatchEvent, key: &str, p: &WatchParams) -> Option<&'static str> {
    if ev.key != key {
        return None;
    }
    if let Some(ns) = &p.ns
        && &ev.ns != ns
    {
        return None;
    }
    let now = p.filter.matches(&ev.object);
    match ev.etype {
        EventType::Added => now.then_some("ADDED"),
        EventType::Deleted => now.then_some("DELETED"),
        EventType::Modified => {
            let before = ev.old.as_ref().is_some_and(|o| p.filter.matches(o));
            match (before, now) {
                (true, true) => Some("MODIFIED"),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            }
        }
    }
}

fn bookmark(rt: &ResourceType, version: &str, rv: u64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": rt.kind, "apiVersion": rt.api_version(version), "metadata": meta})
}

/// Starts a watch; returns the receiver of response body chunks.
pub fn start(sim: Arc<Sim>, rt: ResourceType, version: String, p: WatchParams) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel::<Bytes>(1024);
    let key = rt.key();
    // Snapshot + subscription under the store lock, so nothing is missed or duplicated.
    let (mut brx, initial, mut last_rv) = {
        let st = sim.store.lock();
        let brx = st.tx.subscribe();
        let mut initial: Vec<Bytes> = vec![];
        let requested = p
            .resource_version
            .as_deref()
            .filter(|s| !s.is_empty() && *s != "0");
        if p.send_initial_events || requested.is_none() {
            for obj in st.list(&key, p.ns.as_deref()) {
                if p.filter.matches(obj) {
                    initial.push(line("ADDED", &present(&rt, &version, obj.clone())));
                }
            }
            if p.send_initial_events && p.bookmarks {
                initial.push(line("BOOKMARK", &bookmark(&rt, &version, st.rv, true)));
            }
        } else if let Some(r) = requested {
            match r.parse::<u64>() {
                Err(_) => {
                    let e = ApiError::bad_request(format!("invalid resource version: {r}"));
                    initial.push(line("ERROR", &e.to_status()));
                    drop(st);
                    let _ = tx.try_send(initial.remove(0));
                    return rx;
                }
                Ok(n) if n < st.compacted => {
                    let e = ApiError::gone(n, st.compacted + 1);
                    let _ = tx.try_send(line("ERROR", &e.to_status()));
                    return rx;
                }
                Ok(n) => {
                    for ev in st.history_since(n) {
                        if let Some(t) = translate(ev, &key, &p) {
                            initial.push(line(t, &present(&rt, &version, (*ev.object).clone())));
                        }
                    }
                }
            }
        }
        (brx, initial, st.rv)
    };
    let interval = sim.cfg.bookmark_interval;
    tokio::spawn(async move {
        for b in initial {
            if tx.send(b).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + p.timeout;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            tokio::select! {
                ev = brx.recv() => match ev {
                    Ok(ev) => {
                        last_rv = ev.rv;
                        if let Some(t) = translate(&ev, &key, &p)
                            && tx.send(line(t, &present(&rt, &version, (*ev.object).clone()))).await.is_err()
                        {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let oldest = sim.store.lock().compacted + 1;
                        let e = ApiError::gone(last_rv, oldest);
                        let _ = tx.send(line("ERROR", &e.to_status())).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = ticker.tick(), if p.bookmarks => {
                    if tx.send(line("BOOKMARK", &bookmark(&rt, &version, last_rv, false))).await.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tx.closed() => return,
            }
        }
    });
    rx
}
