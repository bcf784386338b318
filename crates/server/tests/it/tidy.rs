//! Checks that keep the docs true: every Rust file opens with a `//!` doc, every path the
//! codemap in ARCHITECTURE.md names exists, and every config key is documented.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !path.ends_with("target") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_has_a_doc() {
    let mut files = Vec::new();
    rust_files(&root().join("crates"), &mut files);
    assert!(files.len() > 10);
    let missing: Vec<_> = files
        .iter()
        .filter(|f| {
            !std::fs::read_to_string(f)
                .unwrap()
                .trim_start()
                .starts_with("//!")
        })
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! module doc: {missing:?}"
    );
}

#[test]
fn codemap_paths_exist() {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut n = 0;
    for line in text.lines() {
        // Codemap entries are headings like: ### `crates/core/src/geo/`
        let Some(rest) = line.strip_prefix("### `") else {
            continue;
        };
        let path = rest.split('`').next().unwrap();
        assert!(
            root().join(path).exists(),
            "ARCHITECTURE.md names {path}, which does not exist"
        );
        n += 1;
    }
    assert!(n >= 8, "the codemap lists the folders");
}

#[test]
fn config_keys_are_documented_in_the_example_and_docs() {
    let example = std::fs::read_to_string(root().join("ipintel.example.toml")).unwrap();
    let docs = std::fs::read_to_string(root().join("docs/configuration.md")).unwrap();
    for (key, _) in ipintel_server::config::KEYS {
        let leaf = key.rsplit('.').next().unwrap();
        assert!(
            example.contains(leaf),
            "ipintel.example.toml does not mention {key}"
        );
        assert!(
            docs.contains(key),
            "docs/configuration.md does not document {key}"
        );
    }
}
