//! What a fleet report keeps: per OU, how many computers, their headline causes, and two
//! histograms (password age, days since the last logon); plus one row per at-risk computer.
//!
//! Pure. Counting per OU (not per fleet) lets every viewer see totals and plots for exactly
//! the OUs their `lookup` scope covers; memory grows with the number of OUs, never with the
//! number of computers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ad::ComputerAccount;
use crate::ad::dn::parse_dn;
use crate::diagnostics::{Cause, Confidence, Diagnosis};

/// Histogram bins in days: upper bounds, inclusive; the last bin is open-ended, and one more
/// bin counts "never".
pub const DAY_BINS: [(&str, i64); 9] = [
    ("0–7", 7),
    ("8–14", 14),
    ("15–30", 30),
    ("31–45", 45),
    ("46–60", 60),
    ("61–90", 90),
    ("91–180", 180),
    ("181–365", 365),
    ("> 365", i64::MAX),
];
/// Number of bins including "never".
pub const BINS: usize = DAY_BINS.len() + 1;

/// The bin for an age in days (`None`: never).
pub fn bin(age_days: Option<i64>) -> usize {
    match age_days {
        None => DAY_BINS.len(),
        Some(d) => DAY_BINS
            .iter()
            .position(|(_, upper)| d.max(0) <= *upper)
            .unwrap_or(DAY_BINS.len() - 1),
    }
}

/// Counts for one OU (or, merged, for everything a viewer may see).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OuStats {
    pub total: u64,
    pub at_risk: u64,
    /// Headline cause code → computers.
    #[schema(value_type = BTreeMap<crate::diagnostics::Cause, u64>)]
    pub causes: BTreeMap<String, u64>,
    /// Days since `pwdLastSet`, by bins of days: 0-7, 8-14, 15-30, 31-45, 46-60, 61-90,
    /// 91-180, 181-365, >365, then never.
    #[schema(min_items = 10, max_items = 10)]
    pub pwd_age: [u64; BINS],
    /// Days since the latest logon the scanning DC knows (`lastLogon`, `lastLogonTimestamp`),
    /// in the same bins as `pwd_age`.
    #[schema(min_items = 10, max_items = 10)]
    pub logon_age: [u64; BINS],
}

impl OuStats {
    fn merge(&mut self, o: &OuStats) {
        self.total += o.total;
        self.at_risk += o.at_risk;
        for (k, v) in &o.causes {
            *self.causes.entry(k.clone()).or_default() += v;
        }
        for (a, b) in self.pwd_age.iter_mut().zip(o.pwd_age) {
            *a += b;
        }
        for (a, b) in self.logon_age.iter_mut().zip(o.logon_age) {
            *a += b;
        }
    }
}

/// The whole report's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// OU DN (as AD wrote it) → counts.
    pub per_ou: BTreeMap<String, OuStats>,
    /// Entries that could not be decoded (named in the log, counted here).
    pub undecodable: u64,
}

/// The computer's headline, as the fleet shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headline {
    pub cause: Cause,
    pub confidence: Confidence,
    /// Listed as at risk: a cause that breaks the channel, or rotation turned off, with at
    /// least medium confidence (a low-confidence signal is shown on the computer's page only).
    pub at_risk: bool,
    /// Every at-risk cause, headline first.
    pub causes: Vec<Cause>,
    /// The most severe finding's sentence.
    pub summary: String,
}

fn risky(cause: Cause, confidence: Confidence) -> bool {
    (cause.breaks_channel() || cause == Cause::RotationDisabled) && confidence >= Confidence::Medium
}

/// The headline of one diagnosis.
pub fn headline(d: &Diagnosis) -> Headline {
    let causes: Vec<_> = d
        .likely_causes
        .iter()
        .filter(|c| risky(c.cause, c.confidence))
        .collect();
    let top = causes.first().copied().or(d.likely_causes.first());
    let (cause, confidence) = top.map_or((Cause::Healthy, Confidence::Low), |c| {
        (c.cause, c.confidence)
    });
    Headline {
        cause,
        confidence,
        at_risk: !causes.is_empty(),
        causes: causes.iter().map(|c| c.cause).collect(),
        summary: d
            .findings
            .first()
            .map(|f| f.summary.clone())
            .unwrap_or_default(),
    }
}

/// The OU an object's DN sits in (its parent), as written.
pub fn parent_of(dn: &str) -> String {
    let rdns = parse_dn(dn);
    let Some(first) = rdns.first() else {
        return String::new();
    };
    // The parent is what follows the first unescaped comma; parse_dn found where that is.
    let own = format!("{}={}", first.attr, first.value);
    if dn.len() > own.len() && dn.is_char_boundary(own.len()) && dn.starts_with(&own) {
        dn.get(own.len() + 1..)
            .unwrap_or_default()
            .trim()
            .to_string()
    } else {
        // An escaped first RDN: rebuild the parent from the parsed RDNs.
        rdns.iter()
            .skip(1)
            .map(|r| format!("{}={}", r.attr, r.value))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn age_days(now: OffsetDateTime, t: Option<OffsetDateTime>) -> Option<i64> {
    t.map(|t| (now - t).whole_days())
}

impl Tally {
    /// Count one computer.
    pub fn add(
        &mut self,
        account: &ComputerAccount,
        latest_logon: Option<OffsetDateTime>,
        h: &Headline,
        now: OffsetDateTime,
    ) {
        let s = self.per_ou.entry(parent_of(&account.dn)).or_default();
        s.total += 1;
        s.at_risk += u64::from(h.at_risk);
        *s.causes.entry(h.cause.as_str().to_string()).or_default() += 1;
        if let Some(n) = s.pwd_age.get_mut(bin(age_days(now, account.pwd_last_set))) {
            *n += 1;
        }
        if let Some(n) = s.logon_age.get_mut(bin(age_days(now, latest_logon))) {
            *n += 1;
        }
    }

    /// The counts over the OUs `visible` admits.
    pub fn merged(&self, visible: impl Fn(&str) -> bool) -> OuStats {
        let mut out = OuStats::default();
        for (_, s) in self.per_ou.iter().filter(|(ou, _)| visible(ou)) {
            out.merge(s);
        }
        out
    }

    pub fn total(&self) -> u64 {
        self.per_ou.values().map(|s| s.total).sum()
    }

    /// Add another domain's counts (its OUs are DNs of their own).
    pub fn absorb(&mut self, other: Tally) {
        for (ou, s) in other.per_ou {
            self.per_ou.entry(ou).or_default().merge(&s);
        }
        self.undecodable += other.undecodable;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn bins_have_inclusive_upper_bounds_and_a_never_bin() {
        assert_eq!(bin(Some(0)), 0);
        assert_eq!(bin(Some(7)), 0);
        assert_eq!(bin(Some(8)), 1);
        assert_eq!(bin(Some(30)), 2);
        assert_eq!(bin(Some(31)), 3);
        assert_eq!(bin(Some(365)), 7);
        assert_eq!(bin(Some(366)), 8);
        assert_eq!(bin(Some(i64::MAX)), 8);
        assert_eq!(
            bin(Some(-3)),
            0,
            "a time in the future (clock skew) counts as today"
        );
        assert_eq!(bin(None), 9);
    }

    #[test]
    fn parent_is_everything_after_the_first_rdn() {
        assert_eq!(
            parent_of("CN=PC1,OU=Berlin,OU=Workstations,DC=lab"),
            "OU=Berlin,OU=Workstations,DC=lab"
        );
        assert_eq!(parent_of("CN=a\\,b,OU=X,DC=lab"), "OU=X,DC=lab");
        assert_eq!(parent_of(""), "");
    }

    #[test]
    fn merged_counts_only_visible_ous() {
        let mut t = Tally::default();
        let a = OuStats {
            total: 2,
            at_risk: 1,
            causes: [
                ("healthy".to_string(), 1),
                ("account_disabled".to_string(), 1),
            ]
            .into(),
            pwd_age: [1, 1, 0, 0, 0, 0, 0, 0, 0, 0],
            logon_age: [0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        };
        let b = OuStats {
            total: 3,
            at_risk: 0,
            causes: [("healthy".to_string(), 3)].into(),
            pwd_age: [3, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            logon_age: [3, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        };
        t.per_ou.insert("OU=A,DC=x".into(), a.clone());
        t.per_ou.insert("OU=B,DC=x".into(), b);
        assert_eq!(t.merged(|ou| ou.starts_with("OU=A")), a);
        let all = t.merged(|_| true);
        assert_eq!(all.total, 5);
        assert_eq!(all.causes["healthy"], 4);
        assert_eq!(all.pwd_age[0], 4);
        assert_eq!(t.total(), 5);
        assert_eq!(t.merged(|_| false), OuStats::default());
    }
}
