//! Embeds `migrations/` in the crate: writes the list of migration files,
//! each with its SQL, to `$OUT_DIR/migrations.rs` (read by
//! `src/migrations.rs`). Done here rather than by `sqlx::migrate!`, whose
//! macro crate compiles a second copy of sqlx for the build host.

use std::{env, fs, path::Path};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    // A new, removed or changed file in the directory reruns this script.
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("the migrations directory")
        .map(|entry| entry.expect("a migrations directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();
    let mut list = String::from("&[\n");
    for path in &files {
        let path = path.canonicalize().expect("a migration's path");
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a UTF-8 file name");
        list.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    list.push(']');
    let out = Path::new(&env::var("OUT_DIR").expect("OUT_DIR")).join("migrations.rs");
    fs::write(out, list).expect("writing migrations.rs");
}
