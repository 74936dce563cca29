//! Where the database is and how to reach it. Input: `--database` as given (a path,
//! `sqlite://PATH`, or `postgres://…`). Output: a migrated [`SqlDatabase`]. Invariant: the
//! schema is migrated (sqlx's migrator over the files of `migrations/sqlite/` or
//! `migrations/postgres/`, built into the binary) before the first query, each migration
//! once, in a transaction; a location names its setting when it is refused, and never
//! shows a password it carries.
//!
//! One code path serves both databases (sqlx's `Any` driver, queries written with `$N`
//! parameters, which SQLite reads as well); the few statements that differ ask the
//! [`Dialect`].

use super::sql::SqlDatabase;
use super::{DbError, DbResult};
use sqlx::ConnectOptions;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A database `--database` named.
#[derive(Debug, Clone, PartialEq)]
pub enum DatabaseLocation {
    /// The embedded database: one SQLite file (WAL, so the api reads while a runner writes).
    Sqlite(PathBuf),
    /// A PostgreSQL server shared by many processes (the URL as given).
    Postgres(String),
}

impl DatabaseLocation {
    /// `sqlite://PATH`, a plain path, or `postgres://` / `postgresql://` URL; `None` is
    /// `default_sqlite`.
    pub fn parse(given: Option<&str>, default_sqlite: &Path) -> Result<DatabaseLocation, String> {
        let Some(given) = given.filter(|g| !g.trim().is_empty()) else {
            return Ok(DatabaseLocation::Sqlite(default_sqlite.to_path_buf()));
        };
        match given.split_once("://") {
            None => Ok(DatabaseLocation::Sqlite(PathBuf::from(given))),
            Some(("sqlite", path)) if !path.is_empty() => Ok(DatabaseLocation::Sqlite(PathBuf::from(path))),
            Some(("postgres" | "postgresql", _)) => {
                let url = url::Url::parse(given).map_err(|e| format!("--database: not a PostgreSQL URL ({e})"))?;
                if url.host_str().is_none_or(str::is_empty) && !url.query_pairs().any(|(k, _)| k == "host") {
                    return Err("--database: a PostgreSQL URL names its host (postgres://USER@HOST:PORT/DATABASE)".into());
                }
                Ok(DatabaseLocation::Postgres(given.to_string()))
            }
            Some((scheme, _)) => Err(format!("--database: {scheme}:// is not supported (use a path, sqlite://PATH or postgres://USER@HOST/DATABASE)")),
        }
    }

    /// For messages and logs: the path, or the URL without its password.
    pub fn display(&self) -> String {
        match self {
            DatabaseLocation::Sqlite(path) => path.display().to_string(),
            DatabaseLocation::Postgres(url) => match url::Url::parse(url) {
                Ok(mut parsed) => {
                    if parsed.password().is_some() {
                        let _ = parsed.set_password(Some("***"));
                    }
                    parsed.to_string()
                }
                Err(_) => "postgres://…".into(),
            },
        }
    }
}

/// What differs between the two databases' SQL, in the few statements where it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The next creation-order number of `table` (`runs` or `render_jobs`). SQLite
    /// serializes writers, so `MAX + 1` is safe there; PostgreSQL takes it from a sequence,
    /// since two concurrent inserts would read the same maximum.
    pub fn next_seq(self, table: &str) -> String {
        match self {
            Dialect::Sqlite => format!("(SELECT COALESCE(MAX(seq), 0) + 1 FROM {table})"),
            Dialect::Postgres => format!("nextval('{table}_seq')"),
        }
    }

    /// The larger of two values (SQLite's two-argument `MAX`).
    pub fn greatest(self) -> &'static str {
        match self {
            Dialect::Sqlite => "MAX",
            Dialect::Postgres => "GREATEST",
        }
    }

    /// Appended to the subquery that picks a row to claim: on PostgreSQL concurrent
    /// claimers skip a row another is taking instead of queueing behind its lock (SQLite
    /// has one writer at a time and no row locks).
    pub fn skip_locked(self, alias: &str) -> String {
        match self {
            Dialect::Sqlite => String::new(),
            Dialect::Postgres => format!(" FOR UPDATE OF {alias} SKIP LOCKED"),
        }
    }
}

/// The schema's history for each database: a new migration is appended, never edited
/// (sqlx refuses a changed checksum), to both lists.
const SQLITE_MIGRATIONS: [(i64, &str, &str); 7] = [
    (1, "init", include_str!("../../migrations/sqlite/0001_init.sql")),
    (2, "key lifecycle", include_str!("../../migrations/sqlite/0002_key_lifecycle.sql")),
    (3, "templates", include_str!("../../migrations/sqlite/0003_templates.sql")),
    (4, "render jobs", include_str!("../../migrations/sqlite/0004_render_jobs.sql")),
    (5, "run leases", include_str!("../../migrations/sqlite/0005_run_leases.sql")),
    (6, "demonstrations", include_str!("../../migrations/sqlite/0006_demonstrations.sql")),
    (7, "identities, one task per name", include_str!("../../migrations/sqlite/0007_identities.sql")),
];

const POSTGRES_MIGRATIONS: [(i64, &str, &str); 4] = [
    (1, "init", include_str!("../../migrations/postgres/0001_init.sql")),
    (2, "run leases", include_str!("../../migrations/postgres/0002_run_leases.sql")),
    (3, "demonstrations", include_str!("../../migrations/postgres/0003_demonstrations.sql")),
    (4, "identities, one task per name", include_str!("../../migrations/postgres/0004_identities.sql")),
];

/// The migrations as sqlx's migrator reads them, from the binary rather than the disk.
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> futures::future::BoxFuture<'static, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async move {
            Ok(self.0.iter().map(|&(version, description, sql)| Migration::new(version, description.into(), MigrationType::Simple, sql.into(), false)).collect())
        })
    }
}

impl SqlDatabase {
    /// The embedded database in the file at `path` (created with its folder if missing).
    pub async fn open_sqlite(path: &Path) -> DbResult<SqlDatabase> {
        SqlDatabase::open(&DatabaseLocation::Sqlite(path.to_path_buf())).await
    }

    pub async fn open(location: &DatabaseLocation) -> DbResult<SqlDatabase> {
        sqlx::any::install_default_drivers();
        let listen_url = match location {
            DatabaseLocation::Postgres(url) => Some(url.clone()),
            DatabaseLocation::Sqlite(_) => None,
        };
        let (options, pool, dialect, migrations): (_, _, _, &'static [_]) = match location {
            DatabaseLocation::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| DbError::Corrupt(format!("{}: {e}", parent.display())))?;
                }
                let url = sqlx::sqlite::SqliteConnectOptions::new().filename(path).create_if_missing(true).to_url_lossy();
                // The settings a SQLite URL cannot carry, on every new connection.
                let pool = AnyPoolOptions::new().max_connections(4).after_connect(|conn, _| {
                    Box::pin(async move {
                        use sqlx::Executor;
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON").await?;
                        Ok(())
                    })
                });
                (AnyConnectOptions::from_url(&url)?, pool, Dialect::Sqlite, &SQLITE_MIGRATIONS[..])
            }
            DatabaseLocation::Postgres(url) => {
                let parsed = url::Url::parse(url).map_err(|e| DbError::Corrupt(format!("--database: {e}")))?;
                // A worker holds few connections (claims, renewals, reports); many workers
                // share the server's limit (100 by default).
                let pool = AnyPoolOptions::new().max_connections(8).acquire_timeout(Duration::from_secs(30));
                (AnyConnectOptions::from_url(&parsed)?, pool, Dialect::Postgres, &POSTGRES_MIGRATIONS[..])
            }
        };
        let pool = pool.connect_with(options).await?;
        Migrator::new(Embedded(migrations)).await?.run(&pool).await?;
        Ok(SqlDatabase { pool, dialect, listen_url })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_read_and_refused_by_name() {
        let default = Path::new("/data/demoreel.db");
        assert_eq!(DatabaseLocation::parse(None, default), Ok(DatabaseLocation::Sqlite(default.into())));
        assert_eq!(DatabaseLocation::parse(Some("x/state.db"), default), Ok(DatabaseLocation::Sqlite("x/state.db".into())));
        assert_eq!(DatabaseLocation::parse(Some("sqlite:///var/db"), default), Ok(DatabaseLocation::Sqlite("/var/db".into())));
        let pg = DatabaseLocation::parse(Some("postgres://demo:hunter2@db.internal:5432/demoreel"), default).unwrap();
        assert_eq!(pg, DatabaseLocation::Postgres("postgres://demo:hunter2@db.internal:5432/demoreel".into()));
        assert!(!pg.display().contains("hunter2"), "{}", pg.display());
        assert!(DatabaseLocation::parse(Some("mysql://db/x"), default).unwrap_err().contains("mysql://"));
        assert!(DatabaseLocation::parse(Some("postgres:///demoreel"), default).unwrap_err().contains("host"));
    }
}
