//! The layering guard: every module of `src/` sits in one layer of `etcd_drill::LAYERS` (kept
//! beside the map in `src/lib.rs`), and an import never reaches a layer above its own. Inside
//! one layer, modules may use each other only without a cycle. Read from the `crate::…` paths
//! of the source, tests inside the files included.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level module of every `.rs` file under `src/`, with the modules its code names.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    let src = stack[0].clone();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&src).expect("under src");
            let first = rel.components().next().expect("a component");
            let module = first
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            let used = out.entry(module.clone()).or_default();
            for line in text.lines() {
                let code = line.split("//").next().unwrap_or("");
                for (at, _) in code.match_indices("crate::") {
                    let name: String = code[at + 7..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() && name != module {
                        used.insert(name);
                    }
                }
            }
        }
    }
    out
}

fn layer_of() -> BTreeMap<&'static str, usize> {
    let mut at = BTreeMap::new();
    for (i, layer) in etcd_drill::LAYERS.iter().enumerate() {
        for m in layer.iter() {
            assert!(at.insert(*m, i).is_none(), "{m} is listed twice in LAYERS");
        }
    }
    at
}

#[test]
fn every_module_sits_in_exactly_one_layer() {
    let at = layer_of();
    let modules: BTreeSet<String> = imports().into_keys().collect();
    let listed: BTreeSet<String> = at.keys().map(|m| m.to_string()).collect();
    assert_eq!(
        modules, listed,
        "the modules under src/ and the modules in LAYERS (src/lib.rs) differ"
    );
}

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Every import from a module to one in a higher layer, or in none.
fn climbs(graph: &Graph, at: &BTreeMap<&str, usize>) -> Vec<String> {
    let mut wrong = Vec::new();
    for (module, used) in graph {
        let Some(&own) = at.get(module.as_str()) else {
            continue;
        };
        for u in used {
            match at.get(u.as_str()) {
                Some(&theirs) if theirs > own => wrong.push(format!(
                    "{module} (layer {own}) imports {u} (layer {theirs})"
                )),
                Some(_) => {}
                None => wrong.push(format!("{module} imports {u}, which is in no layer")),
            }
        }
    }
    wrong
}

/// A cycle of imports, if there is one (depth-first; a module reached again while it is still
/// on the path closes a cycle).
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        graph: &Graph,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(from) = path.iter().position(|p| p == m) {
            let mut c = path[from..].to_vec();
            c.push(m.to_string());
            return Some(c);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for u in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(u, graph, done, path) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|m| visit(m, graph, &mut done, &mut Vec::new()))
}

#[test]
fn no_import_reaches_a_layer_above() {
    let wrong = climbs(&imports(), &layer_of());
    assert!(
        wrong.is_empty(),
        "imports that climb:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn modules_form_no_cycle() {
    if let Some(c) = cycle(&imports()) {
        panic!("import cycle: {}", c.join(" → "));
    }
    let order: Vec<String> = etcd_drill::LAYERS.iter().map(|l| l.join(" · ")).collect();
    println!("layers, bottom up:\n{}", order.join("\n"));
}

fn graph(edges: &[(&str, &str)]) -> Graph {
    let mut g = Graph::new();
    for (a, b) in edges {
        g.entry(a.to_string()).or_default().insert(b.to_string());
        g.entry(b.to_string()).or_default();
    }
    g
}

/// The guard must catch what it guards against: fed an upward import, a module in no layer and
/// a cycle, it names each.
#[test]
fn the_guard_names_a_climbing_import_and_a_cycle() {
    let at: BTreeMap<&str, usize> = [("record", 1), ("report", 5), ("steps", 4)].into();
    let g = graph(&[
        ("report", "record"),
        ("record", "report"),
        ("steps", "ghost"),
    ]);
    let wrong = climbs(&g, &at);
    assert_eq!(
        wrong,
        vec![
            "record (layer 1) imports report (layer 5)".to_string(),
            "steps imports ghost, which is in no layer".to_string(),
        ]
    );
    assert_eq!(
        cycle(&g),
        Some(vec!["record".into(), "report".into(), "record".into()])
    );
    let fine = graph(&[("report", "record"), ("steps", "record")]);
    assert!(climbs(&fine, &at).is_empty());
    assert_eq!(cycle(&fine), None);
}

/// The files outside `src/sandbox/` that name bollard (a use, a path, a type).
fn bollard_outside_sandbox(files: &[(String, String)]) -> Vec<String> {
    files
        .iter()
        .filter(|(path, _)| !path.starts_with("sandbox/"))
        .filter(|(_, text)| {
            text.lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .any(|code| code.contains("bollard::") || code.contains("bollard ::"))
        })
        .map(|(path, _)| path.clone())
        .collect()
}

fn sources() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(&src).expect("under src");
                let text = std::fs::read_to_string(&path).expect("read source");
                out.push((rel.to_string_lossy().into_owned(), text));
            }
        }
    }
    out
}

/// The Docker client library stays behind the sandbox seam (as testcontainers keeps bollard
/// private to one client): nothing else can grow a dependency on its types.
#[test]
fn bollard_stays_inside_the_sandbox() {
    let leaks = bollard_outside_sandbox(&sources());
    assert!(
        leaks.is_empty(),
        "bollard named outside src/sandbox/: {leaks:?}"
    );
    let fed = [
        (
            "sandbox/docker.rs".to_string(),
            "use bollard::Docker;".to_string(),
        ),
        (
            "image/build.rs".to_string(),
            "let d: bollard::Docker;".to_string(),
        ),
        (
            "image/mod.rs".to_string(),
            "// bollard::Docker is private".to_string(),
        ),
    ];
    assert_eq!(bollard_outside_sandbox(&fed), ["image/build.rs"]);
}

/// The files of one folder as a graph: a file (`dir/name`, a folder's `mod.rs` as `dir`) to
/// the sibling files its code names, through `super::name` (also inside `super::{…}`) or
/// `crate::a::name`.
fn file_graph(files: &[(String, String)]) -> Graph {
    let node = |path: &str| {
        let p = path.trim_end_matches(".rs");
        p.strip_suffix("/mod").unwrap_or(p).to_string()
    };
    let nodes: BTreeSet<String> = files.iter().map(|(p, _)| node(p)).collect();
    let mut graph = Graph::new();
    for (path, text) in files {
        let me = node(path);
        let parent = me.rsplit_once('/').map_or("", |(d, _)| d).to_string();
        let sibling = |name: &str| {
            let n = if parent.is_empty() {
                name.to_string()
            } else {
                format!("{parent}/{name}")
            };
            (n != me && nodes.contains(&n)).then_some(n)
        };
        let ident = |s: &str| -> String {
            s.trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        };
        let used = graph.entry(me.clone()).or_default();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            for (at, _) in code.match_indices("super::") {
                let rest = &code[at + 7..];
                let names: Vec<String> = match rest.strip_prefix('{') {
                    Some(group) => group
                        .split('}')
                        .next()
                        .unwrap_or("")
                        .split(',')
                        .map(ident)
                        .collect(),
                    None => vec![ident(rest)],
                };
                used.extend(names.iter().filter_map(|n| sibling(n)));
            }
            for (at, _) in code.match_indices("crate::") {
                let path: String = code[at + 7..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
                // `crate::a::b::Name`: the longest prefix that is a file.
                for k in (1..=parts.len()).rev() {
                    let n = parts[..k].join("/");
                    if nodes.contains(&n) {
                        if n != me && n.rsplit_once('/').map_or("", |(d, _)| d) == parent {
                            used.insert(n);
                        }
                        break;
                    }
                }
            }
        }
    }
    graph
}

/// No two files of one folder import each other, however far round: a file's neighbours are
/// below it or beside it, never both.
#[test]
fn no_files_of_one_folder_import_each_other() {
    let graph = file_graph(&sources());
    assert_eq!(cycle(&graph), None, "files importing each other");
    // It reads real edges: `stop` signals through `kill`.
    assert!(graph["faults/stop"].contains("faults/kill"), "{graph:?}");
    // The guard sees a cycle through `super::`, grouped or not.
    let fed = [
        (
            "image/binaries.rs".to_string(),
            "use super::pypi::from_pypi;".to_string(),
        ),
        (
            "image/pypi.rs".to_string(),
            "use super::{binaries::Binaries, x};".to_string(),
        ),
        (
            "image/mod.rs".to_string(),
            "mod binaries; mod pypi;".to_string(),
        ),
    ];
    assert!(cycle(&file_graph(&fed)).is_some());
    let fine = [
        (
            "image/binaries.rs".to_string(),
            "use super::pypi::from_pypi;".to_string(),
        ),
        (
            "image/pypi.rs".to_string(),
            "use super::origin::Binaries;".to_string(),
        ),
        ("image/origin.rs".to_string(), String::new()),
    ];
    assert_eq!(cycle(&file_graph(&fine)), None);
}
