//! Writing a computer's password (`unicodePwd` replace) — only ever over the encrypted
//! connections `client.rs` makes — and finding an object again by its `objectGUID`.

use std::collections::HashSet;

use ldap3::{Mod, Scope};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::computers::{dc_label, first};
use super::search;
use super::{Directory, DirectoryError};
use crate::ad::ComputerAccount;

/// The DC a password was written to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WrittenDc {
    /// The configured URL's host (what the portal connected to).
    pub label: String,
    /// The DC's DNS host name from its rootDSE.
    pub host: Option<String>,
    /// `msDS-KeyVersionNumber` on that DC right after the write (the post-repair watch's
    /// starting point); `None` when the DC did not say.
    pub key_version: Option<u32>,
}

impl WrittenDc {
    pub fn name(&self) -> &str {
        self.host.as_deref().unwrap_or(&self.label)
    }
}

/// `"password"` in UTF-16LE, the form `unicodePwd` takes.
fn quoted_utf16(pw: &str) -> Vec<u8> {
    format!("\"{pw}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// The computer with this objectGUID (see [`super::filter::guid_value`]).
pub fn guid_filter(guid: &Uuid) -> String {
    format!(
        "(&(objectClass=computer)(objectGUID={}))",
        super::filter::guid_value(guid)
    )
}

impl Directory {
    /// Replace the password of the object at `dn` on the first DC that answers. The connection
    /// is LDAPS or StartTLS by construction (`client.rs` refuses anything else), as AD requires
    /// for `unicodePwd` and as Samba does not enforce. Returns which DC was written, with its
    /// DNS host name, so the workstation can use the same DC before replication.
    pub async fn set_password(
        &self,
        dn: &str,
        password: &SecretString,
    ) -> Result<WrittenDc, DirectoryError> {
        let value = quoted_utf16(password.expose_secret());
        let (url, host) = self
            .with_first_dc(|mut ldap| {
                let (dn, value) = (dn.to_string(), value.clone());
                async move {
                    ldap.modify(
                        &dn,
                        vec![Mod::Replace(b"unicodePwd".to_vec(), HashSet::from([value]))],
                    )
                    .await?
                    .success()?;
                    // Which DC this connection reached, by name, and the key version the
                    // write left there (best effort: the write is done either way).
                    let host = search::base_entry(&mut ldap, "", vec!["dnsHostName"])
                        .await
                        .ok()
                        .flatten()
                        .and_then(|e| first(&e, "dnsHostName").map(str::to_string));
                    let key_version =
                        search::base_entry(&mut ldap, &dn, vec!["msDS-KeyVersionNumber"])
                            .await
                            .ok()
                            .flatten()
                            .and_then(|e| {
                                first(&e, "msDS-KeyVersionNumber").and_then(|v| v.parse().ok())
                            });
                    Ok((host, key_version))
                }
            })
            .await?;
        let (host, key_version) = host;
        Ok(WrittenDc {
            label: dc_label(&url),
            host,
            key_version,
        })
    }

    /// The computer with this objectGUID, wherever it is now.
    pub async fn find_by_guid(
        &self,
        guid: &Uuid,
    ) -> Result<Option<ComputerAccount>, DirectoryError> {
        let filter = guid_filter(guid);
        let base = self.base_dn().to_string();
        let (_, entries) = self
            .with_first_dc(|mut ldap| {
                let (filter, base) = (filter.clone(), base.clone());
                async move {
                    search::entries(
                        &mut ldap,
                        &base,
                        Scope::Subtree,
                        &filter,
                        super::computers::ACCOUNT_ATTRS.to_vec(),
                    )
                    .await
                }
            })
            .await?;
        match entries.first() {
            Some(e) => ComputerAccount::try_from(e).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_pwd_is_quoted_utf16le() {
        assert_eq!(quoted_utf16("ab"), vec![b'"', 0, b'a', 0, b'b', 0, b'"', 0]);
    }

    #[test]
    fn guid_filters_escape_every_byte() {
        let g = Uuid::parse_str("00112233-4455-6677-8899-aabbccddeeff").unwrap();
        assert_eq!(
            guid_filter(&g),
            "(&(objectClass=computer)(objectGUID=\\33\\22\\11\\00\\55\\44\\77\\66\\88\\99\\aa\\bb\\cc\\dd\\ee\\ff))"
        );
    }
}
