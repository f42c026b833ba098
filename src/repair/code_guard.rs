//! The limits that make guessing short repair codes useless (pure; time is a parameter).
//!
//! Within a fixed window of [`WINDOW`]:
//! - an address that sent [`PER_ADDRESS`] wrong codes is refused before any lookup until its
//!   window ends;
//! - after [`GLOBAL`] wrong codes from all addresses together, every code lookup is refused
//!   until the global window ends (pasted tokens still work), which caps a guesser with many
//!   addresses at `GLOBAL` guesses per window;
//! - refusals are audited in aggregate: the 1st, 10th, 100th, 1,000th … failure from an
//!   address in its window, with the count, so a thousand guesses write four audit rows.
//!
//! The state is per portal process (in memory): several instances each allow their own
//! `GLOBAL`. Addresses whose window ended are dropped when the map grows past [`MAX_ADDRESSES`];
//! if it is still full, a new address is treated as one that used up its allowance.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::limits::is_power_of_ten;

/// The counting window.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Wrong codes one address may send per window.
pub const PER_ADDRESS: u64 = 10;
/// Wrong codes all addresses together may send per window.
pub const GLOBAL: u64 = 200;
/// Addresses remembered at once.
const MAX_ADDRESSES: usize = 10_000;

/// Why a code lookup was refused before it was tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shut {
    /// This address sent too many wrong codes.
    Address,
    /// All addresses together did.
    Global,
}

/// A failure counted against an address: how many so far in its window, and whether this one
/// is to be audited (the 1st, 10th, 100th, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    pub failures: u64,
    pub audit: bool,
    /// Start of the address's window, for the audit text.
    pub since: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    /// Wrong codes that reached a lookup.
    misses: u64,
    /// Every failure: misses and refusals.
    failures: u64,
}

impl Window {
    fn new(now: Instant) -> Self {
        Self {
            start: now,
            misses: 0,
            failures: 0,
        }
    }

    fn current(&mut self, now: Instant) -> &mut Self {
        if now.saturating_duration_since(self.start) >= WINDOW {
            *self = Self::new(now);
        }
        self
    }
}

#[derive(Debug)]
struct State {
    addresses: HashMap<String, Window>,
    global: Window,
}

/// The guard, shared by every request of this process.
#[derive(Debug)]
pub struct CodeGuard(Mutex<State>);

impl CodeGuard {
    #[must_use]
    pub fn new(now: Instant) -> Self {
        Self(Mutex::new(State {
            addresses: HashMap::new(),
            global: Window::new(now),
        }))
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut state)
    }

    /// May `address` try a code now? `Err` names the limit that shuts it (and counts the
    /// refusal as a failure of the address, see [`CodeGuard::fail`]).
    pub fn open(&self, address: &str, now: Instant) -> Result<(), Shut> {
        self.with(|s| {
            if let Some(w) = s.addresses.get_mut(address)
                && w.current(now).misses >= PER_ADDRESS
            {
                return Err(Shut::Address);
            }
            if s.global.current(now).misses >= GLOBAL {
                return Err(Shut::Global);
            }
            Ok(())
        })
    }

    /// Count a failure from `address`: a wrong code that was looked up (`miss`), or a request
    /// [`CodeGuard::open`] refused.
    pub fn fail(&self, address: &str, miss: bool, now: Instant) -> Counted {
        self.with(|s| {
            if miss {
                s.global.current(now).misses += 1;
            }
            if !s.addresses.contains_key(address) && s.addresses.len() >= MAX_ADDRESSES {
                s.addresses
                    .retain(|_, w| now.saturating_duration_since(w.start) < WINDOW);
            }
            let full = s.addresses.len() >= MAX_ADDRESSES;
            let w = match s.addresses.get_mut(address) {
                Some(w) => w.current(now),
                None if full => {
                    // Nothing to remember it by: count it as a whole allowance, audited.
                    return Counted {
                        failures: PER_ADDRESS,
                        audit: true,
                        since: now,
                    };
                }
                None => s
                    .addresses
                    .entry(address.to_string())
                    .or_insert_with(|| Window::new(now)),
            };
            if miss {
                w.misses += 1;
            }
            w.failures += 1;
            Counted {
                failures: w.failures,
                audit: is_power_of_ten(w.failures),
                since: w.start,
            }
        })
    }

    /// Addresses remembered (for tests and metrics).
    pub fn addresses(&self) -> usize {
        self.with(|s| s.addresses.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thousand_guesses_from_one_address_reach_ten_lookups_and_four_audit_rows() {
        let t0 = Instant::now();
        let g = CodeGuard::new(t0);
        let (mut looked_up, mut audited) = (0, Vec::new());
        for i in 0..1000 {
            let now = t0 + Duration::from_millis(i);
            let open = g.open("192.0.2.7", now);
            if open.is_ok() {
                looked_up += 1;
            } else {
                assert_eq!(open, Err(Shut::Address));
            }
            let c = g.fail("192.0.2.7", open.is_ok(), now);
            if c.audit {
                audited.push(c.failures);
            }
        }
        assert_eq!(looked_up, PER_ADDRESS);
        assert_eq!(audited, [1, 10, 100, 1000]);
        // Another address is not shut by the first one's misses.
        assert_eq!(g.open("192.0.2.8", t0), Ok(()));
        // The window ends: the address may try again, and counting starts over.
        let later = t0 + WINDOW + Duration::from_secs(1);
        assert_eq!(g.open("192.0.2.7", later), Ok(()));
        assert_eq!(g.fail("192.0.2.7", true, later).failures, 1);
    }

    #[test]
    fn many_addresses_together_shut_every_lookup_until_the_global_window_ends() {
        let t0 = Instant::now();
        let g = CodeGuard::new(t0);
        for i in 0..GLOBAL {
            let addr = format!("10.0.{}.{}", i / 250, i % 250);
            assert_eq!(g.open(&addr, t0), Ok(()));
            g.fail(&addr, true, t0);
        }
        assert_eq!(g.open("203.0.113.1", t0), Err(Shut::Global));
        assert_eq!(
            g.open("203.0.113.1", t0 + WINDOW + Duration::from_secs(1)),
            Ok(())
        );
    }

    #[test]
    fn refusals_do_not_count_towards_the_global_limit() {
        let t0 = Instant::now();
        let g = CodeGuard::new(t0);
        for _ in 0..10 * GLOBAL {
            let open = g.open("192.0.2.9", t0);
            g.fail("192.0.2.9", open.is_ok(), t0);
        }
        assert_eq!(g.open("192.0.2.10", t0), Ok(()));
    }

    #[test]
    fn the_address_map_is_bounded_and_old_windows_are_evicted() {
        let t0 = Instant::now();
        let g = CodeGuard::new(t0);
        for i in 0..MAX_ADDRESSES {
            g.fail(&format!("a{i}"), false, t0);
        }
        assert_eq!(g.addresses(), MAX_ADDRESSES);
        // Still full inside the window: a new address counts as a whole allowance.
        let c = g.fail("new", false, t0);
        assert_eq!((c.failures, c.audit), (PER_ADDRESS, true));
        assert_eq!(g.addresses(), MAX_ADDRESSES);
        // After the window the old ones go.
        let later = t0 + WINDOW;
        assert_eq!(g.fail("new", false, later).failures, 1);
        assert_eq!(g.addresses(), 1);
    }
}
