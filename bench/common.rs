//! What several benchmarks share (each bench is its own crate and includes this file).

#![allow(dead_code)]

/// A `LAB_*` variable; the lab benches run inside `lab/lab.sh run --`.
pub fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set: run inside `lab/lab.sh run --`"))
}

/// A portal configuration: `data_dir` under `dir`, quiet logs, exactly these DCs (DC discovery
/// off: a benchmark names the DCs its baseline uses; see [`discovering`]), a dead OIDC issuer
/// (never contacted), and `extra` TOML after it.
pub fn config_toml(
    dir: &std::path::Path,
    urls: &[String],
    base_dn: &str,
    bind: (&str, &str),
    ca: &str,
    extra: &str,
) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = {data:?}\n[log]\nfilter = \"warn\"\n[ldap]\nurls = {urls:?}\nbase_dn = {base_dn:?}\nbind_dn = {u:?}\nbind_password = {p:?}\nca_file = {ca:?}\ndiscover_dcs = false\n[oidc]\nissuer = \"http://127.0.0.1:9\"\nclient_id = \"bench\"\nclient_secret = \"unused\"\n{extra}",
        data = dir.join("data").display().to_string(),
        u = bind.0,
        p = bind.1,
    )
}

/// The portal in-process on a free port with `toml`; returns its base URL and an API key of
/// role `bench`.
pub async fn start_portal(dir: &std::path::Path, toml: &str) -> (String, String) {
    let path = dir.join("bench.toml");
    std::fs::write(&path, toml).unwrap();
    let cfg = trustdesk::config::Config::load(Some(&path)).unwrap();
    let state = trustdesk::build(cfg).await.unwrap();
    let key = trustdesk::auth::api_keys::create(&state.store, "bench", "bench")
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(trustdesk::serve(listener, state));
    (base, key)
}

/// The same configuration with DC discovery on: per-DC reads also go to every DC the
/// directory lists beyond `urls`.
pub fn discovering(toml: &str) -> String {
    toml.replace("discover_dcs = false\n", "discover_dcs = true\n")
}
