//! The commands the token page gives the technician for the broken machine: download the
//! client, `client.toml` and the CA over the portal's HTTPS into a new private folder, stop
//! unless every SHA-256 matches the one shown, then redeem.
//!
//! Where the files go: a new folder no other local user can write. On Windows a GUID-named
//! folder in the elevated administrator's own `%TEMP%` (not `%ProgramData%\trustdesk`, where
//! ordinary users may create folders first and swap the exe between the hash check and its
//! start); on Linux `mktemp -d`. The client is given `--config` explicitly, so a
//! `client.toml` installed by IT elsewhere is not picked up instead.
//!
//! The token goes to the client in `TRUSTDESK_TOKEN` (it accepts that; never in the
//! arguments, which other local users can read), set for the client only and removed after.
//! Shell history: Windows PowerShell 5.1's PSReadLine writes each pasted block to its history
//! file as it starts, so the block takes the token's line out of that file at the end (newer
//! PSReadLine keeps lines naming a token in memory only); the Linux block unsets `HISTFILE`,
//! so that shell's history is never written.
//!
//! Every value is quoted for its shell here, and the page escapes the whole text for HTML.

use askama::Template;

use super::{Artifact, Downloads, Kind};

/// The blocks for one token; a block only for the platforms whose binary is configured.
#[derive(Debug, Default)]
pub struct RedeemCommands {
    /// For an elevated Windows PowerShell.
    pub windows: Option<String>,
    /// For a root shell on Linux.
    pub linux: Option<String>,
}

/// One file to fetch: where from, its name in the new folder, its hash.
struct Fetch {
    url: String,
    name: &'static str,
    sha256: String,
}

#[derive(Template)]
#[template(path = "redeem_windows.ps1", escape = "none")]
struct WindowsBlock {
    files: Vec<Fetch>,
    token: String,
}

#[derive(Template)]
#[template(path = "redeem_linux.sh", escape = "none")]
struct LinuxBlock {
    files: Vec<Fetch>,
    token: String,
}

/// The commands that redeem `token` with the client `d` serves.
pub fn render(d: &Downloads, token: &str) -> Result<RedeemCommands, askama::Error> {
    // The client, then `client.toml` and the CA to put beside it, URLs quoted by `quote`.
    let files = |client: &Artifact, client_name: &'static str, quote: fn(&str) -> String| {
        let beside = [
            (Kind::ClientToml, "client.toml"),
            (Kind::PortalCa, super::client_toml::CA_FILE_NAME),
        ];
        std::iter::once((client, client_name))
            .chain(
                beside
                    .into_iter()
                    .filter_map(|(k, name)| Some((d.get(k)?, name))),
            )
            .map(|(a, name)| Fetch {
                url: quote(&format!("{}{}", d.base(), a.path())),
                name,
                sha256: a.sha256.clone(),
            })
            .collect()
    };
    let windows = d.get(Kind::WindowsExe).map(|exe| {
        let files = files(exe, "trustdesk-client.exe", ps_quote);
        let token = ps_quote(token);
        WindowsBlock { files, token }.render()
    });
    let linux = d.get(Kind::LinuxBinary).map(|bin| {
        let files = files(bin, "trustdesk-client", sh_quote);
        let token = sh_quote(token);
        LinuxBlock { files, token }.render()
    });
    Ok(RedeemCommands {
        windows: windows.transpose()?,
        linux: linux.transpose()?,
    })
}

/// A PowerShell single-quoted string: nothing inside is expanded, and a quote is written
/// twice. PowerShell takes the typographic single quotes (U+2018..U+201B) for quotes too.
pub fn ps_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// A POSIX shell single-quoted string: a quote is closed, escaped and reopened (`'\''`).
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::downloads::{Artifact, Downloads};

    fn downloads(base: &str, kinds: &[Kind]) -> Downloads {
        Downloads {
            base: base.to_string(),
            files: kinds
                .iter()
                .map(|k| Artifact::new(*k, format!("{k:?}").into_bytes()))
                .collect(),
        }
    }

    const ALL: [Kind; 4] = [
        Kind::WindowsExe,
        Kind::LinuxBinary,
        Kind::ClientToml,
        Kind::PortalCa,
    ];

    /// What PowerShell reads from a single-quoted string (any of its five quote characters
    /// ends it; two in a row are one).
    fn ps_unquote(q: &str) -> String {
        let is_quote =
            |c: char| matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}');
        let inner: Vec<char> = q.chars().collect();
        assert!(inner.len() >= 2 && is_quote(inner[0]) && is_quote(inner[inner.len() - 1]));
        let inner = &inner[1..inner.len() - 1];
        let mut out = String::new();
        let mut i = 0;
        while i < inner.len() {
            if is_quote(inner[i]) {
                assert!(
                    i + 1 < inner.len() && is_quote(inner[i + 1]),
                    "a lone quote ends the string: {q}"
                );
                i += 1;
            }
            out.push(inner[i]);
            i += 1;
        }
        out
    }

    const HOSTILE: &[&str] = &[
        "https://td.example.test/it's",
        "a’b‘c‚d‛e''f",
        "$(touch /tmp/x) `id` ${HOME} $env:TEMP \\ \" ;&|<>",
        "line\nbreak",
        "",
    ];

    #[test]
    fn powershell_quoting_round_trips() {
        for s in HOSTILE {
            assert_eq!(ps_unquote(&ps_quote(s)), *s);
        }
        assert_eq!(ps_quote("it's"), "'it''s'");
        assert_eq!(ps_quote("a’b"), "'a’’b'");
    }

    #[test]
    fn shell_quoting_round_trips_through_a_real_shell() {
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        for s in HOSTILE {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf '%s' {}", sh_quote(s)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), *s);
        }
    }

    #[test]
    fn blocks_quote_the_url_and_the_token() {
        let d = downloads("https://td.example.test/it's", &ALL);
        let token = "td1.x'y";
        let c = render(&d, token).unwrap();
        let ps = c.windows.unwrap();
        let exe = d.get(Kind::WindowsExe).unwrap();
        let url = format!("https://td.example.test/it's{}", exe.path());
        assert!(ps.contains(&format!("Url = {} }}", ps_quote(&url))), "{ps}");
        assert!(ps.contains(&format!("Sha256 = '{}'", exe.sha256)), "{ps}");
        assert!(ps.contains("$token = 'td1.x''y'"), "{ps}");
        assert!(!ps.contains("it's"), "no unquoted value: {ps}");
        for name in ["'trustdesk-client.exe'", "'client.toml'", "'portal-ca.pem'"] {
            assert!(ps.contains(&format!("Name = {name}")), "{name}: {ps}");
        }
        assert!(!ps.contains("linux"), "{ps}");
        // The token reaches the client through the environment only.
        assert!(ps.contains("$env:TRUSTDESK_TOKEN = $token"), "{ps}");
        assert!(ps.contains("Remove-Item Env:TRUSTDESK_TOKEN"), "{ps}");
        assert_eq!(ps.matches("td1.").count(), 1, "{ps}");

        let sh = c.linux.unwrap();
        let bin = d.get(Kind::LinuxBinary).unwrap();
        let url = format!("https://td.example.test/it's{}", bin.path());
        assert!(
            sh.contains(&format!("-o trustdesk-client {}\n", sh_quote(&url))),
            "{sh}"
        );
        assert!(
            sh.contains(&format!("{}  trustdesk-client\n", bin.sha256)),
            "{sh}"
        );
        assert!(
            sh.contains(r"TRUSTDESK_TOKEN='td1.x'\''y' ./trustdesk-client"),
            "{sh}"
        );
        assert!(!sh.contains(".exe"), "{sh}");
    }

    #[test]
    fn the_linux_block_is_valid_shell() {
        let d = downloads("https://td.example.test/it's", &ALL);
        let sh = render(&d, "td1.a'b").unwrap().linux.unwrap();
        let out = std::process::Command::new("bash")
            .arg("-n")
            .arg("-c")
            .arg(&sh)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}\n{sh}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn only_configured_platforms_get_a_block_and_the_ca_is_optional() {
        let d = downloads(
            "https://td.example.test",
            &[Kind::LinuxBinary, Kind::ClientToml],
        );
        let c = render(&d, "td1.t").unwrap();
        assert!(c.windows.is_none());
        let sh = c.linux.unwrap();
        assert!(!sh.contains("portal-ca.pem"), "{sh}");
        assert!(sh.contains("client.toml"), "{sh}");
    }
}
