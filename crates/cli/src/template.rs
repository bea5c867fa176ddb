//! The part of Go's `text/template` that `docker ... --format` users
//! write: field access (`{{.Name}}`, `{{.IPAM.Config}}`), `{{.}}`,
//! `{{json .}}`, `{{range PIPE}}...{{else}}...{{end}}`, `{{if
//! PIPE}}...{{else}}...{{end}}`, pipes (`{{.Name | upper}}`), string
//! literals, and the functions `json`, `join`, `index`, `len`, `upper`,
//! `lower`, `println`. Trim markers `{{-` and `-}}` work as in Go.
//!
//! Values are JSON ([`serde_json::Value`]): the same documents `--format
//! json` prints. A map's missing key prints `<no value>`, as Go's does.

use std::fmt;

use serde_json::Value;

/// A template that does not parse, or cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "template: {}", self.0)
    }
}

impl std::error::Error for TemplateError {}

fn error<T>(msg: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError(msg.into()))
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Print(Pipeline),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    If(Pipeline, Vec<Node>, Vec<Node>),
}

/// Commands joined by `|`: each one's result is the next one's last
/// argument.
type Pipeline = Vec<Command>;

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    /// `.`, `.A.B`: the path from dot.
    Field(Vec<String>),
    /// `"text"`.
    Str(String),
    /// A bare word: a function name, or `true`/`false`/a number.
    Word(String),
}

#[derive(Debug, Clone, PartialEq)]
struct Command(Vec<Arg>);

/// The pieces of the source: text, and actions (without the braces).
fn lex(src: &str) -> Result<Vec<(bool, String)>, TemplateError> {
    let mut out: Vec<(bool, String)> = Vec::new();
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        let mut text = rest[..start].to_owned();
        let after = &rest[start + 2..];
        let (trim_left, after) = match after.strip_prefix('-') {
            Some(a) if a.starts_with([' ', '\t', '\n']) => (true, a),
            _ => (false, after),
        };
        // The closing braces, outside string literals.
        let mut end = None;
        let mut in_str = false;
        let bytes = after.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if in_str => i += 1,
                b'"' => in_str = !in_str,
                b'}' if !in_str && bytes.get(i + 1) == Some(&b'}') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        let Some(end) = end else {
            return error("unclosed action (no \"}}\")");
        };
        let mut action = &after[..end];
        let trim_right = action.ends_with(" -") || action.ends_with("\t-") || action == "-";
        if trim_right {
            action = &action[..action.len() - 1];
        }
        if trim_left {
            text.truncate(text.trim_end().len());
        }
        if !text.is_empty() {
            out.push((false, text));
        }
        out.push((true, action.trim().to_owned()));
        rest = &after[end + 2..];
        if trim_right {
            rest = rest.trim_start();
        }
    }
    if !rest.is_empty() {
        out.push((false, rest.to_owned()));
    }
    Ok(out)
}

/// Split an action into words, keeping string literals and `|` apart.
fn words(action: &str) -> Result<Vec<String>, TemplateError> {
    let mut out = Vec::new();
    let mut chars = action.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '|' {
            chars.next();
            out.push("|".to_owned());
        } else if c == '"' {
            let mut s = String::from('"');
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(o) => s.push(o),
                        None => break,
                    },
                    '"' => {
                        closed = true;
                        break;
                    }
                    o => s.push(o),
                }
            }
            if !closed {
                return error(format!("unterminated string in {{{{{action}}}}}"));
            }
            out.push(s);
        } else {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '|' || c == '"' {
                    break;
                }
                w.push(c);
                chars.next();
            }
            out.push(w);
        }
    }
    Ok(out)
}

fn pipeline(action: &str) -> Result<Pipeline, TemplateError> {
    let mut cmds = Vec::new();
    let mut cur = Vec::new();
    for w in words(action)? {
        if w == "|" {
            if cur.is_empty() {
                return error(format!("missing command in {{{{{action}}}}}"));
            }
            cmds.push(Command(std::mem::take(&mut cur)));
        } else if let Some(s) = w.strip_prefix('"') {
            cur.push(Arg::Str(s.to_owned()));
        } else if w == "." {
            cur.push(Arg::Field(Vec::new()));
        } else if let Some(path) = w.strip_prefix('.') {
            let parts: Vec<String> = path.split('.').map(str::to_owned).collect();
            if parts.iter().any(String::is_empty) {
                return error(format!("bad field {w:?}"));
            }
            cur.push(Arg::Field(parts));
        } else if w.starts_with('$') || w.contains(":=") {
            return error(format!("variables are not supported ({w})"));
        } else {
            cur.push(Arg::Word(w));
        }
    }
    if cur.is_empty() {
        return error(format!("missing value in {{{{{action}}}}}"));
    }
    cmds.push(Command(cur));
    Ok(cmds)
}

impl Template {
    /// Parse `src`.
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let pieces = lex(src)?;
        let mut it = pieces.into_iter();
        let (nodes, end) = Self::block(&mut it)?;
        match end {
            None => Ok(Template { nodes }),
            Some(e) => error(format!("unexpected {{{{{e}}}}}")),
        }
    }

    /// Nodes up to an `end` or `else` (returned), or the end of input.
    fn block(
        it: &mut impl Iterator<Item = (bool, String)>,
    ) -> Result<(Vec<Node>, Option<String>), TemplateError> {
        let mut nodes = Vec::new();
        while let Some((action, s)) = it.next() {
            if !action {
                nodes.push(Node::Text(s));
                continue;
            }
            let (head, tail) = s.split_once(char::is_whitespace).unwrap_or((&s, ""));
            match head {
                "end" | "else" => return Ok((nodes, Some(head.to_owned()))),
                "range" | "if" => {
                    let pipe = pipeline(tail)?;
                    let (body, end) = Self::block(it)?;
                    let alt = match end.as_deref() {
                        Some("end") => Vec::new(),
                        Some(_) => match Self::block(it)? {
                            (alt, Some(e)) if e == "end" => alt,
                            _ => return error(format!("{{{{{head}}}}} without {{{{end}}}}")),
                        },
                        None => return error(format!("{{{{{head}}}}} without {{{{end}}}}")),
                    };
                    nodes.push(if head == "range" {
                        Node::Range(pipe, body, alt)
                    } else {
                        Node::If(pipe, body, alt)
                    });
                }
                "" => {}
                _ if head.starts_with("/*") => {}
                "with" | "define" | "template" | "block" => {
                    return error(format!("{{{{{head}}}}} is not supported"));
                }
                _ => nodes.push(Node::Print(pipeline(&s)?)),
            }
        }
        Ok((nodes, None))
    }

    /// Apply the template to `dot`.
    pub fn render(&self, dot: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        exec(&self.nodes, dot, &mut out)?;
        Ok(out)
    }
}

fn exec(nodes: &[Node], dot: &Value, out: &mut String) -> Result<(), TemplateError> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Print(p) => out.push_str(&text(&eval(p, dot)?)),
            Node::If(p, body, alt) => {
                exec(if truth(&eval(p, dot)?) { body } else { alt }, dot, out)?;
            }
            Node::Range(p, body, alt) => {
                let v = eval(p, dot)?;
                let items: Vec<&Value> = match &v {
                    Value::Array(a) => a.iter().collect(),
                    Value::Object(o) => {
                        let mut keys: Vec<&String> = o.keys().collect();
                        keys.sort();
                        keys.into_iter().map(|k| &o[k]).collect()
                    }
                    Value::Null => Vec::new(),
                    other => return error(format!("range can't iterate over {}", text(other))),
                };
                if items.is_empty() {
                    exec(alt, dot, out)?;
                }
                for item in items {
                    exec(body, item, out)?;
                }
            }
        }
    }
    Ok(())
}

/// Go's truth: false, 0, "", nil and empty collections are false.
fn truth(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A value as Go's template prints it: strings bare, maps as
/// `map[k:v]`, lists as `[a b]`.
fn text(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".to_owned(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(text).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", text(&o[k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

fn field(dot: &Value, path: &[String]) -> Result<Value, TemplateError> {
    let mut v = dot;
    for (i, key) in path.iter().enumerate() {
        match v {
            Value::Object(o) => match o.get(key) {
                Some(x) => v = x,
                None => return Ok(Value::Null),
            },
            Value::Null => return Ok(Value::Null),
            other => {
                return error(format!(
                    "can't evaluate field {key} in {} (.{})",
                    kind(other),
                    path[..=i].join(".")
                ));
            }
        }
    }
    Ok(v.clone())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

fn value_of(a: &Arg, dot: &Value) -> Result<Value, TemplateError> {
    match a {
        Arg::Field(p) => field(dot, p),
        Arg::Str(s) => Ok(Value::String(s.clone())),
        Arg::Word(w) => match w.as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            "nil" => Ok(Value::Null),
            _ => match w.parse::<i64>() {
                Ok(n) => Ok(Value::from(n)),
                Err(_) => error(format!("function {w:?} not defined")),
            },
        },
    }
}

fn eval(p: &Pipeline, dot: &Value) -> Result<Value, TemplateError> {
    let mut last: Option<Value> = None;
    for Command(args) in p {
        let (head, rest) = args.split_first().expect("commands are not empty");
        let mut vals = rest
            .iter()
            .map(|a| value_of(a, dot))
            .collect::<Result<Vec<_>, _>>()?;
        vals.extend(last.take());
        let v = match head {
            Arg::Word(f) if is_function(f) => call(f, &vals)?,
            other if vals.is_empty() => value_of(other, dot)?,
            Arg::Word(w) => return error(format!("function {w:?} not defined")),
            _ => return error("only a function takes arguments"),
        };
        last = Some(v);
    }
    Ok(last.unwrap_or(Value::Null))
}

fn is_function(name: &str) -> bool {
    matches!(
        name,
        "json" | "join" | "index" | "len" | "upper" | "lower" | "println" | "print"
    )
}

fn call(f: &str, args: &[Value]) -> Result<Value, TemplateError> {
    let arity = |n: usize| -> Result<(), TemplateError> {
        if args.len() == n {
            Ok(())
        } else {
            error(format!(
                "wrong number of args for {f}: want {n} got {}",
                args.len()
            ))
        }
    };
    Ok(match f {
        "json" => {
            arity(1)?;
            Value::String(serde_json::to_string(&args[0]).unwrap_or_default())
        }
        "join" => {
            arity(2)?;
            let sep = text(&args[1]);
            match &args[0] {
                Value::Array(a) => Value::String(a.iter().map(text).collect::<Vec<_>>().join(&sep)),
                other => Value::String(text(other)),
            }
        }
        "index" => {
            let Some((first, keys)) = args.split_first() else {
                return error("index needs a value");
            };
            let mut v = first.clone();
            for k in keys {
                v = match (&v, k) {
                    (Value::Object(o), Value::String(s)) => {
                        o.get(s).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Array(a), Value::Number(n)) => n
                        .as_u64()
                        .and_then(|i| a.get(i as usize))
                        .cloned()
                        .ok_or_else(|| TemplateError(format!("index {n} out of range")))?,
                    (v, k) => {
                        return error(format!("can't index {} with {}", kind(v), text(k)));
                    }
                };
            }
            v
        }
        "len" => {
            arity(1)?;
            Value::from(match &args[0] {
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                Value::String(s) => s.len(),
                other => return error(format!("len of {}", kind(other))),
            })
        }
        "upper" => {
            arity(1)?;
            Value::String(text(&args[0]).to_uppercase())
        }
        "lower" => {
            arity(1)?;
            Value::String(text(&args[0]).to_lowercase())
        }
        "print" => Value::String(args.iter().map(text).collect::<Vec<_>>().join(" ")),
        "println" => Value::String(args.iter().map(text).collect::<Vec<_>>().join(" ") + "\n"),
        _ => return error(format!("function {f:?} not defined")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(t: &str, v: &Value) -> String {
        Template::parse(t).unwrap().render(v).unwrap()
    }

    #[test]
    fn the_docker_forms() {
        let net = json!({
            "Name": "web",
            "IPAM": {"Config": [{"Subnet": "172.20.0.0/16", "Gateway": "172.20.0.1"},
                                {"Subnet": "fd00::/64"}]},
            "Labels": {"a": "1", "b": "2"},
            "Internal": false,
            "Containers": {}
        });
        assert_eq!(r("{{.Name}}", &net), "web");
        assert_eq!(r("name={{ .Name }}!", &net), "name=web!");
        assert_eq!(
            r("{{range .IPAM.Config}}{{.Subnet}} {{end}}", &net),
            "172.20.0.0/16 fd00::/64 "
        );
        assert_eq!(r("{{json .Labels}}", &net), r#"{"a":"1","b":"2"}"#);
        assert_eq!(r("{{.Labels}}", &net), "map[a:1 b:2]");
        assert_eq!(r("{{index .Labels \"b\"}}", &net), "2");
        assert_eq!(r("{{.Labels.a}}", &net), "1");
        assert_eq!(r("{{.Nope}}", &net), "<no value>");
        assert_eq!(r("{{if .Internal}}yes{{else}}no{{end}}", &net), "no");
        assert_eq!(r("{{range .Containers}}x{{else}}none{{end}}", &net), "none");
        assert_eq!(r("{{.Name | upper}}", &net), "WEB");
        assert_eq!(r("{{len .IPAM.Config}}", &net), "2");
        assert_eq!(r("a  {{- .Name -}}  \n b", &net), "awebb", "trim markers");
        assert_eq!(
            r("{{json .}}", &json!({"ID": "x", "Name": "n"})),
            r#"{"ID":"x","Name":"n"}"#
        );
    }

    #[test]
    fn bad_templates_say_why() {
        for (t, why) in [
            ("{{.Name", "unclosed action"),
            ("{{range .A}}x", "without {{end}}"),
            ("{{end}}", "unexpected {{end}}"),
            ("{{nope .A}}", "not defined"),
            ("{{\"x}}", "unclosed action"),
        ] {
            let e = Template::parse(t)
                .and_then(|t| t.render(&json!({"A": [1]})))
                .unwrap_err();
            assert!(e.to_string().contains(why), "{t}: {e}");
        }
        assert_eq!(r("{{print \"x}} \"}}", &json!({})), "x}} ");
        let e = Template::parse("{{.Name.First}}")
            .unwrap()
            .render(&json!({"Name": "x"}))
            .unwrap_err();
        assert!(e.to_string().contains("can't evaluate field First"), "{e}");
    }
}
