//! The migrations in `migrations/`, embedded at build time (`build.rs`), as
//! a source for sqlx's migrator.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

/// Every migration file's name and SQL, in file-name order.
const FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// The migrator over the embedded migrations.
pub async fn migrator() -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Embedded).await
}

/// The embedded files, read by the rules sqlx applies to a directory, so a
/// database migrated by either way sees the same versions and checksums.
#[derive(Debug)]
struct Embedded;

impl MigrationSource<'static> for Embedded {
    #[allow(clippy::type_complexity)] // the trait's own signature
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        Box::pin(async { FILES.iter().map(|(name, sql)| parse(name, sql)).collect() })
    }
}

/// `<version>_<description>.sql`, the description's underscores read as
/// spaces; `-- no-transaction` on the first line runs it outside one.
fn parse(name: &str, sql: &'static str) -> Result<Migration, BoxDynError> {
    let (version, rest) = name
        .split_once('_')
        .ok_or_else(|| format!("migration {name:?} is not named <version>_<description>.sql"))?;
    let version: i64 = version
        .parse()
        .map_err(|_| format!("migration {name:?} does not start with an integer version"))?;
    let kind = MigrationType::from_filename(rest);
    let description = rest.trim_end_matches(kind.suffix()).replace('_', " ");
    let no_tx = sql.starts_with("-- no-transaction");
    Ok(Migration::new(
        version,
        Cow::Owned(description),
        kind,
        Cow::Borrowed(sql),
        no_tx,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_as_sqlx_reads_a_directory() {
        let m = parse("20261121000001_event_store.sql", "CREATE TABLE t ();").unwrap();
        assert_eq!(m.version, 20261121000001);
        assert_eq!(m.description, "event store");
        assert_eq!(m.migration_type, MigrationType::Simple);
        assert!(!m.no_tx);
        assert!(parse("x_y.sql", "").is_err());
        assert!(parse("nounderscore.sql", "").is_err());
    }

    #[test]
    fn every_file_in_the_directory_is_embedded_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        on_disk.sort();
        let embedded: Vec<&str> = FILES.iter().map(|(name, _)| *name).collect();
        assert_eq!(embedded, on_disk);
        let versions: Vec<i64> = FILES
            .iter()
            .map(|(n, s)| parse(n, s).unwrap().version)
            .collect();
        assert!(
            versions.windows(2).all(|w| w[0] < w[1]),
            "versions unique and ascending"
        );
    }
}
