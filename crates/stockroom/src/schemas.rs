//! `stockroom schemas`: writes the JSON Schema of every event type's `data`
//! to `docs/schemas/`, generated from the domain types.

use std::path::Path;

use anyhow::Context;

/// The schema files as they should be: `(file name, contents)`.
pub fn rendered() -> Vec<(String, String)> {
    domain::schema::data_schemas()
        .into_iter()
        .map(|(name, schema)| {
            let text = serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n";
            (format!("{name}.json"), text)
        })
        .collect()
}

/// Writes every schema into `dir`.
pub fn write(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (file, text) in rendered() {
        let path = dir.join(&file);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_in_schemas_match_the_rust_types() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/schemas");
        for (file, expected) in rendered() {
            let path = dir.join(&file);
            let actual = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                actual == expected,
                "{} is out of date with the event types: run `cargo run -p stockroom -- schemas`",
                path.display()
            );
        }
        let files = std::fs::read_dir(&dir)
            .expect("docs/schemas exists")
            .count();
        assert_eq!(
            files,
            rendered().len(),
            "docs/schemas has files for unknown event types"
        );
    }
}
