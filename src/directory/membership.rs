//! Reading what `ad/tier0.rs` judges: a computer's nested groups and whom it delegates to.
//!
//! `tokenGroups` is constructed, and a DC returns it only to a base-scope search (MS-ADTS
//! 3.1.1.4.5.19), so it is one more search, made by [`Directory::with_privilege`] where it is
//! needed: before a change, and beside the per-DC reads of a lookup (no added wait there).
//! A delegation target is a DC when a computer with `SERVER_TRUST_ACCOUNT` or
//! `PARTIAL_SECRETS_ACCOUNT` has that `dNSHostName` or NetBIOS name; that search runs only for
//! the rare computer with `msDS-AllowedToDelegateTo` set.
//!
//! `ldap.protected_groups` names more groups, by DN or SID; a DN is read once for its SID.
//! A group that cannot be resolved makes every computer's membership unreadable until it
//! can (fail closed: a misspelt group must not quietly protect nothing).

use ldap3::{Ldap, LdapError, Scope, SearchEntry};

use super::computers::{all_bytes, bytes, first};
use super::discovery::DC_FILTER;
use super::{Directory, DirectoryError, search};
use crate::ad::ComputerAccount;
use crate::ad::dn::parse_dn;
use crate::ad::sid::decode_sid;
use crate::ad::tier0::{GroupCheck, privileged_group, spn_host};

/// A configured protected group, resolved: its SID and the name the page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedGroup {
    pub sid: String,
    pub label: String,
}

/// The configured protected groups, resolved, or why they could not be.
pub(super) type Resolved = Result<Vec<ProtectedGroup>, String>;

impl Directory {
    /// `ldap.protected_groups` as SIDs, read once (SIDs do not change); a failure is tried
    /// again on the next call.
    pub(super) async fn protected_groups(&self) -> Resolved {
        if let Some(done) = self.protected_group_sids.lock().await.clone() {
            return Ok(done);
        }
        let mut out = Vec::new();
        for entry in &self.protected_group_names {
            if entry.starts_with("S-1-") {
                out.push(ProtectedGroup {
                    sid: entry.clone(),
                    label: entry.clone(),
                });
                continue;
            }
            let dn = entry.clone();
            let read = self
                .with_first_dc(|mut ldap| {
                    let dn = dn.clone();
                    async move { search::base_entry(&mut ldap, &dn, vec!["objectSid"]).await }
                })
                .await;
            let sid = match read {
                Ok((_, Some(e))) => bytes(&e, "objectSid").and_then(|b| decode_sid(&b).ok()),
                Ok((_, None)) => None,
                Err(DirectoryError::Ldap { code: 32, .. }) => None,
                Err(e) => return Err(format!("ldap.protected_groups: reading {entry}: {e}")),
            };
            let Some(sid) = sid else {
                return Err(format!(
                    "ldap.protected_groups: {entry} is not a group this DC knows"
                ));
            };
            let label = parse_dn(entry)
                .into_iter()
                .next()
                .map_or_else(|| entry.clone(), |r| r.value);
            out.push(ProtectedGroup { sid, label });
        }
        *self.protected_group_sids.lock().await = Some(out.clone());
        Ok(out)
    }
}

impl Directory {
    /// `account` with its privileges read (nested groups, delegation to a DC), on the first DC
    /// that answers. Searches return accounts without them (`GroupCheck::NotRead`), which the
    /// policy refuses every change: a path that changes something must call this first.
    pub async fn with_privilege(
        &self,
        account: ComputerAccount,
    ) -> Result<ComputerAccount, DirectoryError> {
        let protected = self.protected_groups().await;
        let (_, account) = self
            .with_first_dc(|mut ldap| {
                let (mut account, protected) = (account.clone(), protected.clone());
                async move {
                    read_privilege(&mut ldap, &mut account, &protected).await?;
                    Ok(account)
                }
            })
            .await?;
        Ok(account)
    }
}

/// How long a lookup reuses an object's privileges (its groups and DC delegation), and how
/// many objects are remembered. Changes never reuse them: they read them fresh.
const LOOKUP_REUSE: std::time::Duration = std::time::Duration::from_secs(60);
const LOOKUP_CAP: usize = 10_000;

impl Directory {
    /// For a lookup's page: [`Self::with_privilege`], reusing what was read for the same object
    /// in the last minute. On Samba the `tokenGroups` read costs about 0.65 ms of the DC's time
    /// per lookup (BENCHMARKS.md); a tech looks at one computer several times in a row. What a
    /// change does is never decided from this: mint, reset and redeem read afresh.
    pub async fn with_privilege_for_lookup(
        &self,
        mut account: ComputerAccount,
    ) -> Result<ComputerAccount, DirectoryError> {
        let key = account.object_guid;
        if let Some((at, groups, to_dc)) = self.privilege_cache.lock().await.get(&key).cloned()
            && at.elapsed() < LOOKUP_REUSE
        {
            account.privilege.groups = groups;
            account.privilege.delegates_to_dc = to_dc;
            return Ok(account);
        }
        let account = self.with_privilege(account).await?;
        let mut cache = self.privilege_cache.lock().await;
        if cache.len() >= LOOKUP_CAP {
            cache.retain(|_, (at, _, _)| at.elapsed() < LOOKUP_REUSE);
            if cache.len() >= LOOKUP_CAP {
                cache.clear();
            }
        }
        // Only what was read: a failure to read is not remembered.
        if !matches!(account.privilege.groups, GroupCheck::Unreadable { .. }) {
            cache.insert(
                key,
                (
                    std::time::Instant::now(),
                    account.privilege.groups.clone(),
                    account.privilege.delegates_to_dc.clone(),
                ),
            );
        }
        Ok(account)
    }
}

/// Fill in `account.privilege`'s group check and DC delegation.
/// `protected`: the configured groups, or why they are unknown.
async fn read_privilege(
    ldap: &mut Ldap,
    account: &mut ComputerAccount,
    protected: &Resolved,
) -> Result<(), LdapError> {
    account.privilege.groups = match protected {
        Err(why) => GroupCheck::Unreadable { why: why.clone() },
        Ok(extra) => match search::base_entry(ldap, &account.dn, vec!["tokenGroups"]).await {
            Ok(Some(e)) => groups_of(&e, extra),
            Ok(None) => GroupCheck::Unreadable {
                why: "the object was not found for its tokenGroups".into(),
            },
            Err(LdapError::LdapResult { result }) => GroupCheck::Unreadable {
                why: format!("tokenGroups refused: LDAP result {}", result.rc),
            },
            Err(e) => return Err(e),
        },
    };
    let hosts: Vec<&str> = account
        .privilege
        .allowed_to_delegate_to
        .iter()
        .filter_map(|s| spn_host(s))
        .collect();
    if hosts.is_empty() {
        return Ok(());
    }
    let Some(nc) = naming_context(&account.dn) else {
        return Ok(());
    };
    let dcs = search::entries(
        ldap,
        &nc,
        Scope::Subtree,
        &dc_named_filter(&hosts),
        vec!["dNSHostName", "sAMAccountName"],
    )
    .await?;
    let dc_hosts: Vec<String> = dcs.iter().flat_map(names_of).collect();
    account.privilege.delegates_to_dc = account
        .privilege
        .allowed_to_delegate_to
        .iter()
        .filter(|spn| spn_host(spn).is_some_and(|h| is_one_of(h, &dc_hosts)))
        .cloned()
        .collect();
    Ok(())
}

/// The privileged groups among an entry's `tokenGroups`; none returned at all means the
/// service account may not read them (every computer is at least in Domain Computers).
fn groups_of(e: &SearchEntry, extra: &[ProtectedGroup]) -> GroupCheck {
    let sids: Vec<String> = all_bytes(e, "tokenGroups")
        .iter()
        .filter_map(|b| decode_sid(b).ok())
        .collect();
    if sids.is_empty() {
        return GroupCheck::Unreadable {
            why: "no tokenGroups returned: the service account may not read them".into(),
        };
    }
    let mut privileged: Vec<String> = Vec::new();
    for sid in &sids {
        let name = privileged_group(sid).map(str::to_string).or_else(|| {
            extra
                .iter()
                .find(|g| &g.sid == sid)
                .map(|g| g.label.clone())
        });
        if let Some(name) = name
            && !privileged.contains(&name)
        {
            privileged.push(name);
        }
    }
    GroupCheck::Read { privileged }
}

/// The domain part (`DC=…`) of a DN.
fn naming_context(dn: &str) -> Option<String> {
    let dcs: Vec<String> = parse_dn(dn)
        .into_iter()
        .filter(|r| r.attr.eq_ignore_ascii_case("DC"))
        .map(|r| format!("DC={}", r.value))
        .collect();
    (!dcs.is_empty()).then(|| dcs.join(","))
}

/// DCs whose DNS name is one of `hosts`, or whose NetBIOS name is a host's first label.
fn dc_named_filter(hosts: &[&str]) -> String {
    let mut any = String::new();
    for h in hosts {
        let h = h.trim_end_matches('.');
        let label = h.split('.').next().unwrap_or(h);
        any.push_str(&format!(
            "(dNSHostName={})(sAMAccountName={}$)",
            ldap3::ldap_escape(h),
            ldap3::ldap_escape(label)
        ));
    }
    format!("(&{DC_FILTER}(|{any}))")
}

/// A DC's names: its DNS name and its NetBIOS name.
fn names_of(e: &SearchEntry) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(h) = first(e, "dNSHostName") {
        v.push(h.to_string());
    }
    if let Some(s) = first(e, "sAMAccountName") {
        v.push(s.trim_end_matches('$').to_string());
    }
    v
}

/// Whether an SPN host names one of the DCs: the full DNS name, or a bare NetBIOS name.
fn is_one_of(host: &str, dc_names: &[String]) -> bool {
    let host = host.trim_end_matches('.');
    dc_names.iter().any(|n| {
        n.eq_ignore_ascii_case(host)
            || (!host.contains('.')
                && n.split('.')
                    .next()
                    .is_some_and(|l| l.eq_ignore_ascii_case(host)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delegation_host_is_a_dc_by_dns_or_netbios_name() {
        let dcs = vec!["dc1.lab.example.test".to_string(), "DC1".to_string()];
        assert!(is_one_of("dc1.lab.example.test", &dcs));
        assert!(is_one_of("DC1.LAB.EXAMPLE.TEST.", &dcs));
        assert!(is_one_of("dc1", &dcs));
        assert!(!is_one_of("dc1.other.test", &dcs));
        assert!(!is_one_of("srv-app01.lab.example.test", &dcs));
    }

    #[test]
    fn the_dc_filter_escapes_hosts() {
        let f = dc_named_filter(&["dc1.lab.test", "x*)(y"]);
        assert!(f.contains("(dNSHostName=dc1.lab.test)(sAMAccountName=dc1$)"));
        assert!(f.contains("x\\2a\\29\\28y"), "{f}");
        assert!(f.starts_with("(&(&(objectCategory=computer)"));
    }

    #[test]
    fn naming_context_is_the_dc_part() {
        assert_eq!(
            naming_context("CN=S,OU=Servers,DC=lab,DC=example,DC=test").as_deref(),
            Some("DC=lab,DC=example,DC=test")
        );
        assert_eq!(naming_context("CN=S,OU=x"), None);
    }

    #[test]
    fn token_groups_name_the_privileged_ones_and_none_means_unreadable() {
        let sid = |rid: u32| {
            let mut b = vec![1u8, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0];
            for n in [1u32, 2, 3, rid] {
                b.extend_from_slice(&n.to_le_bytes());
            }
            b
        };
        let entry = |v: Vec<Vec<u8>>| SearchEntry {
            dn: "CN=S".into(),
            attrs: Default::default(),
            bin_attrs: [("tokenGroups".to_string(), v)].into(),
        };
        let extra = vec![ProtectedGroup {
            sid: "S-1-5-21-1-2-3-1200".into(),
            label: "Tier0-Servers".into(),
        }];
        assert_eq!(
            groups_of(&entry(vec![sid(515), sid(517), sid(1117)]), &extra),
            GroupCheck::Read {
                privileged: vec!["Cert Publishers".into()]
            }
        );
        assert_eq!(
            groups_of(&entry(vec![sid(515), sid(1200)]), &extra),
            GroupCheck::Read {
                privileged: vec!["Tier0-Servers".into()]
            }
        );
        assert_eq!(
            groups_of(&entry(vec![sid(515)]), &extra),
            GroupCheck::Read { privileged: vec![] }
        );
        assert!(matches!(
            groups_of(&entry(vec![]), &extra),
            GroupCheck::Unreadable { .. }
        ));
    }
}
