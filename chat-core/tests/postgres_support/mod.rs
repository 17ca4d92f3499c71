//! A database of its own for each PostgreSQL test, on the shared server named by
//! `CHAT_TEST_PG_URL`: created fresh, dropped when the test ends (even when it fails).

#![allow(dead_code)]

/// The server tests use unless `CHAT_TEST_PG_URL` names another.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The administrative URL of the test server.
pub fn admin_url() -> String {
    std::env::var("CHAT_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

/// Whether a missing service must fail the test instead of skipping it (set in CI).
pub fn services_required() -> bool {
    std::env::var("CHAT_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    format!("{}/{name}{query}", &base[..host_end])
}

/// A database that exists for as long as this value lives.
pub struct TestDb {
    admin: String,
    /// The database's name.
    pub name: String,
    /// Its URL, for the store.
    pub url: String,
}

impl TestDb {
    /// Creates a fresh database; `None` (with a loud message) when the server cannot be
    /// reached and services are not required.
    pub async fn create() -> Option<Self> {
        let admin = admin_url();
        let client = match connect(&admin).await {
            Ok(client) => client,
            Err(e) if !services_required() => {
                eprintln!("SKIPPED: PostgreSQL at {admin} is not reachable ({e}); set CHAT_TEST_PG_URL");
                return None;
            }
            Err(e) => panic!("PostgreSQL at {admin} is required (CHAT_TEST_REQUIRE_SERVICES=1): {e}"),
        };
        let name = format!("chat_test_{}", uuid::Uuid::new_v4().simple());
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        let url = with_database(&admin, &name);
        Some(Self { admin, name, url })
    }
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop runs outside async code: a thread with its own runtime does the dropping.
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let client = connect(&admin).await.map_err(std::io::Error::other)?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                // A pool still opening a connection at this moment can make one attempt fail.
                let mut attempts = 0;
                loop {
                    match client.batch_execute(&sql).await {
                        Ok(()) => return Ok(()),
                        Err(_) if attempts < 10 => attempts += 1,
                        Err(e) => return Err(std::io::Error::other(e)),
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}
