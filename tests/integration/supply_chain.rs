//! The locked dependencies against RustSec's advisory database (the snapshot in
//! `supply-chain/advisory-db`, see `supply-chain/README.md`), read with the `rustsec`
//! crate: no crate built into demoreel at a version an advisory names as vulnerable.

use std::path::Path;

fn advisories() -> rustsec::Database {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("supply-chain/advisory-db");
    let database = rustsec::Database::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(database.iter().count() > 1000, "the snapshot holds the whole database, not a part of it");
    database
}

/// The vulnerabilities of `lockfile`, as (crate, version, `ID crate version: title`).
/// Informational advisories (unmaintained, unsound, notices) are printed.
fn vulnerabilities(database: &rustsec::Database, lockfile: &rustsec::Lockfile) -> Vec<(String, String, String)> {
    use rustsec::advisory::Informational;
    let settings = rustsec::report::Settings { informational_warnings: vec![Informational::Notice, Informational::Unmaintained, Informational::Unsound], ..Default::default() };
    let report = rustsec::Report::generate(database, lockfile, &settings);
    for (kind, warnings) in &report.warnings {
        for warning in warnings {
            let id = warning.advisory.as_ref().map_or_else(|| "-".to_string(), |a| a.id.to_string());
            eprintln!("informational advisory ({kind:?}), not failed on: {id} {} {}", warning.package.name, warning.package.version);
        }
    }
    report
        .vulnerabilities
        .list
        .iter()
        .map(|v| (v.package.name.to_string(), v.package.version.to_string(), format!("{} {} {}: {}", v.advisory.id, v.package.name, v.package.version, v.advisory.title)))
        .collect()
}

/// Whether `name@version` is compiled for this machine (into demoreel, its build scripts or
/// its tests), as `cargo tree` answers from the lock and the features in use. Cargo's lock
/// also lists crates only an unused optional feature would bring (sqlx lists
/// `sqlx-mysql`, and with it `rsa`, though demoreel enables no MySQL): those are never
/// built.
fn built_here(name: &str, version: &str) -> bool {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args(["tree", "--locked", "--edges", "normal,build,dev", "--invert"])
        .arg(format!("{name}@{version}"))
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "cargo tree: {}", String::from_utf8_lossy(&output.stderr));
    !output.stdout.is_empty()
}

#[test]
fn no_locked_crate_has_a_known_vulnerability() {
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock");
    let lockfile = rustsec::Lockfile::load(&lock).unwrap();
    assert!(lockfile.packages.len() > 100, "the whole lock is read");
    let (built, listed_only): (Vec<_>, Vec<_>) = vulnerabilities(&advisories(), &lockfile).into_iter().partition(|(name, version, _)| built_here(name, version));
    for (_, _, advisory) in &listed_only {
        eprintln!("in Cargo.lock but never built, not failed on: {advisory}");
    }
    let built: Vec<String> = built.into_iter().map(|(_, _, advisory)| advisory).collect();
    assert!(built.is_empty(), "demoreel is built with crates that have advisories against them:\n{}", built.join("\n"));
}

/// The same check on a lock holding a version with a known advisory finds it (a heap
/// overflow in `smallvec` 1.6.0, fixed in 1.6.1), and `cargo tree` tells a crate demoreel
/// builds from one its lock only lists.
#[test]
fn the_advisory_check_finds_a_vulnerable_version() {
    let lock = "version = 3\n\n[[package]]\nname = \"smallvec\"\nversion = \"1.6.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n[[package]]\nname = \"smallvec\"\nversion = \"1.6.1\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
    let lockfile: rustsec::Lockfile = lock.parse().unwrap();
    let found = vulnerabilities(&advisories(), &lockfile);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].2.starts_with("RUSTSEC-2021-0003 smallvec 1.6.0"), "{found:?}");
    let ours = rustsec::Lockfile::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock")).unwrap();
    let version_of = |name: &str| ours.packages.iter().find(|p| p.name.as_str() == name).map(|p| p.version.to_string()).unwrap();
    assert!(built_here("tokio", &version_of("tokio")), "tokio is built");
    assert!(!built_here("sqlx-mysql", &version_of("sqlx-mysql")), "sqlx-mysql is only listed");
}
