//! Deleted computers of the same name: the evidence for `account_recreated`.
//!
//! - **Where.** Deleted Objects is found through the domain head's `wellKnownObjects`
//!   (`GUID_DELETED_OBJECTS_CONTAINER_W`, `18E2EA80684F11D2B9AA00C04F79F805`, MS-ADTS
//!   6.1.1.4), read under the rootDSE's `defaultNamingContext`: `base_dn` may be an OU.
//! - **Which.** The search sends SHOW_DELETED (`1.2.840.113556.1.4.417`, critical) and
//!   SHOW_RECYCLED (`1.2.840.113556.1.4.2064`, not critical: DCs without the AD Recycle Bin,
//!   Samba among them, ignore it). With the Recycle Bin on, objects past their deleted-object
//!   lifetime are *recycled* and only SHOW_RECYCLED returns them (MS-ADTS 3.1.1.3.4.1.14 and
//!   3.1.1.3.4.1.26). `sAMAccountName` is kept on deletion (`fPRESERVEONDELETE`).
//! - **Rights.** By default only SYSTEM and Administrators can view Deleted Objects (KB 892806:
//!   "non-administrators-view-deleted-object-container"). The container is first read itself:
//!   when the service account cannot see it or read it (the DC shows the bare DN without Read
//!   Property), the answer is [`TombstoneCheck::NotPermitted`],
//!   so the diagnosis says the check could not run instead of implying there was no
//!   predecessor.

use ldap3::controls::RawControl;
use ldap3::{Ldap, LdapError, Scope};
use tokio::sync::Mutex;

use super::computers::{bytes, first};
use super::filter::tombstone_filter;
use super::{Directory, search};
use crate::ad::sid::decode_guid;
use crate::ad::time::parse_generalized_time;
use crate::ad::{Tombstone, TombstoneCheck};

/// LDAP_SERVER_SHOW_DELETED_OID.
pub const SHOW_DELETED: &str = "1.2.840.113556.1.4.417";
/// LDAP_SERVER_SHOW_RECYCLED_OID.
pub const SHOW_RECYCLED: &str = "1.2.840.113556.1.4.2064";
/// GUID_DELETED_OBJECTS_CONTAINER_W.
pub const DELETED_OBJECTS_WKGUID: &str = "18E2EA80684F11D2B9AA00C04F79F805";

/// The DN in a `wellKnownObjects` value (`B:32:<guid>:<dn>`) for `guid`.
pub fn well_known_dn<'a>(values: impl IntoIterator<Item = &'a str>, guid: &str) -> Option<String> {
    values.into_iter().find_map(|v| {
        let rest = v.strip_prefix("B:32:")?;
        let (g, dn) = rest.split_once(':')?;
        (g.eq_ignore_ascii_case(guid) && !dn.is_empty()).then(|| dn.to_string())
    })
}

/// Where the domain keeps its deleted objects (remembered once found).
pub(super) type DeletedObjectsDn = Mutex<Option<String>>;

fn controls(show_deleted_critical: bool) -> Vec<RawControl> {
    vec![
        RawControl {
            ctype: SHOW_DELETED.to_string(),
            crit: show_deleted_critical,
            val: None,
        },
        RawControl {
            ctype: SHOW_RECYCLED.to_string(),
            crit: false,
            val: None,
        },
    ]
}

/// The Deleted Objects DN of the domain this DC serves.
async fn locate(ldap: &mut Ldap) -> Result<Option<String>, LdapError> {
    let Some(root) = search::base_entry(ldap, "", vec!["defaultNamingContext"]).await? else {
        return Ok(None);
    };
    let Some(nc) = first(&root, "defaultNamingContext").map(str::to_string) else {
        return Ok(None);
    };
    let head = search::base_entry(ldap, &nc, vec!["wellKnownObjects"]).await?;
    Ok(head.and_then(|e| {
        let values = e
            .attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("wellKnownObjects"))
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        well_known_dn(values.iter().map(String::as_str), DELETED_OBJECTS_WKGUID)
    }))
}

/// What one DC answered.
enum Answer {
    Found(Vec<Tombstone>),
    NotPermitted(String),
}

async fn search_deleted(
    ldap: &mut Ldap,
    container: &str,
    filter: &str,
) -> Result<Answer, LdapError> {
    // The container itself first: invisible means we may not look, not that it is empty.
    let not_permitted = |rc: u32| {
        Answer::NotPermitted(format!(
            "the service account cannot read {container} (LDAP result {rc}, or its attributes \
             hidden); by default only administrators can"
        ))
    };
    // Without Read Property the DC still shows the container's DN (its parent grants List
    // Contents to everyone) but none of its attributes: that is "may not look" too.
    // The container and its children are asked for at once, on the one connection (ldap3
    // multiplexes): one round trip, not two, for a DC a network away.
    let mut children_ldap = ldap.clone();
    let seen = async {
        ldap.with_controls(controls(true))
            .search(
                container,
                Scope::Base,
                "(objectClass=*)",
                vec!["objectClass"],
            )
            .await
    };
    let children = async {
        children_ldap
            .with_controls(controls(true))
            .search(
                container,
                Scope::OneLevel,
                filter,
                vec![
                    "objectGUID",
                    "sAMAccountName",
                    "whenChanged",
                    "lastKnownParent",
                ],
            )
            .await
    };
    let (seen, res) = tokio::join!(seen, children);
    match seen?.success() {
        Ok((entries, _)) => {
            let readable = search::only_entries(entries)
                .iter()
                .any(|e| first(e, "objectClass").is_some());
            if !readable {
                return Ok(not_permitted(0));
            }
        }
        Err(LdapError::LdapResult { result }) if matches!(result.rc, 32 | 50) => {
            return Ok(not_permitted(result.rc));
        }
        Err(e) => return Err(e),
    }
    let res = res?.success();
    let entries = match res {
        Ok((entries, _)) => search::only_entries(entries),
        Err(LdapError::LdapResult { result }) if matches!(result.rc, 32 | 50) => {
            return Ok(not_permitted(result.rc));
        }
        Err(e) => return Err(e),
    };
    Ok(Answer::Found(
        entries
            .into_iter()
            .map(|e| Tombstone {
                object_guid: bytes(&e, "objectGUID").and_then(|b| decode_guid(&b).ok()),
                sam_account_name: first(&e, "sAMAccountName").unwrap_or_default().to_string(),
                when_changed: first(&e, "whenChanged").and_then(|v| parse_generalized_time(v).ok()),
                last_known_parent: first(&e, "lastKnownParent").map(str::to_string),
                dn: e.dn,
            })
            .collect(),
    ))
}

impl Directory {
    /// Deleted computers with this `sAMAccountName`, and whether the search could run.
    pub async fn tombstones(&self, sam_account_name: &str) -> (Vec<Tombstone>, TombstoneCheck) {
        let filter = tombstone_filter(sam_account_name);
        let known = self.deleted_objects.lock().await.clone();
        let found = self
            .with_first_dc(|mut ldap| {
                let (filter, known) = (filter.clone(), known.clone());
                async move {
                    let container = match known {
                        Some(dn) => dn,
                        None => match locate(&mut ldap).await {
                            Ok(Some(dn)) => dn,
                            Ok(None) => return Ok((None, None)),
                            Err(LdapError::LdapResult { result }) => {
                                return Ok((None, Some(result.rc)));
                            }
                            Err(e) => return Err(e),
                        },
                    };
                    let answer = search_deleted(&mut ldap, &container, &filter).await?;
                    Ok((Some((container, answer)), None))
                }
            })
            .await;
        match found {
            Ok((_, (Some((container, answer)), _))) => {
                *self.deleted_objects.lock().await = Some(container);
                match answer {
                    Answer::Found(t) => (t, TombstoneCheck::Done),
                    Answer::NotPermitted(detail) => (Vec::new(), TombstoneCheck::NotPermitted { detail }),
                }
            }
            Ok((_, (None, rc))) => (
                Vec::new(),
                TombstoneCheck::NotPermitted {
                    detail: match rc {
                        Some(rc) => format!("the domain head's wellKnownObjects could not be read (LDAP result {rc})"),
                        None => "the domain head names no Deleted Objects container the service account can read".to_string(),
                    },
                },
            ),
            Err(e) => {
                tracing::warn!(error = %e, "tombstone search failed");
                (Vec::new(), TombstoneCheck::Failed { error: e.to_string() })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleted_objects_is_found_by_its_well_known_guid() {
        let values = [
            "B:32:AB8153B7768811D1ADED00C04FD8D5CD:CN=LostAndFound,DC=corp,DC=example",
            "B:32:18e2ea80684f11d2b9aa00c04f79f805:CN=Deleted Objects,DC=corp,DC=example",
            "B:32:AA312825768811D1ADED00C04FD8D5CD:CN=Computers,DC=corp,DC=example",
        ];
        assert_eq!(
            well_known_dn(values, DELETED_OBJECTS_WKGUID).as_deref(),
            Some("CN=Deleted Objects,DC=corp,DC=example")
        );
        for bad in [
            [""; 1],
            ["B:32:18E2EA80684F11D2B9AA00C04F79F805:"],
            ["18E2EA80684F11D2B9AA00C04F79F805:CN=x"],
        ] {
            assert_eq!(well_known_dn(bad, DELETED_OBJECTS_WKGUID), None, "{bad:?}");
        }
    }
}
