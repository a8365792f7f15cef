//! Slows down password guessing without locking anyone out.
//!
//! Failures are counted per **(username, client address)** and per **client address** (across
//! usernames, against password spraying), never per username alone: an attacker's failures slow
//! down the attacker, while the same user logging in from another address is not affected.
//! After `free` failures of a (username, client) pair, or 4×`free` from one client, each further
//! attempt must wait a delay that starts at `base` and doubles per failure up to 15 minutes;
//! attempts inside the delay are refused without checking the password. Attempts being checked
//! count against the free ones, so a burst of parallel requests cannot run more password checks
//! than a sequence could.
//!
//! The table is bounded: usernames longer than [`MAX_USERNAME`] are refused before anything is
//! recorded, pairs are kept as a 128-bit hash (never the username), IPv6 clients count by their
//! /64, entries are forgotten an hour after their last failure, and at most [`CAPACITY`] are
//! kept (the least recently failed go first).
//!
//! Password hashing itself is bounded by [`HashGate`]: a few run at once, a few more wait, and
//! anything beyond that is answered "too many login attempts, try again" at once.

use super::{MAX_PASSWORD, MAX_USERNAME};
use crate::error::Doing;
use app::error::AppError;
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::sync::Semaphore;

/// The longest wait.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// An entry is forgotten this long after its last failure (longer than the longest wait, so a
/// wait never ends by being forgotten).
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// The most entries kept.
pub const CAPACITY: usize = 10_000;
/// A client's budget across usernames, in multiples of a pair's.
pub const CLIENT_FACTOR: u32 = 4;
/// How often expired entries are swept out (they are ignored before that anyway).
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// What a caller is told to wait when another attempt past the free ones is being checked.
const BUSY_WAIT: Duration = Duration::from_secs(1);

/// The throttle's numbers.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Failures of one (username, client) pair that pass without a wait.
    pub free: u32,
    /// The first wait after those; it doubles with every further failure.
    pub base: Duration,
    pub max_delay: Duration,
    pub forget_after: Duration,
    pub capacity: usize,
}

impl Limits {
    /// `free` failures per pair, waits from `base`, and the defaults for the rest.
    pub fn new(free: u32, base: Duration) -> Self {
        Self {
            free,
            base,
            max_delay: MAX_DELAY,
            forget_after: FORGET_AFTER,
            capacity: CAPACITY,
        }
    }
}

/// What failures are counted under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    /// A (lower-cased username, client) pair, hashed.
    Pair([u8; 16]),
    /// A client address (IPv6 by its /64).
    Client(IpAddr),
}

/// The keys one attempt counts under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keys {
    pair: Key,
    client: Option<Key>,
}

/// The part of a client address that identifies a client: IPv4 as is, IPv6 by its /64 (one
/// host usually holds a whole /64), IPv4-mapped IPv6 as IPv4.
pub fn client_bucket(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & (u128::MAX << 64)).into()),
        v4 => v4,
    }
}

impl Keys {
    /// The keys of an attempt for `username` (at most [`MAX_USERNAME`] characters: longer ones
    /// are refused before this) from `client`.
    pub fn new(username: &str, client: Option<IpAddr>) -> Self {
        let client = client.map(client_bucket);
        let mut h = Sha256::new();
        h.update(username.to_lowercase().as_bytes());
        h.update([0]);
        match client {
            Some(IpAddr::V4(a)) => h.update(a.octets()),
            Some(IpAddr::V6(a)) => h.update(a.octets()),
            None => h.update(b"none"),
        }
        let digest = h.finalize();
        let mut pair = [0u8; 16];
        pair.copy_from_slice(&digest[..16]);
        Self {
            pair: Key::Pair(pair),
            client: client.map(Key::Client),
        }
    }

    fn iter(&self) -> impl Iterator<Item = Key> + '_ {
        std::iter::once(self.pair).chain(self.client)
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    /// Attempts begun and not finished yet.
    in_flight: u32,
    /// The last failure (or, while there is none, when the entry was made).
    last: Instant,
}

/// How an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The password was right: the pair's failures are forgotten (the client's are not, so one
    /// valid account does not reset the budget for guessing at others).
    Succeeded,
    /// The password was wrong.
    Failed,
    /// The password was not checked (busy, an error): nothing is counted.
    Abandoned,
}

/// The failure table: the pure logic, with the time passed in.
pub struct Table {
    limits: Limits,
    entries: HashMap<Key, Entry>,
    last_sweep: Option<Instant>,
}

impl Table {
    /// An empty table.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            entries: HashMap::new(),
            last_sweep: None,
        }
    }

    /// Entries kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn budget(&self, key: Key) -> u32 {
        match key {
            Key::Pair(_) => self.limits.free,
            Key::Client(_) => self.limits.free.saturating_mul(CLIENT_FACTOR),
        }
    }

    fn expired(&self, e: &Entry, now: Instant) -> bool {
        e.in_flight == 0 && now.saturating_duration_since(e.last) >= self.limits.forget_after
    }

    /// How long `key` must still wait, if at all.
    fn wait_for(&self, key: Key, now: Instant) -> Option<Duration> {
        let e = self.entries.get(&key).filter(|e| !self.expired(e, now))?;
        let budget = self.budget(key);
        if e.failures.saturating_add(e.in_flight) < budget {
            return None;
        }
        if e.in_flight > 0 {
            // One attempt past the free ones is being checked; its outcome decides the next wait.
            return Some(BUSY_WAIT);
        }
        let exp = (e.failures - budget).min(20);
        let delay = self
            .limits
            .base
            .saturating_mul(1 << exp)
            .min(self.limits.max_delay);
        (e.last + delay)
            .checked_duration_since(now)
            .filter(|d| !d.is_zero())
    }

    /// Starts an attempt, or says how long to wait first.
    pub fn begin(&mut self, keys: Keys, now: Instant) -> Result<(), Duration> {
        self.sweep_if_due(now);
        if let Some(wait) = keys.iter().filter_map(|k| self.wait_for(k, now)).max() {
            return Err(wait);
        }
        for key in keys.iter() {
            let fresh = Entry {
                failures: 0,
                in_flight: 0,
                last: now,
            };
            let entry = self.entry(key, now, fresh);
            entry.in_flight += 1;
        }
        Ok(())
    }

    /// Ends an attempt started with [`Table::begin`].
    pub fn finish(&mut self, keys: Keys, outcome: Outcome, now: Instant) {
        for key in keys.iter() {
            if let Some(e) = self.entries.get_mut(&key) {
                e.in_flight = e.in_flight.saturating_sub(1);
            }
            match outcome {
                Outcome::Failed => {
                    let fresh = Entry {
                        failures: 0,
                        in_flight: 0,
                        last: now,
                    };
                    let e = self.entry(key, now, fresh);
                    e.failures = e.failures.saturating_add(1);
                    e.last = now;
                }
                Outcome::Succeeded if matches!(key, Key::Pair(_)) => {
                    if let Some(e) = self.entries.get_mut(&key) {
                        e.failures = 0;
                    }
                    self.drop_if_idle(key);
                }
                Outcome::Succeeded | Outcome::Abandoned => self.drop_if_idle(key),
            }
        }
    }

    /// Removes `key` if it records nothing.
    fn drop_if_idle(&mut self, key: Key) {
        if self
            .entries
            .get(&key)
            .is_some_and(|e| e.failures == 0 && e.in_flight == 0)
        {
            self.entries.remove(&key);
        }
    }

    /// The entry for `key` (an expired one starts afresh), making room for it first if needed.
    fn entry(&mut self, key: Key, now: Instant, fresh: Entry) -> &mut Entry {
        if let Some(e) = self.entries.get(&key)
            && self.expired(e, now)
        {
            self.entries.remove(&key);
        }
        if !self.entries.contains_key(&key) {
            self.make_room(now);
        }
        self.entries.entry(key).or_insert(fresh)
    }

    fn sweep_if_due(&mut self, now: Instant) {
        if self
            .last_sweep
            .is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY)
        {
            self.sweep(now);
        }
    }

    /// Forgets expired entries.
    fn sweep(&mut self, now: Instant) {
        let (forget_after, before) = (self.limits.forget_after, self.entries.len());
        self.entries
            .retain(|_, e| e.in_flight > 0 || now.saturating_duration_since(e.last) < forget_after);
        self.last_sweep = Some(now);
        if self.entries.len() < before {
            tracing::debug!(forgotten = before - self.entries.len(), "login throttle swept");
        }
    }

    /// Makes room for one more entry: expired ones go first, then the least recently failed
    /// tenth (entries with attempts in progress stay).
    fn make_room(&mut self, now: Instant) {
        let capacity = self.limits.capacity.max(1);
        if self.entries.len() < capacity {
            return;
        }
        self.sweep(now);
        if self.entries.len() < capacity {
            return;
        }
        let mut idle: Vec<(Instant, Key)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.in_flight == 0)
            .map(|(k, e)| (e.last, *k))
            .collect();
        let evict = (self.entries.len() + 1 - capacity)
            .max(capacity / 10)
            .min(idle.len());
        if evict == 0 {
            return;
        }
        if evict < idle.len() {
            idle.select_nth_unstable_by_key(evict - 1, |(last, _)| *last);
        }
        for (_, key) in &idle[..evict] {
            self.entries.remove(key);
        }
        tracing::warn!(
            evicted = evict,
            capacity,
            "login throttle full: forgot the least recently failed entries"
        );
    }
}

/// Bounds concurrent password hashing (argon2 is slow and takes 19 MiB per run by design):
/// `parallel` hashes run at once, `queue` more may wait; beyond that a login attempt is refused
/// at once rather than queued without bound.
pub struct HashGate {
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
}

impl HashGate {
    /// `parallel` hashes at once (at least one), `queue` waiting.
    pub fn new(parallel: usize, queue: usize) -> Self {
        let parallel = parallel.max(1);
        Self {
            running: Arc::new(Semaphore::new(parallel)),
            admitted: Arc::new(Semaphore::new(parallel + queue)),
        }
    }

    /// One hash per core the process may use (at most 4), 16 waiting.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(cores.clamp(1, 4), 16)
    }

    /// The answer when too many hashes are running and waiting.
    pub fn busy() -> AppError {
        AppError::RateLimited { retry_after_secs: 1 }
    }

    /// Runs `work` on a blocking thread once a slot is free; refused with [`HashGate::busy`] when
    /// the slots and the queue are full. For logins and anything else anyone may trigger.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let admitted = self.admitted.clone().try_acquire_owned().map_err(|_| {
            tracing::debug!("password hashing busy: attempt refused");
            Self::busy()
        })?;
        self.run_admitted(Some(admitted), work).await
    }

    /// Like [`HashGate::run`], but waits for a slot however long it takes (for ADMIN actions).
    pub async fn run_waiting<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        self.run_admitted(None, work).await
    }

    async fn run_admitted<T: Send + 'static>(
        &self,
        admitted: Option<tokio::sync::OwnedSemaphorePermit>,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .doing("hashing gate closed")?;
        // The permits go with the work: a caller that gives up does not free a slot whose hash
        // still runs.
        Ok(tokio::task::spawn_blocking(move || {
            let _permits = (admitted, running);
            work()
        })
        .await
        .doing("hashing task failed")?)
    }
}

/// Login throttling and the password-hashing gate, shared by every login and password change.
pub struct LoginThrottle {
    table: Mutex<Table>,
    hashing: HashGate,
}

/// An attempt in progress; dropped without an outcome it counts for nothing.
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    keys: Keys,
    done: bool,
}

impl Attempt<'_> {
    /// The password was right.
    pub fn succeeded(mut self) {
        self.finish(Outcome::Succeeded);
    }

    /// The password was wrong.
    pub fn failed(mut self) {
        self.finish(Outcome::Failed);
    }

    fn finish(&mut self, outcome: Outcome) {
        if !self.done {
            self.done = true;
            self.throttle.table().finish(self.keys, outcome, Instant::now());
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.finish(Outcome::Abandoned);
    }
}

impl LoginThrottle {
    /// `free` failures per (username, client) pair (4×`free` per client) pass; then waits start
    /// at `base`. Hashing is bounded by the machine's cores.
    pub fn new(free: u32, base: Duration) -> Self {
        Self::with_limits(Limits::new(free, base), HashGate::for_this_machine())
    }

    /// A throttle with explicit limits and hashing gate.
    pub fn with_limits(limits: Limits, hashing: HashGate) -> Self {
        Self {
            table: Mutex::new(Table::new(limits)),
            hashing,
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Entries in the failure table.
    pub fn len(&self) -> usize {
        self.table().len()
    }

    /// Whether the failure table is empty.
    pub fn is_empty(&self) -> bool {
        self.table().is_empty()
    }

    /// The password-hashing gate.
    pub fn hashing(&self) -> &HashGate {
        &self.hashing
    }

    /// Starts a password check for `username` from `client`: refused when the username or
    /// password is longer than any valid one (before anything is hashed or recorded), or while
    /// the pair or the client must wait.
    pub fn begin(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<Attempt<'_>, AppError> {
        refuse_overlong(username, password)?;
        let keys = Keys::new(username, client);
        self.table()
            .begin(keys, Instant::now())
            .map_err(|wait| AppError::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            })?;
        Ok(Attempt {
            throttle: self,
            keys,
            done: false,
        })
    }
}

/// Refuses a username or password that no account can have, cheaply (byte length first).
fn refuse_overlong(username: &str, password: &str) -> Result<(), AppError> {
    if username.len() > MAX_USERNAME * 4 || username.chars().count() > MAX_USERNAME {
        return Err(AppError::invalid(
            "username",
            format!("A username has at most {MAX_USERNAME} characters."),
        ));
    }
    if password.len() > MAX_PASSWORD * 4 || password.chars().count() > MAX_PASSWORD {
        return Err(AppError::invalid(
            "password",
            format!("A password has at most {MAX_PASSWORD} characters."),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn table(free: u32, base: Duration) -> Table {
        Table::new(Limits::new(free, base))
    }

    /// One attempt that fails, at `now`; `Err` is the wait it was refused with.
    fn fail(t: &mut Table, user: &str, client: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let keys = Keys::new(user, client);
        t.begin(keys, now)?;
        t.finish(keys, Outcome::Failed, now);
        Ok(())
    }

    fn login(t: &mut Table, user: &str, client: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let keys = Keys::new(user, client);
        t.begin(keys, now)?;
        t.finish(keys, Outcome::Succeeded, now);
        Ok(())
    }

    #[test]
    fn free_attempts_then_a_doubling_wait_for_the_pair() {
        let mut t = table(3, 10 * S);
        let t0 = Instant::now();
        let a = ip("203.0.113.7");
        for _ in 0..3 {
            fail(&mut t, "Alice", a, t0).unwrap();
        }
        // Case does not matter; the wait is the base.
        assert_eq!(fail(&mut t, "ALICE", a, t0), Err(10 * S));
        assert_eq!(fail(&mut t, "alice", a, t0 + 4 * S), Err(6 * S));
        fail(&mut t, "alice", a, t0 + 10 * S).unwrap();
        assert_eq!(fail(&mut t, "alice", a, t0 + 10 * S), Err(20 * S), "doubles");
        fail(&mut t, "alice", a, t0 + 30 * S).unwrap();
        assert_eq!(login(&mut t, "alice", a, t0 + 31 * S), Err(39 * S));
        // After the wait the right password works and the pair starts afresh.
        login(&mut t, "alice", a, t0 + 70 * S).unwrap();
        for _ in 0..3 {
            fail(&mut t, "alice", a, t0 + 71 * S).unwrap();
        }
    }

    #[test]
    fn the_wait_is_capped() {
        let mut t = table(1, 10 * S);
        let mut now = Instant::now();
        for _ in 0..40 {
            now += MAX_DELAY;
            fail(&mut t, "bob", ip("203.0.113.7"), now).unwrap();
        }
        assert_eq!(fail(&mut t, "bob", ip("203.0.113.7"), now), Err(MAX_DELAY));
    }

    #[test]
    fn an_attackers_failures_never_slow_the_user_elsewhere() {
        let mut t = table(5, 2 * S);
        let now = Instant::now();
        let (attacker, user) = (ip("203.0.113.7"), ip("198.51.100.9"));
        let mut refused = 0;
        for _ in 0..1000 {
            refused += usize::from(fail(&mut t, "admin", attacker, now).is_err());
        }
        assert_eq!(refused, 995, "the attacker gets its free attempts, then waits");
        assert!(
            login(&mut t, "admin", attacker, now).is_err(),
            "even with the right password"
        );
        login(&mut t, "admin", user, now).expect("another client is not affected");
        // Not after a wrong guess of its own either.
        fail(&mut t, "admin", user, now).unwrap();
        login(&mut t, "admin", user, now).unwrap();
        // Nor a client with no known address.
        login(&mut t, "admin", None, now).unwrap();
    }

    #[test]
    fn a_client_has_a_budget_across_usernames() {
        let mut t = table(2, 10 * S);
        let now = Instant::now();
        let sprayer = ip("203.0.113.7");
        for i in 0..8 {
            fail(&mut t, &format!("user{i}"), sprayer, now).unwrap_or_else(|w| panic!("attempt {i}: {w:?}"));
        }
        assert_eq!(fail(&mut t, "someone-new", sprayer, now), Err(10 * S));
        // A success does not reset the client's budget.
        assert!(login(&mut t, "user0", sprayer, now).is_err());
        login(&mut t, "someone-new", ip("198.51.100.9"), now).unwrap();
        // IPv6 clients count by their /64.
        let mut t = table(1, 10 * S);
        for i in 0..4 {
            fail(&mut t, &format!("u{i}"), ip(&format!("2001:db8::{i}")), now).unwrap();
        }
        assert!(fail(&mut t, "u9", ip("2001:db8::99"), now).is_err());
        fail(&mut t, "u9", ip("2001:db8:0:1::1"), now).unwrap();
    }

    #[test]
    fn attempts_in_progress_count_against_the_free_ones() {
        let mut t = table(2, 10 * S);
        let now = Instant::now();
        let keys = Keys::new("admin", ip("203.0.113.7"));
        t.begin(keys, now).unwrap();
        t.begin(keys, now).unwrap();
        assert_eq!(t.begin(keys, now), Err(S), "a third parallel check waits");
        // An abandoned attempt counts for nothing.
        t.finish(keys, Outcome::Abandoned, now);
        t.finish(keys, Outcome::Failed, now);
        t.begin(keys, now).unwrap();
        t.finish(keys, Outcome::Failed, now);
        assert_eq!(t.begin(keys, now), Err(10 * S));
        // Past the free ones, only one check at a time.
        t.begin(keys, now + 10 * S).unwrap();
        assert_eq!(t.begin(keys, now + 10 * S), Err(S));
        t.finish(keys, Outcome::Failed, now + 10 * S);
        assert_eq!(t.begin(keys, now + 10 * S), Err(20 * S));
    }

    #[test]
    fn successes_leave_nothing_behind_and_failures_expire() {
        let mut t = table(5, 2 * S);
        let now = Instant::now();
        login(&mut t, "admin", ip("198.51.100.9"), now).unwrap();
        assert!(t.is_empty(), "a clean login records nothing");
        for _ in 0..5 {
            fail(&mut t, "admin", ip("203.0.113.7"), now).unwrap();
        }
        assert_eq!(t.len(), 2, "the pair and the client");
        assert!(fail(&mut t, "admin", ip("203.0.113.7"), now).is_err());
        // An hour after the last failure everything is forgotten, also from the table.
        let later = now + FORGET_AFTER;
        fail(&mut t, "admin", ip("203.0.113.7"), later).expect("forgotten");
        assert_eq!(t.len(), 2);
        login(&mut t, "x", ip("192.0.2.1"), later + FORGET_AFTER).unwrap();
        assert!(t.is_empty(), "swept");
    }

    #[test]
    fn the_table_is_bounded_and_forgets_the_oldest_first() {
        let mut t = Table::new(Limits {
            capacity: 1000,
            ..Limits::new(5, 2 * S)
        });
        let t0 = Instant::now();
        // The attacker's pair, then a flood of distinct usernames from distinct clients.
        for _ in 0..5 {
            fail(&mut t, "admin", ip("203.0.113.7"), t0).unwrap();
        }
        for i in 0u32..20_000 {
            let client = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
            fail(
                &mut t,
                &format!("user{i}"),
                Some(client),
                t0 + S + Duration::from_millis(i.into()),
            )
            .unwrap();
            assert!(t.len() <= 1000, "{} entries after {i}", t.len());
        }
        assert!(t.len() >= 900, "{}", t.len());
        // The oldest went first: the attacker's pair is forgotten, the newest entries stay.
        let last = Some(IpAddr::from((0x0a00_0000u32 + 19_999).to_be_bytes()));
        assert!(t.entries.contains_key(&Keys::new("user19999", last).pair));
        assert!(
            !t.entries
                .contains_key(&Keys::new("admin", ip("203.0.113.7")).pair)
        );
    }

    #[test]
    fn keys_hold_no_username_and_ignore_case() {
        assert_eq!(
            Keys::new("Admin", ip("192.0.2.1")),
            Keys::new("admin", ip("192.0.2.1"))
        );
        assert_ne!(
            Keys::new("admin", ip("192.0.2.1")),
            Keys::new("admin", ip("192.0.2.2"))
        );
        assert_ne!(Keys::new("admin", None), Keys::new("admin", ip("192.0.2.1")));
        assert_eq!(
            Keys::new("a", ip("::ffff:192.0.2.1")),
            Keys::new("a", ip("192.0.2.1")),
            "IPv4-mapped is IPv4"
        );
    }

    #[test]
    fn overlong_names_and_passwords_are_refused_before_anything_is_recorded() {
        let t = LoginThrottle::new(5, 2 * S);
        let huge = "x".repeat(1 << 20);
        let err = t.begin(&huge, "pw", ip("192.0.2.1")).err().unwrap();
        assert_eq!(
            err.field("username").as_deref(),
            Some("A username has at most 64 characters.")
        );
        let err = t.begin("admin", &huge, ip("192.0.2.1")).err().unwrap();
        assert!(err.field("password").is_some(), "{err:?}");
        assert!(t.is_empty());
        // Exactly the longest valid username is fine.
        let attempt = t.begin(&"é".repeat(64), "pw", ip("192.0.2.1")).unwrap();
        attempt.failed();
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn an_attempt_dropped_without_an_outcome_counts_nothing() {
        let t = LoginThrottle::new(1, 60 * S);
        drop(t.begin("admin", "pw", ip("192.0.2.1")).unwrap());
        assert!(t.is_empty());
        t.begin("admin", "pw", ip("192.0.2.1")).unwrap().failed();
        let err = t.begin("admin", "pw", ip("192.0.2.1")).err().unwrap();
        assert!(
            matches!(err, AppError::RateLimited { retry_after_secs: 60 }),
            "{err:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_hashing_gate_refuses_beyond_its_queue() {
        let gate = Arc::new(HashGate::new(1, 2));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let hold = Arc::new(Mutex::new(hold));
        let mut running = vec![];
        for _ in 0..3 {
            let (gate, hold) = (gate.clone(), hold.clone());
            running.push(tokio::spawn(async move {
                gate.run(move || {
                    let _ = hold.lock().unwrap().recv();
                })
                .await
            }));
        }
        // Wait until all three are admitted (one runs, two wait).
        while gate.admitted.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let refused = gate.run(|| ()).await.unwrap_err();
        assert!(matches!(refused, AppError::RateLimited { .. }), "{refused:?}");
        // ADMIN actions wait instead.
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.run_waiting(|| 7).await }
        });
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        for r in running {
            r.await.unwrap().unwrap();
        }
        assert_eq!(waiting.await.unwrap().unwrap(), 7);
        assert_eq!(gate.run(|| 1).await.unwrap(), 1, "free again");
    }
}
