//! etcd v3 through its JSON gateway (etcd 3.4: `POST /v3/kv/range|put|
//! txn|deleterange`, `/v3/lease/grant|keepalive|revoke`, `/v3/watch`).
//! Keys and values are base64; int64 fields are JSON strings; a field
//! that is false or zero is left out of the answer.
//!
//! Every call has a deadline ([`EtcdStore::timeout`], 2 s by default):
//! with the store down, a call fails in milliseconds (connection refused)
//! or at the deadline, never hangs (the reference measured `etcdctl lease
//! keep-alive --once` blocking for 30 s and more). With several
//! endpoints, a call that cannot reach one tries the next.

use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::model::{Kv, LeaseId, Put, Result, Revision, Store, StoreError, Watch, int, range_end};
use super::stream::EtcdWatch;

/// See the module's documentation.
#[derive(Debug)]
pub struct EtcdStore {
    endpoints: Vec<String>,
    agent: ureq::Agent,
    timeout: Duration,
    /// The endpoint that answered last.
    current: AtomicUsize,
}

fn b64(s: &[u8]) -> String {
    B64.encode(s)
}

impl EtcdStore {
    /// A client of the members at `endpoints` (`HOST:PORT`). Nothing is
    /// sent yet.
    pub fn new(endpoints: Vec<String>) -> Result<EtcdStore> {
        if endpoints.is_empty() || endpoints.iter().any(|e| e.is_empty() || e.contains('/')) {
            return Err(StoreError::Refused {
                store: format!("etcd://{}", endpoints.join(",")),
                op: "open",
                detail: "expected etcd://HOST:PORT[,HOST:PORT...]".into(),
            });
        }
        Ok(EtcdStore::with_timeout(endpoints, Duration::from_secs(2)))
    }

    /// The same with another deadline per call.
    pub fn with_timeout(endpoints: Vec<String>, timeout: Duration) -> EtcdStore {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_secs(1))))
            .build()
            .into();
        EtcdStore {
            endpoints,
            agent,
            timeout,
            current: AtomicUsize::new(0),
        }
    }

    /// A long-lived watch of `prefix` from revision `after + 1` (see
    /// [`EtcdWatch`]), on the members in the order calls try them.
    pub fn watch(&self, prefix: &str, after: Revision) -> EtcdWatch {
        let endpoints = self.order().into_iter().cloned().collect();
        EtcdWatch::open(self.address(), endpoints, prefix, after)
    }

    /// The deadline of each call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The server's version (`GET /version`): a health check.
    pub fn version(&self) -> Result<String> {
        let mut last = None;
        for ep in self.order() {
            match self.agent.get(format!("http://{ep}/version")).call() {
                Ok(mut r) => {
                    let text = r.body_mut().read_to_string().unwrap_or_default();
                    let v: Value =
                        serde_json::from_str(&text).map_err(|e| self.garbage("version", e))?;
                    return Ok(v["etcdserver"].as_str().unwrap_or_default().to_string());
                }
                Err(e) => last = Some(e.to_string()),
            }
        }
        Err(self.unreachable("version", last.unwrap_or_default()))
    }

    fn order(&self) -> Vec<&String> {
        let start = self.current.load(Ordering::Relaxed) % self.endpoints.len();
        self.endpoints[start..]
            .iter()
            .chain(&self.endpoints[..start])
            .collect()
    }

    fn unreachable(&self, op: &'static str, detail: String) -> StoreError {
        StoreError::Unreachable {
            store: self.address(),
            op,
            detail,
        }
    }

    fn garbage(&self, key: &str, detail: impl ToString) -> StoreError {
        StoreError::Garbage {
            store: self.address(),
            key: key.to_string(),
            detail: detail.to_string(),
        }
    }

    /// One POST, to the first endpoint that answers; its JSON answer.
    fn call(&self, op: &'static str, path: &str, body: &Value) -> Result<Value> {
        let body = body.to_string();
        let mut last = String::new();
        for (i, ep) in self.order().into_iter().enumerate() {
            let r = self
                .agent
                .post(format!("http://{ep}{path}"))
                .header("content-type", "application/json")
                .send(&body);
            let mut resp = match r {
                Ok(r) => r,
                Err(e) => {
                    last = format!("{ep}: {e}");
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let text = resp
                .body_mut()
                .read_to_string()
                .map_err(|e| self.unreachable(op, format!("{ep}: {e}")))?;
            let v: Value = serde_json::from_str(&text).map_err(|e| {
                self.garbage(&format!("reply to {path}"), format!("{e}: {text:.200}"))
            })?;
            if status != 200 || v.get("error").is_some() {
                let msg = v["message"]
                    .as_str()
                    .or(v["error"].as_str())
                    .unwrap_or(&text)
                    .to_string();
                // No leader, or shutting down: try another member.
                if status == 503 || msg.contains("no leader") || msg.contains("stopped") {
                    last = format!("{ep}: {msg}");
                    continue;
                }
                return Err(StoreError::Refused {
                    store: self.address(),
                    op,
                    detail: format!("HTTP {status}: {msg}"),
                });
            }
            if i > 0 {
                let pos = self.endpoints.iter().position(|e| e == ep).unwrap_or(0);
                self.current.store(pos, Ordering::Relaxed);
            }
            // A streamed call (keepalive) answers {"result": {...}}.
            return Ok(match v.get("result") {
                Some(r) if v.as_object().is_some_and(|o| o.len() == 1) => r.clone(),
                _ => v,
            });
        }
        Err(self.unreachable(op, last))
    }

    fn kv(&self, v: &Value) -> Result<Kv> {
        let dec = |f: &str| -> Result<String> {
            let raw = v[f].as_str().unwrap_or("");
            let bytes = B64
                .decode(raw)
                .map_err(|e| self.garbage(raw, format!("{f}: {e}")))?;
            String::from_utf8(bytes).map_err(|e| self.garbage(raw, format!("{f}: {e}")))
        };
        let key = dec("key")?;
        let value = dec("value").map_err(|e| match e {
            StoreError::Garbage { detail, .. } => self.garbage(&key, detail),
            e => e,
        })?;
        let lease = int(&v["lease"]);
        Ok(Kv {
            key,
            value,
            mod_revision: int(&v["mod_revision"]),
            lease: (lease != 0).then_some(LeaseId(lease)),
        })
    }

    fn put_request(p: Put<'_>) -> Value {
        let mut put = json!({"key": b64(p.key.as_bytes()), "value": b64(p.value.as_bytes())});
        if let Some(l) = p.lease {
            put["lease"] = json!(l.0.to_string());
        }
        put
    }
}

impl Store for EtcdStore {
    fn address(&self) -> String {
        format!("etcd://{}", self.endpoints.join(","))
    }

    fn list(&self, prefix: &str) -> Result<(Vec<Kv>, Revision)> {
        let v = self.call(
            "list",
            "/v3/kv/range",
            &json!({"key": b64(prefix.as_bytes()), "range_end": b64(&range_end(prefix))}),
        )?;
        let rev = int(&v["header"]["revision"]);
        let mut kvs = Vec::new();
        if let Some(list) = v["kvs"].as_array() {
            for kv in list {
                kvs.push(self.kv(kv)?);
            }
        }
        kvs.sort_by(|a, b| a.key.cmp(&b.key));
        Ok((kvs, rev))
    }

    fn get(&self, key: &str) -> Result<Option<Kv>> {
        let v = self.call("get", "/v3/kv/range", &json!({"key": b64(key.as_bytes())}))?;
        match v["kvs"].as_array().and_then(|l| l.first()) {
            Some(kv) => self.kv(kv).map(Some),
            None => Ok(None),
        }
    }

    fn put(&self, key: &str, value: &str, lease: Option<LeaseId>) -> Result<()> {
        let put = Put { key, value, lease };
        self.call("put", "/v3/kv/put", &Self::put_request(put))?;
        Ok(())
    }

    fn swap(&self, expected: Option<Revision>, put: Put<'_>) -> Result<bool> {
        let key = put.key;
        let compare = match expected {
            None => json!({"key": b64(key.as_bytes()), "target": "CREATE",
                           "result": "EQUAL", "create_revision": "0"}),
            Some(r) => json!({"key": b64(key.as_bytes()), "target": "MOD",
                              "result": "EQUAL", "mod_revision": r.to_string()}),
        };
        let v = self.call(
            "swap",
            "/v3/kv/txn",
            &json!({"compare": [compare],
                    "success": [{"request_put": Self::put_request(put)}]}),
        )?;
        Ok(v["succeeded"].as_bool().unwrap_or(false))
    }

    fn delete(&self, key: &str) -> Result<bool> {
        let v = self.call(
            "delete",
            "/v3/kv/deleterange",
            &json!({"key": b64(key.as_bytes())}),
        )?;
        Ok(int(&v["deleted"]) > 0)
    }

    fn grant(&self, ttl: Duration) -> Result<LeaseId> {
        let v = self.call(
            "grant lease",
            "/v3/lease/grant",
            &json!({"TTL": ttl.as_secs().max(1).to_string()}),
        )?;
        match int(&v["ID"]) {
            0 => Err(self.garbage("lease grant reply", v)),
            id => Ok(LeaseId(id)),
        }
    }

    fn keep_alive(&self, lease: LeaseId) -> Result<Option<Duration>> {
        let v = self.call(
            "keep lease alive",
            "/v3/lease/keepalive",
            &json!({"ID": lease.0.to_string()}),
        )?;
        let ttl = int(&v["TTL"]);
        Ok((ttl > 0).then(|| Duration::from_secs(ttl as u64)))
    }

    fn revoke(&self, lease: LeaseId) -> Result<()> {
        match self.call(
            "revoke lease",
            "/v3/lease/revoke",
            &json!({"ID": lease.0.to_string()}),
        ) {
            Err(StoreError::Refused { detail, .. }) if detail.contains("not found") => Ok(()),
            r => r.map(|_| ()),
        }
    }

    fn stream(&self, prefix: &str, after: Revision) -> Option<Box<dyn Watch>> {
        Some(Box::new(self.watch(prefix, after)))
    }

    fn wait(&self, prefix: &str, after: Revision, timeout: Duration) -> Result<bool> {
        let body = json!({"create_request": {
            "key": b64(prefix.as_bytes()),
            "range_end": b64(&range_end(prefix)),
            "start_revision": (after + 1).to_string(),
        }})
        .to_string();
        let ep = self.order()[0].clone();
        let r = self
            .agent
            .post(format!("http://{ep}/v3/watch"))
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("content-type", "application/json")
            .send(&body);
        let resp = match r {
            Ok(r) => r,
            Err(ureq::Error::Timeout(_)) => return Ok(false),
            Err(e) => return Err(self.unreachable("watch", format!("{ep}: {e}"))),
        };
        let reader = BufReader::new(resp.into_body().into_reader());
        for line in reader.lines() {
            let line = match line {
                Ok(l) => l,
                // The deadline, or the member going away mid-stream.
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Ok(false),
                Err(e) if e.to_string().contains("imeout") => return Ok(false),
                Err(e) => return Err(self.unreachable("watch", format!("{ep}: {e}"))),
            };
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(&line)
                .map_err(|e| self.garbage("watch stream", format!("{e}: {line:.200}")))?;
            let r = &v["result"];
            if v.get("error").is_some() {
                return Err(self.unreachable("watch", format!("{ep}: {}", v["error"])));
            }
            // Compacted past `after`: everything may have changed.
            if int(&r["compact_revision"]) > 0 || r["canceled"].as_bool() == Some(true) {
                return Ok(true);
            }
            if r["events"].as_array().is_some_and(|e| !e.is_empty()) {
                return Ok(true);
            }
        }
        // The stream ended: the member went away.
        Err(self.unreachable("watch", format!("{ep}: the stream ended")))
    }
}
