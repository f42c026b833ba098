//! The one place a plain LDAP search's results become entries.
//!
//! AD and Samba answer a subtree search at a domain head with continuation references
//! (`ldaps://DomainDnsZones…`, `ForestDnsZones`, `Configuration`) after the entries, and
//! ldap3's `SearchEntry::construct` panics on a reference. Every plain search in `directory/`
//! therefore goes through [`entries`] (or [`only_entries`] when it needs controls), and the
//! paged searches through ldap3's `EntriesOnly` adapter: no reference ever reaches `construct`.

use ldap3::{Ldap, LdapError, ResultEntry, Scope, SearchEntry};

/// The entries of a search result, continuation references and intermediate messages dropped.
pub fn only_entries(results: Vec<ResultEntry>) -> Vec<SearchEntry> {
    results
        .into_iter()
        .filter(|e| !e.is_ref() && !e.is_intermediate())
        .map(SearchEntry::construct)
        .collect()
}

/// A plain search whose result code must be success; its entries only.
pub async fn entries(
    ldap: &mut Ldap,
    base: &str,
    scope: Scope,
    filter: &str,
    attrs: Vec<&str>,
) -> Result<Vec<SearchEntry>, LdapError> {
    let (results, _) = ldap.search(base, scope, filter, attrs).await?.success()?;
    Ok(only_entries(results))
}

/// The object at `dn` itself (a base search), or `None` when the answer holds no entry.
pub async fn base_entry(
    ldap: &mut Ldap,
    dn: &str,
    attrs: Vec<&str>,
) -> Result<Option<SearchEntry>, LdapError> {
    Ok(entries(ldap, dn, Scope::Base, "(objectClass=*)", attrs)
        .await?
        .into_iter()
        .next())
}
