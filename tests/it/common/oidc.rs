//! The test OpenID Provider (`lab/oidc/provider.mjs`, node): started per portal with the
//! profile of the real product it imitates, killed when dropped.

use std::path::{Path, PathBuf};

/// A test OpenID Provider (lab/oidc/provider.mjs), killed when dropped.
pub struct Op {
    pub issuer: String,
    /// What the provider's ready line said (profile, tenant, …).
    pub ready: serde_json::Value,
    child: tokio::process::Child,
}

impl Op {
    /// Roll the provider's signing key over now (SIGUSR2: a new key, the old one unpublished).
    pub fn rotate_keys(&self) {
        let pid = self.child.id().expect("the provider runs");
        let ok = std::process::Command::new("kill")
            .args(["-USR2", &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -USR2 {pid}");
    }
}

/// How to start the lab provider: which real product it imitates, and any refusal mode.
#[derive(Clone, Debug, Default)]
pub struct OpSetup {
    /// `OIDC_PROFILE`: userinfo (default), entra, keycloak, okta.
    pub profile: Option<&'static str>,
    /// `OIDC_TAMPER`: alg_none, unpublished_key, hs256, expired.
    pub tamper: Option<&'static str>,
    /// Register the portal's back-channel logout URI at the provider.
    pub backchannel: bool,
    /// ... or this one instead (a recording front).
    pub backchannel_uri: Option<String>,
    /// `OIDC_CLIENT_AUTH`, and the client's public key file for `private_key_jwt`.
    pub client_auth: Option<&'static str>,
    pub client_public_key: Option<PathBuf>,
}

fn node() -> PathBuf {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("lab/.node/bin/node");
    if local.exists() {
        local
    } else {
        PathBuf::from("node")
    }
}

/// Start the provider with `redirect_uri` registered; wait for its ready line. A start that
/// does not report ready in 30 s is killed and tried again (twice): under the full suite on 2
/// cores a node start has been seen to hang; its stderr is kept for the failure message.
pub async fn start_op(portal_base: &str, setup: &OpSetup) -> Op {
    let mut errors = Vec::new();
    for _ in 0..3 {
        match try_start_op(portal_base, setup).await {
            Ok(op) => return op,
            Err(e) => errors.push(e),
        }
    }
    panic!(
        "the OIDC provider did not get ready (did `npm ci` run in lab/oidc?): {}",
        errors.join(" | ")
    );
}

async fn try_start_op(portal_base: &str, setup: &OpSetup) -> Result<Op, String> {
    use tokio::io::AsyncBufReadExt;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("lab/oidc/provider.mjs");
    let stderr = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = tokio::process::Command::new(node());
    if let Some(p) = setup.profile {
        cmd.env("OIDC_PROFILE", p);
    }
    if let Some(t) = setup.tamper {
        cmd.env("OIDC_TAMPER", t);
    }
    if let Some(a) = setup.client_auth {
        cmd.env("OIDC_CLIENT_AUTH", a);
    }
    if let Some(k) = &setup.client_public_key {
        cmd.env("OIDC_CLIENT_PUBLIC_KEY", k);
    }
    if setup.backchannel {
        let uri = setup
            .backchannel_uri
            .clone()
            .unwrap_or_else(|| format!("{portal_base}/auth/backchannel-logout"));
        cmd.env("OIDC_BACKCHANNEL_LOGOUT_URI", uri);
    }
    let mut child = cmd
        .arg(&script)
        .env("OIDC_PORT", "0")
        .env("OIDC_REDIRECT_URIS", format!("{portal_base}/auth/callback"))
        .env("OIDC_POST_LOGOUT_URIS", format!("{portal_base}/"))
        .env("OIDC_SKIP_CONSENT", "1")
        .env("OIDC_SKIP_LOGOUT_PROMPT", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(stderr.reopen().unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("node must be installed (lab/install.sh) to run the OIDC provider");
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let waited = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line()).await;
    let line = match waited {
        Ok(Ok(Some(line))) => line,
        other => {
            let _ = child.kill().await;
            let err = std::fs::read_to_string(stderr.path()).unwrap_or_default();
            return Err(format!("{other:?}; stderr: {}", err.trim()));
        }
    };
    let ready: serde_json::Value = serde_json::from_str(&line).unwrap();
    Ok(Op {
        issuer: ready["issuer"].as_str().unwrap().to_string(),
        ready,
        child,
    })
}
