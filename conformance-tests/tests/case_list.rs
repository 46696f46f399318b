//! Every case function in `src/cases/` is in its module's `__uno_cases_<module>!` list, once.
//!
//! A case left out of its list compiles and never runs, on any backend; this test reads the case
//! files and compares their `pub async fn name(env: Env)` functions with [`case_names`], the list
//! every backend runs.
//!
//! [`case_names`]: conformance_tests::case_names

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The case files, `src/cases/**/*.rs`, in a stable order.
fn case_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(case_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The module a case file defines, as `cases/mod.rs` names it: `lock.rs` is `lock`,
/// `misbehaving/cache.rs` is `misbehaving_cache`.
fn module_of(cases: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(cases).unwrap().with_extension("");
    let parts: Vec<_> = relative
        .components()
        .map(|part| part.as_os_str().to_str().unwrap())
        .collect();
    parts.join("_")
}

/// Every `pub async fn` of `source` outside comments, as `(name, parameters)` with the parameter
/// list's whitespace and trailing comma removed (so a signature rustfmt wrapped reads the same).
fn public_async_fns(source: &str) -> Vec<(String, String)> {
    const MARK: &str = "pub async fn ";
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(MARK) {
        let line_start = rest[..at].rfind('\n').map_or(0, |i| i + 1);
        let in_comment = rest[line_start..at].trim_start().starts_with("//");
        let after = &rest[at + MARK.len()..];
        rest = after;
        if in_comment {
            continue;
        }
        let name_len = after
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        let Some(params) = after[name_len..]
            .trim_start()
            .strip_prefix('(')
            .and_then(|params| params.split_once(')'))
            .map(|(params, _)| params)
        else {
            panic!("`pub async fn {name}`: no parameter list found");
        };
        let params: String = params.split_whitespace().collect::<Vec<_>>().join(" ");
        found.push((
            name.to_owned(),
            params.trim_end_matches(',').trim().to_owned(),
        ));
    }
    found
}

/// Whether `params` is a case's parameter list.
fn is_case_signature(params: &str) -> bool {
    matches!(params, "env: Env" | "_env: Env")
}

#[test]
fn every_case_function_is_listed_exactly_once() {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cases");
    let mut defined = Vec::new();
    for file in case_files(&cases) {
        let source = fs::read_to_string(&file).unwrap();
        let module = module_of(&cases, &file);
        for (name, params) in public_async_fns(&source) {
            assert!(
                is_case_signature(&params),
                "{}: `pub async fn {name}({params})` is not a case (`pub async fn {name}(env: \
                 Env)`); a helper should not be `pub`",
                file.display()
            );
            defined.push(format!("{module}::{name}"));
        }
    }

    let mut listed = BTreeMap::<&str, usize>::new();
    for name in conformance_tests::case_names() {
        *listed.entry(name).or_default() += 1;
    }
    let twice: Vec<_> = listed.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "listed more than once (name, times): {twice:?}"
    );
    let missing: Vec<_> = defined
        .iter()
        .filter(|name| !listed.contains_key(name.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "case functions missing from their module's `__uno_cases_<module>!` list (or the module's \
         list from the tiers in cases/mod.rs), so no backend runs them: {missing:?}"
    );
    // The other way round, a check on this scan: a listed case it did not find means it misread a
    // file (every listed name is a function, or the suite would not compile).
    let unseen: Vec<_> = listed
        .keys()
        .filter(|name| !defined.iter().any(|d| d == *name))
        .collect();
    assert!(
        unseen.is_empty(),
        "listed cases this scan did not find in src/cases: {unseen:?}"
    );
}

#[test]
fn the_scan_reads_every_signature_form() {
    let source = "\
//! A module doc naming `pub async fn example(env: Env)`.
/// Doc: `pub async fn in_a_doc(env: Env)`.
pub async fn plain(env: Env) {}
pub async fn unused(_env: Env) {}
    // pub async fn commented_out(env: Env) {}
pub async fn wrapped_by_rustfmt(
    env: Env,
) {
}
pub(crate) async fn crate_helper(rt: &Runtime) {}
pub async fn public_helper(rt: &Runtime, n: u32) {}
";
    let found = public_async_fns(source);
    let names: Vec<_> = found.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["plain", "unused", "wrapped_by_rustfmt", "public_helper"]
    );
    let cases: Vec<_> = found
        .iter()
        .filter(|(_, params)| is_case_signature(params))
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(cases, ["plain", "unused", "wrapped_by_rustfmt"]);
    assert_eq!(
        module_of(Path::new("/c"), Path::new("/c/misbehaving/cache.rs")),
        "misbehaving_cache"
    );
}
