//! The one in-memory store: objects by (resource key, namespace, name), a single monotonic
//! resourceVersion counter and a bounded history of watch events.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug)]
pub struct WatchEvent {
    pub rv: u64,
    pub key: String,
    pub ns: String,
    pub etype: EventType,
    /// Shared with the store (and with the next event's `old`), so the history costs little memory.
    pub object: Arc<Value>,
    pub old: Option<Arc<Value>>,
}

pub type Objects = BTreeMap<(String, String), Arc<Value>>;

pub struct Store {
    data: HashMap<String, Objects>,
    pub rv: u64,
    history: VecDeque<Arc<WatchEvent>>,
    history_cap: usize,
    /// Events with rv <= compacted are no longer in the history.
    pub compacted: u64,
    pub tx: broadcast::Sender<Arc<WatchEvent>>,
    /// Set when something was deleted, so the garbage collector has work to check.
    pub gc_dirty: bool,
    pub changed: bool,
    /// Namespaces with writes since the controllers last looked (a namespace object's own
    /// name for writes to namespaces; "" for other cluster-scoped objects).
    pub dirty_namespaces: HashSet<String>,
}

impl Store {
    pub fn new(history_cap: usize) -> Self {
        let (tx, _) = broadcast::channel(history_cap.clamp(1024, 65536));
        Store {
            data: HashMap::new(),
            rv: 1,
            history: VecDeque::new(),
            history_cap: history_cap.max(1),
            compacted: 0,
            tx,
            gc_dirty: false,
            changed: false,
            dirty_namespaces: HashSet::new(),
        }
    }

    pub fn get(&self, key: &str, ns: &str, name: &str) -> Option<&Value> {
        self.data
            .get(key)
            .and_then(|m| m.get(&(ns.to_string(), name.to_string())))
            .map(|v| &**v)
    }

    /// Objects of one resource, optionally limited to a namespace, in key order.
    pub fn list<'a>(&'a self, key: &str, ns: Option<&'a str>) -> Box<dyn Iterator<Item = &'a Value> + 'a> {
        match self.data.get(key) {
            None => Box::new(std::iter::empty()),
            Some(m) => match ns {
                None => Box::new(m.values().map(|v| &**v)),
                Some(ns) => Box::new(
                    m.range((ns.to_string(), String::new())..)
                        .take_while(move |((n, _), _)| n == ns)
                        .map(|(_, v)| &**v),
                ),
            },
        }
    }

    pub fn count(&self, key: &str) -> usize {
        self.data.get(key).map_or(0, |m| m.len())
    }

    pub fn keys(&self) -> Vec<String> {
        self.data.keys().cloned().collect()
    }

    pub fn total_objects(&self) -> usize {
        self.data.values().map(|m| m.len()).sum()
    }

    pub fn history_len(&self) -> usize {
        self.history.len()
    }

    pub fn history_since(&self, rv: u64) -> impl Iterator<Item = &Arc<WatchEvent>> {
        self.history.iter().filter(move |e| e.rv > rv)
    }

    /// Objects of one resource after `(ns, name)` (exclusive), in key order: where a list's
    /// `continue` token resumes, without scanning the objects before it.
    pub fn list_after<'a>(
        &'a self,
        key: &str,
        ns: Option<&'a str>,
        after: (&str, &str),
    ) -> Box<dyn Iterator<Item = &'a Value> + 'a> {
        use std::ops::Bound;
        let Some(m) = self.data.get(key) else {
            return Box::new(std::iter::empty());
        };
        let from = (after.0.to_string(), after.1.to_string());
        let it = m
            .range((Bound::Excluded(from), Bound::Unbounded))
            .map(|((n, _), v)| (n, &**v));
        match ns {
            None => Box::new(it.map(|(_, v)| v)),
            Some(ns) => Box::new(
                it.skip_while(move |(n, _)| n.as_str() < ns)
                    .take_while(move |(n, _)| n.as_str() == ns)
                    .map(|(_, v)| v),
            ),
        }
    }

    fn record(&mut self, ev: WatchEvent) {
        let dirty = if ev.key == "/namespaces" {
            ev.object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
        } else {
            ev.ns.as_str()
        };
        if !self.dirty_namespaces.contains(dirty) {
            self.dirty_namespaces.insert(dirty.to_string());
        }
        let ev = Arc::new(ev);
        self.history.push_back(ev.clone());
        while self.history.len() > self.history_cap {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
        self.changed = true;
        let _ = self.tx.send(ev);
    }

    /// Stores `obj` (new or replacing), giving it the next resourceVersion. Returns the stored object.
    pub fn put(&mut self, key: &str, obj: Value) -> Value {
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        self.rv += 1;
        let mut obj = obj;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let map = self.data.entry(key.to_string()).or_default();
        let shared = Arc::new(obj);
        let old = map.insert((ns.clone(), name), shared.clone());
        let etype = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(WatchEvent {
            rv: self.rv,
            key: key.to_string(),
            ns,
            etype,
            object: shared.clone(),
            old,
        });
        Arc::unwrap_or_clone(shared)
    }

    /// Removes an object; the DELETED event carries it with the deletion's resourceVersion.
    pub fn remove(&mut self, key: &str, ns: &str, name: &str) -> Option<Value> {
        let mut obj = Arc::unwrap_or_clone(
            self.data
                .get_mut(key)?
                .remove(&(ns.to_string(), name.to_string()))?,
        );
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.gc_dirty = true;
        self.record(WatchEvent {
            rv: self.rv,
            key: key.to_string(),
            ns: ns.to_string(),
            etype: EventType::Deleted,
            object: Arc::new(obj.clone()),
            old: None,
        });
        Some(obj)
    }
}
