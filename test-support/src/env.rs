//! Where the shared services are, and what a test does when one is missing.

/// The PostgreSQL server tests use unless `CHAT_TEST_PG_URL` names another.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The Redis server tests use unless `CHAT_TEST_REDIS_URL` names another.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The administrative URL of the shared PostgreSQL.
pub fn pg_admin_url() -> String {
    std::env::var("CHAT_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

/// The URL of the shared Redis.
pub fn redis_url() -> String {
    std::env::var("CHAT_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

/// Whether a missing service must fail the test instead of skipping it (set in CI).
pub fn services_required() -> bool {
    std::env::var("CHAT_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// Skips (returns `None`, with a loud message) or fails, as the environment asks, when
/// `what` is missing.
pub fn missing<T>(what: &str, why: &dyn std::fmt::Display) -> Option<T> {
    if services_required() {
        panic!("{what} is required (CHAT_TEST_REQUIRE_SERVICES=1): {why}");
    }
    eprintln!("SKIPPED: {what} is not available ({why})");
    None
}

/// `url` with its database name replaced by `name` (query parameters kept).
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

/// A free TCP port on 127.0.0.1 (free when asked; tests bind it right away).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_only_the_database() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres?sslmode=disable", "t1"),
            "postgres://u@h:5432/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "t2"),
            "postgres://u@h:5432/t2"
        );
    }
}
