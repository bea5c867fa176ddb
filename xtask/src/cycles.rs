//! `cargo xtask cycles`: no circles of imports among the files of a crate.
//!
//! For every crate of the workspace, each module tree (`src/lib.rs`,
//! `src/main.rs`, `src/bin/*.rs`, and the files their `mod` declarations
//! reach) becomes a graph: file A → file B when A names a path into B
//! (`use crate::…`, `use super::…`, `use self::…`, or such a path inline).
//! A path is followed through modules, and through `pub use` re-exports,
//! to the file that defines what it names. The tree's root file is left
//! out: it declares every module, and its re-exports are followed instead.
//! Any strongly connected set of two or more files is a circle, reported
//! with the lines that make it; the task fails on one that is not in
//! [`KNOWN`].
//!
//! The scanner is lexical (comments, strings and character literals
//! blanked out, braces counted for inline modules), which is enough for
//! paths: no macro expansion, no `#[path]`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Circles there were when this check came, not yet untangled (the files
/// of each, relative to the repository): a circle within one of these
/// sets passes, one that reaches a file outside fails. Shrink them; never
/// grow them.
const KNOWN: &[&[&str]] = &[
    // None left: bridge-net's planning hub was the last (issue 19 item
    // 2); the plan's inputs went to inputs.rs, below plan and host, and
    // the macvlan endpoint's kernel steps to macvlan_link.rs, above plan.
];

/// Run the check over the workspace at `root`.
pub fn run() -> Result<(), String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let circles = workspace_circles(&root)?;
    let mut new = 0;
    for c in &circles {
        let known = KNOWN
            .iter()
            .any(|k| c.files.iter().all(|f| k.contains(&f.as_str())));
        eprintln!(
            "{} circle: {}",
            if known { "known" } else { "NEW" },
            c.files.join(" ↔ ")
        );
        for e in &c.edges {
            eprintln!("    {e}");
        }
        new += usize::from(!known);
    }
    if new > 0 {
        return Err(format!(
            "{new} new circle(s) of imports: put what both sides need in a module below them"
        ));
    }
    eprintln!(
        "==> cycles: no new circle ({} known left)",
        circles.len() - new
    );
    Ok(())
}

/// One circle: its files (sorted, relative to the workspace) and the
/// imports that make it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Circle {
    pub files: Vec<String>,
    pub edges: Vec<String>,
}

fn workspace_circles(root: &Path) -> Result<Vec<Circle>, String> {
    let mut members = vec![root.join("xtask"), root.join("benches"), root.join("tests")];
    let mut crates: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .map_err(|e| format!("read crates/: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    crates.sort();
    members.extend(crates);
    let mut out = Vec::new();
    for m in members {
        let src = m.join("src");
        let mut roots = vec![src.join("lib.rs"), src.join("main.rs")];
        if let Ok(bins) = std::fs::read_dir(src.join("bin")) {
            let mut bins: Vec<PathBuf> = bins.filter_map(|e| e.ok().map(|e| e.path())).collect();
            bins.sort();
            roots.extend(
                bins.into_iter()
                    .filter(|p| p.extension().is_some_and(|e| e == "rs")),
            );
        }
        for r in roots.into_iter().filter(|r| r.is_file()) {
            let tree = Tree::load(&r)?;
            for c in tree.circles() {
                out.push(Circle {
                    files: c.files.iter().map(|f| rel(root, f)).collect(),
                    edges: c.edges,
                });
            }
        }
    }
    Ok(out)
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// Blank out comments, strings and character literals (keeping newlines,
/// so line numbers hold).
fn strip(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if (c == 'r' || c == 'b')
            && !b
                .get(i.wrapping_sub(1))
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
            && raw_string_start(&b, i).is_some()
        {
            let (hashes, body) = raw_string_start(&b, i).unwrap_or((0, i));
            for _ in i..body {
                out.push(' ');
            }
            i = body;
            // Until `"` followed by `hashes` `#`s.
            while i < b.len() {
                if b[i] == '"' && (1..=hashes).all(|k| b.get(i + k) == Some(&'#')) {
                    for _ in 0..=hashes {
                        out.push(' ');
                    }
                    i += hashes + 1;
                    break;
                }
                out.push(blank(b[i]));
                i += 1;
            }
        } else if c == '"' || (c == 'b' && next == Some('"')) {
            if c == 'b' {
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A character literal, or a lifetime / label.
            let end = if next == Some('\\') {
                (i + 2..b.len()).find(|k| b[*k] == '\'')
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    for _ in i..=e {
                        out.push(' ');
                    }
                    i = e + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// At a raw string (`r"`, `r#"`, `br"`, …): its `#` count and where its
/// body starts.
fn raw_string_start(b: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if b[j] == 'b' {
        j += 1;
    }
    if b.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while b.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (b.get(j) == Some(&'"')).then_some((hashes, j + 1))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Path,
    Open,
    Close,
    Comma,
    Semi,
    Star,
    Other,
}

/// Tokens with their line numbers.
fn tokens(src: &str) -> Vec<(Tok, usize)> {
    let mut out = Vec::new();
    let mut line = 1;
    let b: Vec<char> = src.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            let mut s: String = b[start..i].iter().collect();
            if let Some(raw) = s.strip_prefix("r#") {
                s = raw.to_owned();
            }
            out.push((Tok::Ident(s), line));
        } else if c == ':' && b.get(i + 1) == Some(&':') {
            out.push((Tok::Path, line));
            i += 2;
        } else {
            out.push((
                match c {
                    '{' => Tok::Open,
                    '}' => Tok::Close,
                    ',' => Tok::Comma,
                    ';' => Tok::Semi,
                    '*' => Tok::Star,
                    _ => Tok::Other,
                },
                line,
            ));
            i += 1;
        }
    }
    out
}

/// A path a file names, with where.
#[derive(Debug, Clone)]
struct Named {
    /// Inline modules it sits in, below the file's module.
    inline: Vec<String>,
    segs: Vec<String>,
    line: usize,
    /// Part of a `pub use` (a re-export).
    reexport: Option<String>,
}

/// Parse a use tree at `toks[*i..]` (after `use`), pushing full paths.
fn use_tree(
    toks: &[(Tok, usize)],
    i: &mut usize,
    prefix: &[String],
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let mut path = prefix.to_vec();
    loop {
        match toks.get(*i).map(|t| &t.0) {
            Some(Tok::Ident(s)) if s == "as" => {
                *i += 1;
                let alias = match toks.get(*i).map(|t| &t.0) {
                    Some(Tok::Ident(a)) => a.clone(),
                    _ => String::new(),
                };
                *i += 1;
                out.push((path.clone(), Some(alias)));
                return;
            }
            Some(Tok::Ident(s)) => {
                path.push(s.clone());
                *i += 1;
            }
            Some(Tok::Path) => *i += 1,
            Some(Tok::Star) => {
                *i += 1;
                path.push("*".into());
                out.push((path, None));
                return;
            }
            Some(Tok::Open) => {
                *i += 1;
                loop {
                    match toks.get(*i).map(|t| &t.0) {
                        Some(Tok::Close) => {
                            *i += 1;
                            return;
                        }
                        Some(Tok::Comma) => *i += 1,
                        None => return,
                        _ => use_tree(toks, i, &path, out),
                    }
                }
            }
            _ => {
                if !path.is_empty() {
                    let last = path.last().cloned();
                    out.push((path, last.filter(|l| l != "self")));
                }
                return;
            }
        }
    }
}

/// The paths a file names.
fn named(src: &str) -> Vec<Named> {
    let toks = tokens(&strip(src));
    let mut out = Vec::new();
    // Inline modules: (name, brace depth at which it closes).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let ident = |k: usize| match toks.get(k).map(|t| &t.0) {
        Some(Tok::Ident(s)) => Some(s.as_str()),
        _ => None,
    };
    while i < toks.len() {
        match &toks[i].0 {
            Tok::Open => {
                depth += 1;
                i += 1;
            }
            Tok::Close => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                i += 1;
            }
            Tok::Ident(s) if s == "mod" => {
                if let (Some(name), Some(Tok::Open)) = (ident(i + 1), toks.get(i + 2).map(|t| &t.0))
                {
                    inline.push((name.to_owned(), depth));
                    depth += 1;
                    i += 3;
                } else {
                    i += 1;
                }
            }
            Tok::Ident(s) if s == "use" => {
                let line = toks[i].1;
                // `pub use` / `pub(crate) use`: a re-export.
                let mut k = i;
                let public = loop {
                    if k == 0 {
                        break false;
                    }
                    k -= 1;
                    match &toks[k].0 {
                        Tok::Ident(s) if s == "pub" => break true,
                        Tok::Ident(s) if ["crate", "super", "self", "in"].contains(&s.as_str()) => {
                        }
                        Tok::Other => {}
                        _ => break false,
                    }
                };
                i += 1;
                let mut paths = Vec::new();
                use_tree(&toks, &mut i, &[], &mut paths);
                for (segs, alias) in paths {
                    out.push(Named {
                        inline: inline.iter().map(|(n, _)| n.clone()).collect(),
                        segs,
                        line,
                        reexport: if public { alias } else { None },
                    });
                }
            }
            Tok::Ident(s) if s == "crate" || s == "super" || s == "self" => {
                // An inline path: `crate::a::b`, `super::super::x`.
                let line = toks[i].1;
                let mut segs = vec![s.clone()];
                let mut k = i + 1;
                while matches!(toks.get(k).map(|t| &t.0), Some(Tok::Path)) {
                    match ident(k + 1) {
                        Some(n) => segs.push(n.to_owned()),
                        None => break,
                    }
                    k += 2;
                }
                if segs.len() > 1 {
                    out.push(Named {
                        inline: inline.iter().map(|(n, _)| n.clone()).collect(),
                        segs,
                        line,
                        reexport: None,
                    });
                }
                i = k.max(i + 1);
            }
            _ => i += 1,
        }
    }
    out
}

/// `mod name;` declarations (not inline ones).
fn declared_mods(src: &str) -> Vec<String> {
    let toks = tokens(&strip(src));
    let mut out = Vec::new();
    for w in toks.windows(3) {
        if let (Tok::Ident(m), Tok::Ident(name), Tok::Semi) = (&w[0].0, &w[1].0, &w[2].0)
            && m == "mod"
        {
            out.push(name.clone());
        }
    }
    out
}

/// One module tree: its files by module path.
struct Tree {
    root: PathBuf,
    files: BTreeMap<Vec<String>, PathBuf>,
    named: BTreeMap<Vec<String>, Vec<Named>>,
}

/// A circle of one tree, by absolute paths.
struct RawCircle {
    files: Vec<PathBuf>,
    edges: Vec<String>,
}

impl Tree {
    fn load(root: &Path) -> Result<Tree, String> {
        let mut t = Tree {
            root: root.to_owned(),
            files: BTreeMap::new(),
            named: BTreeMap::new(),
        };
        let mut todo = vec![(Vec::new(), root.to_owned())];
        while let Some((module, file)) = todo.pop() {
            let src = std::fs::read_to_string(&file)
                .map_err(|e| format!("read {}: {e}", file.display()))?;
            let dir = match file.file_name().and_then(|n| n.to_str()) {
                Some("mod.rs" | "lib.rs" | "main.rs") => file.parent().map(Path::to_path_buf),
                _ if module.is_empty() => file.parent().map(Path::to_path_buf),
                _ => file.with_extension("").into(),
            }
            .unwrap_or_default();
            for m in declared_mods(&src) {
                let candidates = [dir.join(format!("{m}.rs")), dir.join(&m).join("mod.rs")];
                if let Some(f) = candidates.into_iter().find(|c| c.is_file()) {
                    let mut child = module.clone();
                    child.push(m);
                    todo.push((child, f));
                }
            }
            t.named.insert(module.clone(), named(&src));
            t.files.insert(module, file);
        }
        Ok(t)
    }

    fn is_module(&self, m: &[String]) -> bool {
        self.files.contains_key(m)
    }

    /// The module that defines what `segs` names, seen from module `at`.
    fn resolve(&self, at: &[String], segs: &[String], hops: usize) -> Option<Vec<String>> {
        if hops > 8 {
            return None;
        }
        let mut cur: Vec<String> = at.to_vec();
        let mut rest = segs;
        match rest.first().map(String::as_str) {
            Some("crate") => {
                cur.clear();
                rest = &rest[1..];
            }
            Some("self") => rest = &rest[1..],
            Some("super") => {
                while rest.first().map(String::as_str) == Some("super") {
                    cur.pop()?;
                    rest = &rest[1..];
                }
            }
            _ => {
                // A path relative to `at`'s own names: a child module, or
                // something `at` brought in; else not ours (a crate).
                if !rest.first().is_some_and(|f| {
                    let mut c = cur.clone();
                    c.push(f.clone());
                    self.is_module(&c)
                }) {
                    return None;
                }
            }
        }
        // Innermost module the file tree has; `cur` may include inline
        // modules, which live in their file's module.
        while !self.is_module(&cur) {
            cur.pop()?;
        }
        for (k, seg) in rest.iter().enumerate() {
            if seg == "*" || seg == "self" {
                break;
            }
            let mut child = cur.clone();
            child.push(seg.clone());
            if self.is_module(&child) {
                cur = child;
                continue;
            }
            // A re-export of `seg` in `cur`: follow it.
            let via = self.named.get(&cur).and_then(|ns| {
                ns.iter()
                    .find(|n| n.reexport.as_deref() == Some(seg.as_str()) && n.inline.is_empty())
            });
            if let Some(n) = via
                && let Some(m) = self.resolve(&cur, &n.segs, hops + 1)
            {
                let _ = k;
                return Some(m);
            }
            break;
        }
        Some(cur)
    }

    fn circles(&self) -> Vec<RawCircle> {
        // Edges between files other than the root, with the lines.
        let mut edges: BTreeMap<(Vec<String>, Vec<String>), Vec<usize>> = BTreeMap::new();
        for (module, names) in &self.named {
            if module.is_empty() {
                continue;
            }
            for n in names {
                let mut at = module.clone();
                at.extend(n.inline.iter().cloned());
                if let Some(target) = self.resolve(&at, &n.segs, 0)
                    && !target.is_empty()
                    && &target != module
                {
                    edges
                        .entry((module.clone(), target))
                        .or_default()
                        .push(n.line);
                }
            }
        }
        let nodes: Vec<Vec<String>> = self
            .files
            .keys()
            .filter(|m| !m.is_empty())
            .cloned()
            .collect();
        let index: BTreeMap<&Vec<String>, usize> =
            nodes.iter().enumerate().map(|(i, m)| (m, i)).collect();
        let mut adj = vec![Vec::new(); nodes.len()];
        for (a, b) in edges.keys() {
            if let (Some(x), Some(y)) = (index.get(a), index.get(b)) {
                adj[*x].push(*y);
            }
        }
        let mut out = Vec::new();
        for scc in tarjan(&adj) {
            if scc.len() < 2 {
                continue;
            }
            let set: BTreeSet<usize> = scc.iter().copied().collect();
            let mut files: Vec<PathBuf> =
                set.iter().map(|i| self.files[&nodes[*i]].clone()).collect();
            files.sort();
            let mut lines = Vec::new();
            for ((a, b), ls) in &edges {
                if let (Some(x), Some(y)) = (index.get(a), index.get(b))
                    && set.contains(x)
                    && set.contains(y)
                {
                    lines.push(format!(
                        "{} → {} (line {})",
                        self.short(a),
                        self.short(b),
                        ls.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            out.push(RawCircle {
                files,
                edges: lines,
            });
        }
        out
    }

    fn short(&self, m: &[String]) -> String {
        let dir = self.root.parent().unwrap_or(Path::new(""));
        self.files[m]
            .strip_prefix(dir)
            .unwrap_or(&self.files[m])
            .display()
            .to_string()
    }
}

/// Strongly connected components (Tarjan), iteratively.
fn tarjan(adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = adj.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on = vec![false; n];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    let mut next = 0;
    for start in 0..n {
        if index[start] != usize::MAX {
            continue;
        }
        let mut work = vec![(start, 0usize)];
        while let Some((v, child)) = work.pop() {
            if child == 0 {
                index[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on[v] = true;
            }
            if let Some(&w) = adj[v].get(child) {
                work.push((v, child + 1));
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut scc = Vec::new();
                while let Some(w) = stack.pop() {
                    on[w] = false;
                    scc.push(w);
                    if w == v {
                        break;
                    }
                }
                out.push(scc);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_strings_and_chars_are_blanked_lifetimes_kept() {
        let s = strip(
            "a // use crate::x;\nb /* crate::y /* z */ */ \"crate::s\" r#\"crate::r\"# 'c' '\\n' 'a: x<'b>",
        );
        assert!(!s.contains("crate"), "{s}");
        assert!(s.contains("'a: x<'b>"), "{s}");
        assert_eq!(s.lines().count(), 2);
    }

    #[test]
    fn use_trees_and_inline_paths() {
        let n = named(
            "use crate::a::{b, c::{d as e, self}, f::*};\npub use super::g::H;\nfn x() { crate::k::l(); }\nmod tests { use super::*; }",
        );
        let paths: Vec<String> = n.iter().map(|n| n.segs.join("::")).collect();
        assert_eq!(
            paths,
            [
                "crate::a::b",
                "crate::a::c::d",
                "crate::a::c::self",
                "crate::a::f::*",
                "super::g::H",
                "crate::k::l",
                "super::*"
            ]
        );
        assert_eq!(n[4].reexport.as_deref(), Some("H"));
        assert_eq!(n[0].reexport, None);
        assert_eq!(n[6].inline, ["tests"]);
        assert_eq!(n[5].line, 3);
    }

    #[test]
    fn tarjan_finds_the_circle() {
        let adj = vec![vec![1], vec![2], vec![0], vec![0]];
        let sccs = tarjan(&adj);
        assert!(sccs.iter().any(|s| s.len() == 3));
        assert_eq!(sccs.iter().filter(|s| s.len() == 1).count(), 1);
    }

    /// A small crate on disk: a ↔ b through a re-export, c below both.
    #[test]
    fn a_circle_through_a_reexport_is_found_and_a_tree_is_not() {
        let dir = std::env::temp_dir().join(format!("xtask-cycles-{}", std::process::id()));
        let src = dir.join("src");
        std::fs::create_dir_all(src.join("a")).unwrap();
        std::fs::write(
            src.join("lib.rs"),
            "mod a;\nmod b;\nmod c;\npub use b::Thing;\n",
        )
        .unwrap();
        std::fs::write(
            src.join("a.rs"),
            "mod inner;\nuse crate::Thing;\nuse crate::c::C;\n",
        )
        .unwrap();
        std::fs::write(src.join("a/inner.rs"), "use super::super::c::C;\n").unwrap();
        std::fs::write(
            src.join("b.rs"),
            "pub struct Thing;\nfn f() { crate::a::g(); }\n",
        )
        .unwrap();
        std::fs::write(src.join("c.rs"), "pub struct C;\n").unwrap();
        let t = Tree::load(&src.join("lib.rs")).unwrap();
        let c = t.circles();
        assert_eq!(c.len(), 1);
        let names: Vec<String> = c[0]
            .files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.rs", "b.rs"]);
        assert_eq!(c[0].edges.len(), 2, "{:?}", c[0].edges);
        // Break it: b no longer calls into a.
        std::fs::write(src.join("b.rs"), "pub struct Thing;\n").unwrap();
        assert!(
            Tree::load(&src.join("lib.rs"))
                .unwrap()
                .circles()
                .is_empty()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
