//! A database of its own for each PostgreSQL test, on the shared server named by
//! `CHAT_TEST_PG_URL`: created fresh, dropped when the test ends (even when it fails).

use crate::env::{missing, pg_admin_url, with_database};

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
        let admin = pg_admin_url();
        let client = match connect(&admin).await {
            Ok(client) => client,
            Err(e) => return missing(&format!("PostgreSQL at {admin} (CHAT_TEST_PG_URL)"), &e),
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
