//! Slows down password guessing. After a number of free failures per username (and four times as
//! many per client address), each further attempt must wait a delay that doubles with every
//! failure; attempts inside the delay are refused without checking the password.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Failure records older than this are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Per-user and per-address failure counts, in memory.
pub struct LoginThrottle {
    free: u32,
    base: Duration,
    failures: Mutex<HashMap<String, Failures>>,
}

impl LoginThrottle {
    /// `free` failures per user (4×`free` per address) pass; then delays start at `base`.
    pub fn new(free: u32, base: Duration) -> Self {
        Self {
            free,
            base,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(username: &str, client: Option<IpAddr>) -> [(String, u32); 2] {
        [
            (format!("user:{}", username.to_lowercase()), 1),
            (client.map(|ip| format!("ip:{ip}")).unwrap_or_default(), 4),
        ]
    }

    /// How long the caller must still wait before another attempt, if at all.
    pub fn wait(&self, username: &str, client: Option<IpAddr>) -> Option<Duration> {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        Self::keys(username, client)
            .iter()
            .filter(|(k, _)| !k.is_empty())
            .filter_map(|(k, factor)| {
                let f = map.get(k)?;
                let free = self.free.saturating_mul(*factor);
                if f.count < free {
                    return None;
                }
                let exp = (f.count - free).min(20);
                let delay = self.base.saturating_mul(1 << exp).min(MAX_DELAY);
                (f.last + delay).checked_duration_since(now)
            })
            .max()
    }

    /// Records a failed attempt.
    pub fn failed(&self, username: &str, client: Option<IpAddr>) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
        for (k, _) in Self::keys(username, client) {
            if k.is_empty() {
                continue;
            }
            let f = map.entry(k).or_insert(Failures { count: 0, last: now });
            f.count += 1;
            f.last = now;
        }
    }

    /// Forgets the user's failures after a successful login (the address keeps its count, so
    /// one valid account does not unlock guessing at others).
    pub fn succeeded(&self, username: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&format!("user:{}", username.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_attempts_then_doubling_delay() {
        let t = LoginThrottle::new(3, Duration::from_secs(10));
        let ip: Option<IpAddr> = Some([127, 0, 0, 1].into());
        for _ in 0..3 {
            assert_eq!(t.wait("Alice", ip), None);
            t.failed("alice", ip);
        }
        let first = t.wait("ALICE", ip).expect("delayed after free attempts");
        assert!(first > Duration::from_secs(9) && first <= Duration::from_secs(10));
        t.failed("alice", ip);
        let second = t.wait("alice", ip).unwrap();
        assert!(second > Duration::from_secs(19), "delay doubles: {second:?}");
        // Another user from another address is not affected.
        assert_eq!(t.wait("bob", Some([10, 0, 0, 1].into())), None);
        t.succeeded("alice");
        assert_eq!(t.wait("alice", None), None);
    }

    #[test]
    fn address_limit_covers_many_usernames() {
        let t = LoginThrottle::new(2, Duration::from_secs(10));
        let ip: Option<IpAddr> = Some([127, 0, 0, 2].into());
        for i in 0..8 {
            assert_eq!(t.wait(&format!("user{i}"), ip), None, "attempt {i}");
            t.failed(&format!("user{i}"), ip);
        }
        assert!(t.wait("someone-new", ip).is_some());
        assert_eq!(t.wait("someone-new", None), None);
    }
}
