//! Checks that keep the docs and the layers true: the import graphs of both crates have no
//! cycle and follow ARCHITECTURE.md's layers, every Rust file opens with a `//!` doc, every path the
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

/// The source files under `dir` (relative to the root), with their text.
fn sources(dir: &str) -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(&root().join(dir), &mut files);
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            let rel = f.strip_prefix(root()).unwrap().display().to_string();
            (rel, text)
        })
        .collect()
}

/// Lines of code (comments and doc lines left out), so rules match code, not prose.
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| !l.starts_with("//"))
}

fn violations(dir: &str, rule: impl Fn(&str, &str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for (file, text) in sources(dir) {
        for line in code_lines(&text) {
            if rule(&file, line) {
                out.push(format!("{file}: {line}"));
            }
        }
    }
    out
}

#[test]
fn every_folder_is_in_the_codemap() {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let named: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("### `"))
        .filter_map(|rest| rest.split('`').next())
        .map(|p| p.trim_end_matches('/').to_owned())
        .collect();
    let mut dirs = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.ends_with("target") {
                out.push(path.clone());
                walk(&path, out);
            }
        }
    }
    walk(&root().join("crates"), &mut dirs);
    let mut missing = Vec::new();
    for dir in dirs {
        let rel = dir.strip_prefix(root()).unwrap().display().to_string();
        // A folder is covered when the codemap names it or its parent (a dialect folder
        // under `api/`, a backend under `store/`, a test binary under `tests/`).
        let parent = dir
            .parent()
            .unwrap()
            .strip_prefix(root())
            .unwrap()
            .display()
            .to_string();
        let is_crate_src = rel.ends_with("/src");
        let covered = named.iter().any(|n| *n == rel || *n == parent)
            || (is_crate_src && named.contains(&parent));
        if !covered {
            missing.push(rel);
        }
    }
    assert!(
        missing.is_empty(),
        "folders the codemap does not cover: {missing:?}"
    );
    for top in ["bench", "scripts", "docs", "contrib"] {
        assert!(named.iter().any(|n| n == top), "the codemap names {top}/");
    }
}

#[test]
fn dialects_never_import_each_other() {
    let dialects: Vec<String> = std::fs::read_dir(root().join("crates/server/src/api"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(dialects.len() >= 5, "{dialects:?}");
    let bad = violations("crates/server/src/api", |file, line| {
        let own = file
            .split("/api/")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or("");
        dialects.iter().filter(|d| *d != own).any(|other| {
            line.contains(&format!("api::{other}"))
                || line.contains(&format!("super::super::{other}"))
        })
    });
    assert!(bad.is_empty(), "a dialect imports another: {bad:#?}");
}

#[test]
fn handlers_only_parse_call_the_engine_and_render() {
    let forbidden = [
        ".store()",
        "state.accounts",
        "state.geo",
        ".charge(",
        ".charge_recorded(",
        ".refund_recorded(",
        "meter.check(",
        "geo.snapshot(",
    ];
    for front_end in ["crates/server/src/api", "crates/server/src/console"] {
        let bad = violations(front_end, |_, line| {
            forbidden.iter().any(|f| line.contains(f))
        });
        assert!(
            bad.is_empty(),
            "front-end code in {front_end} reaches past the engine: {bad:#?}"
        );
    }
}

#[test]
fn http_never_imports_the_server_lifecycle() {
    let bad = violations("crates/server/src/http", |_, line| {
        [
            "crate::app",
            "crate::runner",
            "crate::main",
            "crate::api",
            "crate::whois",
        ]
        .iter()
        .any(|f| line.contains(f))
    });
    assert!(bad.is_empty(), "http/ reaches into the lifecycle: {bad:#?}");
}

#[test]
fn the_bulk_pipeline_never_imports_the_cli() {
    let text = std::fs::read_to_string(root().join("crates/server/src/bulk/mod.rs")).unwrap();
    let bad: Vec<&str> = code_lines(&text)
        .filter(|l| l.contains("crate::cli") || l.contains("command::") || l.contains("clap"))
        .collect();
    assert!(bad.is_empty(), "bulk/mod.rs imports the CLI: {bad:#?}");
}

#[test]
fn the_engine_knows_no_http_no_wire_format_and_no_sqlx_outside_its_backend() {
    let manifest = std::fs::read_to_string(root().join("crates/core/Cargo.toml")).unwrap();
    for crate_name in ["axum", "hyper", "tower", "http-body", "quick-xml"] {
        assert!(
            !manifest
                .lines()
                .any(|l| l.trim_start().starts_with(crate_name)),
            "ipintel-core depends on {crate_name}"
        );
    }
    let serialize = violations("crates/core/src", |_, line| {
        line.contains("derive(") && line.contains("Serialize") && !line.contains("Deserialize")
            || line.contains(" Serialize,")
            || line.contains("(Serialize")
    });
    assert!(
        serialize.is_empty(),
        "engine types are not Serialize: {serialize:#?}"
    );
    // The backends, and the one mapping of sqlx's errors they share.
    let sqlx = violations("crates/core/src", |file, line| {
        !file.contains("/store/sqlite/")
            && !file.contains("/store/postgres/")
            && !file.ends_with("/store/sql_error.rs")
            && line.contains("sqlx")
    });
    assert!(
        sqlx.is_empty(),
        "sqlx outside the store's backends: {sqlx:#?}"
    );
}

#[test]
fn status_codes_come_from_one_place() {
    let bad = violations("crates/server/src/api", |_, line| {
        line.contains("StatusCode::")
            && [
                "BAD_REQUEST",
                "NOT_FOUND",
                "UNAUTHORIZED",
                "PAYMENT_REQUIRED",
                "SERVICE_UNAVAILABLE",
                "INTERNAL_SERVER_ERROR",
                "UNPROCESSABLE_ENTITY",
                "FORBIDDEN",
            ]
            .iter()
            .any(|s| line.contains(s))
    });
    assert!(
        bad.is_empty(),
        "an error status chosen outside http::error: {bad:#?}"
    );
}

/// A crate's module import graph, from the source: each file belongs to the module named
/// by its first `depth` path parts (`api/` counts one deeper: each dialect is a module),
/// and imports every module it names through `crate::` or `super::` outside its tests.
fn import_graph(
    src: &str,
    depth: usize,
) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let base = root().join(src);
    let mut files = Vec::new();
    rust_files(&base, &mut files);
    let mut modules: std::collections::BTreeSet<String> = Default::default();
    let module_of = |parts: &[String]| -> String {
        let depth = if parts.first().map(String::as_str) == Some("api") {
            depth + 1
        } else {
            depth
        };
        parts[..parts.len().min(depth)].join("/")
    };
    let mut per_file = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&base).unwrap().with_extension("");
        let mut parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if parts.last().map(String::as_str) == Some("mod") {
            parts.pop();
        }
        if matches!(parts.as_slice(), [one] if one == "lib" || one == "main") {
            continue;
        }
        modules.insert(module_of(&parts));
        per_file.push((parts, std::fs::read_to_string(file).unwrap()));
    }
    let mut graph: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    for (parts, text) in per_file {
        let me = module_of(&parts);
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let here: Vec<String> = if text.is_empty() {
            vec![]
        } else {
            parts[..parts.len() - 1].to_vec()
        };
        for line in code_lines(code) {
            let mut rest = line;
            while let Some(at) = rest.find("crate::").or_else(|| rest.find("super::")) {
                let is_crate = rest[at..].starts_with("crate::");
                // `crate::` and `super::` are both seven bytes.
                let tail = &rest[at + 7..];
                let path: Vec<String> = tail
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                    .next()
                    .unwrap_or("")
                    .split("::")
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect();
                let mut target: Vec<String> = if is_crate { vec![] } else { here.clone() };
                target.extend(path);
                // The longest prefix that is a module.
                let mut found = None;
                for n in (1..=target.len()).rev() {
                    let name = module_of(&target[..n]);
                    if modules.contains(&name) {
                        found = Some(name);
                        break;
                    }
                }
                if let Some(target) = found {
                    if target != me {
                        graph.entry(me.clone()).or_default().insert(target);
                    }
                }
                rest = &rest[at + 7..];
            }
        }
        graph.entry(me).or_default();
    }
    graph
}

/// A cycle in `graph`, if there is one, as the modules around it.
fn find_cycle(
    graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        state: &mut std::collections::BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(2) => return None,
            Some(1) => {
                let at = stack.iter().position(|n| n == node).unwrap();
                let mut cycle = stack[at..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(node.to_owned(), 1);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, state, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = Default::default();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut state, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn the_import_graphs_have_no_cycle_and_keep_the_layers() {
    let core = import_graph("crates/core/src", 2);
    assert!(core.len() > 15, "{core:?}");
    assert_eq!(find_cycle(&core), None, "an import circle in ipintel-core");
    let server = import_graph("crates/server/src", 1);
    assert!(
        server.contains_key("app") && server.contains_key("api/ripe"),
        "{server:?}"
    );
    assert_eq!(
        find_cycle(&server),
        None,
        "an import circle in the server crate"
    );

    let leaves = ["limits", "render", "net", "metrics", "config"];
    let front_end = |m: &str| m.starts_with("api") || m == "whois" || m == "console";
    let mut broken = Vec::new();
    for (module, imports) in &server {
        for target in imports {
            let rule = if leaves.contains(&module.as_str()) && !leaves.contains(&target.as_str()) {
                Some("a leaf imports only leaves")
            } else if matches!(module.as_str(), "state" | "listen")
                && !leaves.contains(&target.as_str())
            {
                Some("state and listen import only leaves")
            } else if matches!(module.as_str(), "http" | "bulk" | "runner" | "mirror")
                && front_end(target)
            {
                Some("http, bulk, runner and mirror import no front end")
            } else if target.starts_with("api") && module != "app" && !module.starts_with("api") {
                Some("only app/ names api::")
            } else if module.starts_with("api/") && target.starts_with("api") {
                Some("dialects never import each other")
            } else if module == "console" && front_end(target) {
                Some("the console imports no other front end")
            } else if target == "console" && module != "app" {
                Some("only app/ names console::")
            } else if target == "cli" {
                Some("only main.rs imports cli::")
            } else if target == "app" && module != "cli" {
                Some("only cli/ and main.rs import app/")
            } else {
                None
            };
            if let Some(rule) = rule {
                broken.push(format!("{module} -> {target}: {rule}"));
            }
        }
    }
    assert!(broken.is_empty(), "imports against the layers: {broken:#?}");
}

#[test]
fn the_codemap_names_every_top_level_file_and_folder() {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut missing = Vec::new();
    for src in ["crates/core/src", "crates/server/src"] {
        for entry in std::fs::read_dir(root().join(src)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let dir = root().join(src).join(&name).is_dir();
            let heading = format!("### `{src}/{name}{}`", if dir { "/" } else { "" });
            if !text.contains(&heading) {
                missing.push(heading);
            }
        }
    }
    assert!(missing.is_empty(), "the codemap lacks: {missing:#?}");
}

#[test]
fn source_comments_point_only_inside_the_repository() {
    let mut bad = Vec::new();
    for dir in ["crates/core", "crates/server"] {
        for (file, text) in sources(dir) {
            for line in text
                .lines()
                .map(str::trim_start)
                .filter(|l| l.starts_with("//"))
            {
                if ["../shared", "shared/spec", "seed 00", "spec section"]
                    .iter()
                    .any(|p| line.contains(p))
                {
                    bad.push(format!("{file}: {line}"));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "comments that point outside the repository: {bad:#?}"
    );
}

/// ARCHITECTURE.md: the whois front end never touches the store; history and the NRTM
/// journal go through `RegistryService`.
#[test]
fn whois_never_touches_the_store() {
    let bad = violations("crates/server/src/whois", |_, line| {
        line.contains(".store()")
            || line.contains("registry_journal")
            || line.contains("registry_history")
    });
    assert!(bad.is_empty(), "whois/ reaches the store: {bad:#?}");
}

/// ARCHITECTURE.md names every `unsafe` block; a new one is a decision, not an accident.
#[test]
fn unsafe_code_is_only_where_the_architecture_says() {
    let words = ["unsafe {", "unsafe fn", "unsafe impl"];
    let mut found = violations("crates", |file, line| {
        !file.ends_with("tidy.rs") && words.iter().any(|w| line.contains(w))
    });
    found.sort();
    let files: Vec<&str> = found.iter().map(|f| f.split(':').next().unwrap()).collect();
    assert_eq!(
        files,
        [
            "crates/core/src/lib.rs",
            "crates/core/src/registry/compact.rs"
        ],
        "{found:#?}"
    );
    let architecture = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    assert!(architecture.contains("two `unsafe` blocks"));
}
