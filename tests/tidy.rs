//! Tidy checks on the source tree (rust-analyzer's `xtask/src/tidy.rs` idea): the layering the
//! architecture promises, enforced rather than hoped for. Plain `cargo test`, no lab.
//!
//! - no import cycle between the top-level modules of `src/` (non-test code);
//! - only `web/` (and the `lib.rs`/`main.rs` roots) import axum or name `crate::web`;
//! - every Rust file opens with a `//!` doc;
//! - no audit action, audit outcome or token state is written as a string literal outside
//!   the vocabulary (`src/db/vocab.rs`): code names them by their enums.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `text` with comments blanked and each string literal replaced by a numbered stand-in,
/// `"LIT<n>"` (a scanner, not a parser: enough for this tree, which has no raw strings holding
/// `//` or quotes that matter here). The literals are returned separately, `n` indexing them.
fn code_and_literals(text: &str) -> (String, Vec<String>) {
    let (mut code, mut literals) = (String::with_capacity(text.len()), Vec::new());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        code.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut prev = ' ';
                for c in chars.by_ref() {
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
            }
            '\'' => {
                // A char literal ('"', '\'') or a lifetime: copy through a short char literal.
                code.push(c);
                let ahead: String = chars.clone().take(3).collect();
                let len = if ahead.starts_with('\\') {
                    ahead.find('\'').map(|i| i + 1)
                } else if ahead.chars().nth(1) == Some('\'') {
                    Some(2)
                } else {
                    None
                };
                if let Some(len) = len {
                    for _ in 0..len {
                        chars.next();
                    }
                    code.push_str("x'");
                }
            }
            '"' => {
                let mut lit = String::new();
                let mut escaped = false;
                for c in chars.by_ref() {
                    match (escaped, c) {
                        (false, '\\') => escaped = true,
                        (false, '"') => break,
                        _ => {
                            escaped = false;
                            lit.push(c);
                        }
                    }
                }
                code.push_str(&format!("\"LIT{}\"", literals.len()));
                literals.push(lit);
            }
            _ => code.push(c),
        }
    }
    (code, literals)
}

/// `code` without its `#[cfg(test)]` items (a `mod tests { … }` block), and the names of
/// modules declared `#[cfg(test)] mod name;` (test-only files).
fn without_tests(code: &str) -> (String, Vec<String>) {
    let (mut out, mut test_files) = (String::new(), Vec::new());
    let mut rest = code;
    while let Some(i) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        // The item: up to its `;` or its balanced `{ … }`, whichever comes first.
        let (semi, brace) = (after.find(';'), after.find('{'));
        match (semi, brace) {
            (Some(s), b) if b.is_none_or(|b| s < b) => {
                let item = &after[..s];
                if let Some(name) = item.split_whitespace().skip_while(|w| *w != "mod").nth(1) {
                    test_files.push(name.to_string());
                }
                rest = &after[s + 1..];
            }
            (_, Some(b)) => {
                let mut depth = 0;
                let mut end = after.len();
                for (j, c) in after[b..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = b + j + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                rest = &after[end..];
            }
            _ => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    (out, test_files)
}

/// A source file of `src/`: its top-level module, its non-test code and its literals.
struct Source {
    path: PathBuf,
    top: String,
    code: String,
    literals: Vec<String>,
}

fn sources() -> Vec<Source> {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut parsed = Vec::new();
    let mut test_only: BTreeSet<PathBuf> = BTreeSet::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let (code, _) = code_and_literals(&text);
        let (_, test_mods) = without_tests(&code);
        let dir = if path
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs")
        {
            path.parent().unwrap().to_path_buf()
        } else {
            path.with_extension("")
        };
        for m in test_mods {
            test_only.insert(dir.join(format!("{m}.rs")));
            test_only.insert(dir.join(&m));
        }
        parsed.push((path.clone(), text));
    }
    parsed
        .into_iter()
        .filter(|(p, _)| !test_only.iter().any(|t| p.starts_with(t)))
        .map(|(path, text)| {
            let rel = path.strip_prefix(&src).unwrap();
            let first = rel.components().next().unwrap().as_os_str();
            let top = first.to_string_lossy().trim_end_matches(".rs").to_string();
            let (code, all) = code_and_literals(&text);
            let (code, _) = without_tests(&code);
            // The literals whose stand-ins are left in the non-test code.
            let literals = code
                .match_indices("\"LIT")
                .filter_map(|(i, _)| {
                    let digits: String = code[i + 4..]
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    all.get(digits.parse::<usize>().ok()?).cloned()
                })
                .collect();
            Source {
                path,
                top,
                code,
                literals,
            }
        })
        .collect()
}

/// The top-level module graph of `src/` (non-test code), roots excluded.
fn module_graph(sources: &[Source]) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in sources {
        if s.top == "lib" || s.top == "main" {
            continue;
        }
        let deps = graph.entry(s.top.clone()).or_default();
        for (i, _) in s.code.match_indices("crate::") {
            let name: String = s.code[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != s.top {
                deps.insert(name);
            }
        }
    }
    graph
}

/// A cycle in `graph`, as the path that closes it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_top_level_modules_of_src_form_no_cycle() {
    let graph = module_graph(&sources());
    assert!(graph.len() > 15, "found only {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {}", cycle.join(" → "));
    }
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "c", "a"]);
    g.get_mut("c").unwrap().clear();
    assert_eq!(find_cycle(&g), None);
}

#[test]
fn only_the_web_edge_imports_axum_or_names_the_web_layer() {
    let mut offenders = Vec::new();
    for s in sources() {
        if matches!(s.top.as_str(), "web" | "lib" | "main") {
            continue;
        }
        for forbidden in ["axum", "crate::web", "crate::state", "AppState"] {
            let hit = s.code.match_indices(forbidden).any(|(i, _)| {
                let before = s.code[..i].chars().next_back();
                let after = s.code[i + forbidden.len()..].chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            });
            if hit {
                offenders.push(format!("{}: {forbidden}", s.path.display()));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[test]
fn every_rust_file_opens_with_a_module_doc() {
    let mut files = Vec::new();
    for dir in ["src", "crates", "tests", "bench"] {
        rust_files(&root().join(dir), &mut files);
    }
    assert!(files.len() > 100, "found only {}", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|p| !p.components().any(|c| c.as_os_str() == "target"))
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            !text.trim_start().starts_with("//!")
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(missing.is_empty(), "no //! doc: {missing:#?}");
}

/// The stored vocabularies' texts: audit actions and outcomes, token states.
fn vocabulary() -> BTreeSet<&'static str> {
    use trustdesk::audit::{Action, Outcome};
    use trustdesk::db::TokenState;
    Action::ALL
        .iter()
        .map(|a| a.as_str())
        .chain(Outcome::ALL.iter().map(|o| o.as_str()))
        .chain(TokenState::ALL.iter().map(|t| t.as_str()))
        .collect()
}

/// Literals that are the same text in another vocabulary, each for its own reason.
const OTHER_VOCABULARIES: &[(&str, &str)] = &[
    // The action names a role may be granted, as the configuration spells them.
    ("src/config/mod.rs", "lookup"),
    ("src/config/mod.rs", "diagnose"),
    ("src/config/mod.rs", "mint_token"),
    ("src/config/mod.rs", "revoke_token"),
    ("src/config/mod.rs", "reset_account"),
    ("src/config/mod.rs", "view_audit"),
    ("src/config/mod.rs", "export_audit"),
    ("src/config/mod.rs", "view_policy"),
    ("src/config/mod.rs", "override_diagnosis"),
    // The policy's action names (config keys), which audit actions are named after.
    ("src/policy/mod.rs", "lookup"),
    ("src/policy/mod.rs", "diagnose"),
    ("src/policy/mod.rs", "mint_token"),
    ("src/policy/mod.rs", "revoke_token"),
    ("src/policy/mod.rs", "reset_account"),
    ("src/policy/mod.rs", "view_audit"),
    ("src/policy/mod.rs", "export_audit"),
    ("src/policy/mod.rs", "view_policy"),
    ("src/policy/mod.rs", "override_diagnosis"),
    // An API key's state (`KeyState::as_str`).
    ("src/auth/api_keys.rs", "expired"),
    ("src/auth/api_keys.rs", "revoked"),
    // A logout token's refusal reason.
    ("src/auth/oidc/logout_token.rs", "expired"),
    // A redeem refusal's code (`RedeemCode`), listed in the OpenAPI document under its status.
    ("src/web/redeem_api.rs", "revoked"),
];

#[test]
fn vocabulary_texts_appear_only_in_their_enums() {
    let vocab = vocabulary();
    assert!(vocab.contains("redeem_token") && vocab.contains("pending"));
    let root = root();
    let mut offenders = Vec::new();
    for s in sources() {
        let rel = s.path.strip_prefix(&root).unwrap().display().to_string();
        if rel == "src/db/vocab.rs" {
            continue;
        }
        for lit in &s.literals {
            let allowed = OTHER_VOCABULARIES
                .iter()
                .any(|(file, text)| *file == rel && text == lit);
            if vocab.contains(lit.as_str()) && !allowed {
                offenders.push(format!("{rel}: \"{lit}\""));
            }
        }
    }
    assert!(offenders.is_empty(), "use the enum: {offenders:#?}");
}

#[test]
fn the_scanner_blanks_comments_and_collects_literals() {
    let (code, lits) = code_and_literals(
        "let a = \"x // y\"; // crate::web\nlet c = '\"'; /* crate::state */ let b = \"q\\\"r\";",
    );
    assert_eq!(lits, ["x // y", "q\"r"]);
    assert!(
        code.contains("\"LIT0\"") && code.contains("\"LIT1\""),
        "{code}"
    );
    assert!(
        !code.contains("crate::web") && !code.contains("crate::state"),
        "{code}"
    );
    let (kept, test_mods) = without_tests(
        "use crate::a;\n#[cfg(test)]\nmod tests {\n use crate::b; { }\n}\nfn f() {}\n#[cfg(test)]\nmod render;",
    );
    assert!(kept.contains("crate::a") && !kept.contains("crate::b") && kept.contains("fn f"));
    assert_eq!(test_mods, ["render"]);
}
