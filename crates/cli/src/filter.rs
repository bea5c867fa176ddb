//! `--filter KEY=VALUE` of `network ls` and `network prune`, as Docker
//! matches them: the values of one key are alternatives (any may match),
//! different keys must all match.

use std::time::{Duration, SystemTime};

use bridge_net::NetworkInfo;

use crate::failure::BadInput;

/// A label filter's `KEY` or `KEY=VALUE` against a network's labels.
fn label_matches(n: &NetworkInfo, spec: &str) -> bool {
    match spec.split_once('=') {
        Some((k, v)) => n.options.labels.get(k).is_some_and(|x| x == v),
        None => n.options.labels.contains_key(spec),
    }
}

/// A bad `--filter key=value`.
fn bad(key: &str, v: &str, why: &str) -> BadInput {
    BadInput::new("--filter", format!("{key}={v}"), why)
}

fn bool_value(key: &'static str, v: &str) -> Result<bool, BadInput> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(bad(key, v, "expected true or false")),
    }
}

/// The filters of `network ls`.
#[derive(Debug, Default)]
pub struct Ls {
    name: Vec<String>,
    id: Vec<String>,
    driver: Vec<String>,
    label: Vec<String>,
    builtin: Vec<bool>,
    dangling: Vec<bool>,
}

impl Ls {
    /// From `(key, value)` pairs (keys checked by the parser already).
    pub fn new(pairs: &[(String, String)]) -> Result<Ls, BadInput> {
        let mut f = Ls::default();
        for (k, v) in pairs {
            match k.as_str() {
                "name" => f.name.push(v.clone()),
                "id" => f.id.push(v.clone()),
                "driver" => f.driver.push(v.clone()),
                "label" => f.label.push(v.clone()),
                "type" => f.builtin.push(match v.as_str() {
                    "builtin" => true,
                    "custom" => false,
                    _ => return Err(bad("type", v, "expected custom or builtin")),
                }),
                "dangling" => f.dangling.push(bool_value("dangling", v)?),
                _ => return Err(bad(k, v, "no such filter")),
            }
        }
        Ok(f)
    }

    /// Whether network `n` passes.
    pub fn matches(&self, n: &NetworkInfo) -> bool {
        let any = |vals: &[String], f: &dyn Fn(&str) -> bool| {
            vals.is_empty() || vals.iter().any(|v| f(v))
        };
        any(&self.name, &|v| n.name.contains(v))
            && any(&self.id, &|v| n.id.starts_with(v))
            && any(&self.driver, &|v| n.driver == v)
            && any(&self.label, &|v| label_matches(n, v))
            && (self.builtin.is_empty() || self.builtin.contains(&n.default))
            // Docker: dangling=true is the custom networks without
            // containers; the built-in ones are never dangling.
            && (self.dangling.is_empty()
                || self
                    .dangling
                    .contains(&(n.endpoints == 0 && !n.default)))
    }
}

/// The filters of `network prune`.
#[derive(Debug, Default)]
pub struct Prune {
    until: Vec<SystemTime>,
    label: Vec<String>,
    not_label: Vec<String>,
}

/// `until=`: an RFC 3339 time, Unix seconds, or a duration before now
/// (`10m`, `24h`, `1h30m`).
fn until(v: &str) -> Result<SystemTime, BadInput> {
    let bad = |why: &str| bad("until", v, why);
    if let Ok(t) = humantime::parse_rfc3339_weak(v) {
        return Ok(t);
    }
    if let Ok(secs) = v.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Ok(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs));
    }
    match humantime::parse_duration(v) {
        Ok(d) => SystemTime::now()
            .checked_sub(d)
            .ok_or_else(|| bad("too far back")),
        Err(_) => Err(bad(
            "expected a time (2026-12-05T14:00:00Z), Unix seconds, or a duration (10m, 24h)",
        )),
    }
}

impl Prune {
    /// From `(key, value)` pairs.
    pub fn new(pairs: &[(String, String)]) -> Result<Prune, BadInput> {
        let mut f = Prune::default();
        for (k, v) in pairs {
            match k.as_str() {
                "until" => f.until.push(until(v)?),
                "label" => f.label.push(v.clone()),
                "label!" => f.not_label.push(v.clone()),
                _ => return Err(bad(k, v, "no such filter")),
            }
        }
        Ok(f)
    }

    /// Whether network `n` is to be pruned (as to the filters).
    pub fn matches(&self, n: &NetworkInfo) -> bool {
        let created = humantime::parse_rfc3339_weak(&n.created).ok();
        self.until.iter().all(|t| created.is_some_and(|c| c < *t))
            && self.label.iter().all(|l| label_matches(n, l))
            && !self.not_label.iter().any(|l| label_matches(n, l))
    }
}
