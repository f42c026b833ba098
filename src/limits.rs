//! Per-client rate limits and counts (pure; time is a parameter): the buckets and tallies
//! behind the limits of the routes anyone can reach without signing in (`web/limits.rs`).
//!
//! - **The client** is the address the audit log trusts (the peer, or through
//!   `trusted_proxies` the right-most untrusted `X-Forwarded-For` entry). IPv6 clients are
//!   bucketed by their /64, which one host usually owns whole.
//! - **The buckets** are GCRA (a token bucket): `burst` requests at once, then one more every
//!   `every`. A key whose bucket is full again is forgotten at the next sweep (every
//!   [`SWEEP_EVERY`]); at most [`MAX_KEYS`] keys are remembered, and when they are all in use
//!   a new client shares one bucket with every other newcomer ([`ClientKey::Shared`]).
//! - **Refusals are counted, not audited one by one**: per client within [`WINDOW`], the 1st,
//!   10th, 100th … refusal is the one to audit, with the count (as the short code's guard
//!   does, `repair/code_guard.rs`). Failed sign-in callbacks are counted the same way.
//!
//! The state is per portal process (in memory), like the short code's guard.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::LimitsConfig;

/// The window refusals are counted in.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Clients remembered at once per limit (each also has [`ClientKey::Shared`]).
pub const MAX_KEYS: usize = 10_000;
/// How often forgotten keys are dropped.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// When every slot is taken, a sweep is tried at most this often.
const FULL_SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Whom a bucket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4(std::net::Ipv4Addr),
    /// The first 64 bits of an IPv6 address.
    V6Net(u64),
    /// Clients without an address, and newcomers while every slot is taken.
    Shared,
}

impl ClientKey {
    /// The key of a client address: IPv4 (an IPv4-mapped IPv6 address counts as IPv4) as
    /// itself, IPv6 by its /64.
    #[must_use]
    pub fn of(ip: Option<IpAddr>) -> Self {
        match ip.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V4(v4)) => Self::V4(v4),
            Some(IpAddr::V6(v6)) => Self::V6Net((v6.to_bits() >> 64) as u64),
            None => Self::Shared,
        }
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V4(ip) => write!(f, "{ip}"),
            Self::V6Net(net) => {
                let ip = std::net::Ipv6Addr::from_bits(u128::from(*net) << 64);
                write!(f, "{ip}/64")
            }
            Self::Shared => f.write_str("(clients sharing the overflow bucket)"),
        }
    }
}

/// `burst` requests at once, then one more every `every`.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    pub burst: u32,
    pub every: Duration,
}

impl Quota {
    /// How far ahead of now a bucket's time may be for one more request to pass: the burst
    /// less the request itself, in intervals.
    #[must_use]
    pub fn tolerance(&self) -> Duration {
        self.every
            .checked_mul(self.burst.saturating_sub(1))
            .unwrap_or(Duration::MAX)
    }
}

/// A map of at most [`MAX_KEYS`] clients (plus [`ClientKey::Shared`]) whose stale entries go
/// at each sweep.
#[derive(Debug)]
struct Bounded<V> {
    map: HashMap<ClientKey, V>,
    swept: Instant,
}

impl<V> Bounded<V> {
    fn new(now: Instant) -> Self {
        Self {
            map: HashMap::new(),
            swept: now,
        }
    }

    /// The entry of `key` (or of [`ClientKey::Shared`] when the map is full), made by `fresh`
    /// if new; `stale` entries are dropped at a sweep.
    fn slot(
        &mut self,
        key: ClientKey,
        now: Instant,
        stale: impl Fn(&V) -> bool,
        fresh: impl FnOnce() -> V,
    ) -> (ClientKey, &mut V) {
        let since = now.saturating_duration_since(self.swept);
        let full = self.map.len() >= MAX_KEYS && !self.map.contains_key(&key);
        if since >= SWEEP_EVERY || (full && since >= FULL_SWEEP_EVERY) {
            self.map.retain(|_, v| !stale(v));
            self.swept = now;
        }
        let key = if self.map.len() < MAX_KEYS || self.map.contains_key(&key) {
            key
        } else {
            ClientKey::Shared
        };
        (key, self.map.entry(key).or_insert_with(fresh))
    }
}

/// A counted event: how many in this client's window, and whether this one is audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    pub key: ClientKey,
    pub count: u64,
    pub audit: bool,
    /// When the client's window began.
    pub since: Instant,
}

/// The audited counts: 1, 10, 100, 1,000 …
#[must_use]
pub fn is_power_of_ten(mut n: u64) -> bool {
    if n == 0 {
        return false;
    }
    while n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

/// Counts per client within [`WINDOW`].
#[derive(Debug)]
pub struct Tally(Mutex<Bounded<(u64, Instant)>>);

impl Tally {
    #[must_use]
    pub fn new(now: Instant) -> Self {
        Self(Mutex::new(Bounded::new(now)))
    }

    /// Count one more for `key` at `now`.
    pub fn count(&self, key: ClientKey, now: Instant) -> Counted {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ended = |start: Instant| now.saturating_duration_since(start) >= WINDOW;
        let (key, (count, since)) = map.slot(key, now, |(_, s)| ended(*s), || (0, now));
        if ended(*since) {
            (*count, *since) = (0, now);
        }
        *count = count.saturating_add(1);
        Counted {
            key,
            count: *count,
            audit: is_power_of_ten(*count),
            since: *since,
        }
    }

    /// Clients remembered.
    pub fn keys(&self) -> usize {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .map
            .len()
    }
}

/// One rate limit: a bucket per client, and the count of its refusals.
#[derive(Debug)]
pub struct KeyedLimit {
    quota: Quota,
    /// Per client, the GCRA's theoretical arrival time: the bucket is full again then.
    buckets: Mutex<Bounded<Instant>>,
    refused: Tally,
}

impl KeyedLimit {
    #[must_use]
    pub fn new(quota: Quota, now: Instant) -> Self {
        Self {
            quota,
            buckets: Mutex::new(Bounded::new(now)),
            refused: Tally::new(now),
        }
    }

    /// Take one request from `key`'s bucket: `Ok`, or `Err` with the refusal counted.
    pub fn check(&self, key: ClientKey, now: Instant) -> Result<(), Counted> {
        let (every, tolerance) = (self.quota.every, self.quota.tolerance());
        let allowed = {
            let mut buckets = self
                .buckets
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let (_, tat) = buckets.slot(key, now, |tat| *tat <= now, || now);
            let start = (*tat).max(now);
            let ok = start.saturating_duration_since(now) <= tolerance;
            if ok {
                *tat = start.checked_add(every).unwrap_or(start);
            }
            ok
        };
        if allowed {
            Ok(())
        } else {
            Err(self.refused.count(key, now))
        }
    }

    /// The quota of each client.
    #[must_use]
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// Count a refusal of `key` made elsewhere (by the instances' shared bucket).
    pub fn refuse(&self, key: ClientKey, now: Instant) -> Counted {
        self.refused.count(key, now)
    }

    /// Clients remembered.
    pub fn keys(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .map
            .len()
    }
}

/// This process's limits.
#[derive(Debug)]
pub struct Limits {
    pub redeem: KeyedLimit,
    /// `/login` and `/auth/callback` together.
    pub signin: KeyedLimit,
    /// Sign-in callbacks that failed (no sign-in in progress, the provider's refusal, a
    /// response that does not verify).
    pub callback_failures: Tally,
    /// Redeems refused before any token row was found (malformed, bad signature): counted,
    /// audited at 1, 10, 100 … per client.
    pub redeem_junk: Tally,
}

impl Limits {
    #[must_use]
    pub fn new(cfg: &LimitsConfig, now: Instant) -> Self {
        let quota = |burst, secs| Quota {
            burst,
            every: Duration::from_secs(secs),
        };
        Self {
            redeem: KeyedLimit::new(quota(cfg.redeem_burst, cfg.redeem_refill_secs), now),
            signin: KeyedLimit::new(quota(cfg.signin_burst, cfg.signin_refill_secs), now),
            callback_failures: Tally::new(now),
            redeem_junk: Tally::new(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> ClientKey {
        ClientKey::of(Some(s.parse().unwrap()))
    }

    #[test]
    fn powers_of_ten_are_the_audited_counts() {
        let audited: Vec<u64> = (0..=12_000).filter(|&n| is_power_of_ten(n)).collect();
        assert_eq!(audited, [1, 10, 100, 1000, 10_000]);
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(v4("2001:db8:1:2::1"), v4("2001:db8:1:2:ffff::9"));
        assert_ne!(v4("2001:db8:1:2::1"), v4("2001:db8:1:3::1"));
        assert_eq!(v4("::ffff:192.0.2.1"), v4("192.0.2.1"));
        assert_ne!(v4("192.0.2.1"), v4("192.0.2.2"));
        assert_eq!(ClientKey::of(None), ClientKey::Shared);
        assert_eq!(v4("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn a_burst_then_one_per_interval_per_client() {
        let t0 = Instant::now();
        let every = Duration::from_secs(6);
        let l = KeyedLimit::new(Quota { burst: 10, every }, t0);
        let (a, b) = (v4("192.0.2.1"), v4("192.0.2.2"));
        for _ in 0..10 {
            assert!(l.check(a, t0).is_ok());
        }
        assert!(l.check(a, t0).is_err());
        assert!(l.check(b, t0).is_ok(), "another client has its own bucket");
        assert!(l.check(a, t0 + every - Duration::from_millis(1)).is_err());
        assert!(l.check(a, t0 + every).is_ok());
        assert!(l.check(a, t0 + every).is_err());
    }

    #[test]
    fn refusals_are_audited_at_powers_of_ten_per_client() {
        let t0 = Instant::now();
        let l = KeyedLimit::new(
            Quota {
                burst: 1,
                every: Duration::from_secs(3600),
            },
            t0,
        );
        let a = v4("192.0.2.1");
        assert!(l.check(a, t0).is_ok());
        let audited: Vec<u64> = (0..1000)
            .filter_map(|_| l.check(a, t0).err())
            .filter(|c| c.audit)
            .map(|c| c.count)
            .collect();
        assert_eq!(audited, [1, 10, 100, 1000]);
        // A new window starts the count again.
        let c = l.check(a, t0 + WINDOW).unwrap_err();
        assert_eq!((c.count, c.audit), (1, true));
    }

    #[test]
    fn keys_are_evicted_and_capped_newcomers_share_one_bucket() {
        let t0 = Instant::now();
        let every = Duration::from_secs(1);
        let l = KeyedLimit::new(Quota { burst: 2, every }, t0);
        for i in 0..MAX_KEYS as u32 {
            let key = ClientKey::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(l.check(key, t0).is_ok());
        }
        assert_eq!(l.keys(), MAX_KEYS);
        // Full, and every bucket still refilling: newcomers share the overflow bucket.
        let (x, y) = (v4("203.0.113.1"), v4("203.0.113.2"));
        assert!(l.check(x, t0).is_ok());
        assert!(l.check(y, t0).is_ok());
        let c = l.check(x, t0).unwrap_err();
        assert_eq!(c.key, x, "the refusal is still counted against the client");
        assert_eq!(l.keys(), MAX_KEYS + 1, "the cap, plus the shared bucket");
        // Once their buckets are full again, the old keys go at the next sweep.
        let later = t0 + SWEEP_EVERY;
        assert!(l.check(x, later).is_ok());
        assert_eq!(l.keys(), 1, "only the newcomer is left");
    }

    #[test]
    fn a_tally_forgets_ended_windows_and_stays_bounded() {
        let t0 = Instant::now();
        let t = Tally::new(t0);
        for i in 0..=MAX_KEYS as u32 {
            t.count(ClientKey::V4(std::net::Ipv4Addr::from(i)), t0);
        }
        assert_eq!(t.keys(), MAX_KEYS + 1, "the cap, plus the shared key");
        let c = t.count(v4("203.0.113.9"), t0);
        assert_eq!(c.key, ClientKey::Shared);
        assert_eq!(c.count, 2);
        let later = t0 + WINDOW;
        assert_eq!(t.count(v4("203.0.113.9"), later).count, 1);
        assert_eq!(t.keys(), 1);
    }
}
