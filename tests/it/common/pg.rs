//! Fresh PostgreSQL databases, for the test suite and the lookup benchmark (which includes
//! this file).

/// A new, empty database named `prefix` and a random suffix on the server `admin` names (a URL
/// of a database there whose user may create databases): its URL and its name.
pub async fn create_database_on(admin: &str, prefix: &str) -> (String, String) {
    use sqlx::Executor;
    let pool = sqlx::PgPool::connect(admin)
        .await
        .expect("PostgreSQL must be reachable (TD_TEST_PG_URL, default 127.0.0.1:5432)");
    let name = format!("{prefix}{}", uuid::Uuid::new_v4().simple());
    pool.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let mut url = url::Url::parse(admin).unwrap();
    url.set_path(&name);
    (url.to_string(), name)
}
