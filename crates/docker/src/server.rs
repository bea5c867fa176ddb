//! The HTTP side: `POST /<Interface>.<Method>` with a JSON body, answered
//! with JSON, on a unix socket, by tiny_http.
//!
//! Why tiny_http: a small synchronous HTTP/1.1 server (MIT/Apache-2.0,
//! four small dependencies, no async runtime) that listens on a unix
//! socket itself (`Server::http_unix`), reads `Content-Length` bodies and
//! keeps connections alive as Go's client expects. The driver's work is a
//! few netlink and nf_tables requests under one lock per driver, so
//! threads blocked on `recv` are all the concurrency it needs; hyper would
//! bring tokio for nothing.
//!
//! Concurrency: the NetworkDriver and the IpamDriver each sit behind one
//! mutex (calls of one driver run one at a time, in any order dockerd and
//! compose interleave them); `Activate`, `GetCapabilities` and
//! `EndpointOperInfo` (called on every inspect) take no lock.

use std::panic::AssertUnwindSafe;
use std::sync::Mutex;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::ipam::{GLOBAL_SPACE, Ipam, LOCAL_SPACE};
use crate::network::Driver;
use crate::protocol::{
    Activate, AddressSpaces, Empty, ErrReply, IpamCapabilities, IpamErrReply, NetworkCapabilities,
    OperInfo,
};

/// The content type of every answer (dockerd does not check it).
pub const CONTENT_TYPE: &str = "application/vnd.docker.plugins.v1.2+json";

/// Both drivers.
#[derive(Debug)]
pub struct Service {
    network: Mutex<Driver>,
    ipam: Mutex<Ipam>,
    debug: bool,
}

fn parse<T: DeserializeOwned>(method: &str, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::BadRequest {
        method: method.to_owned(),
        detail: e.to_string(),
    })
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Internal {
        method: "encode".into(),
        detail: e.to_string(),
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking handler is caught and reported; the data it held is in
    // the state store's hands, which stays consistent.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Service {
    /// Both drivers, ready.
    pub fn new(network: Driver, ipam: Ipam, debug: bool) -> Service {
        Service {
            network: Mutex::new(network),
            ipam: Mutex::new(ipam),
            debug,
        }
    }

    /// Wait for the calls in progress to finish and hold both drivers, so
    /// the process can exit between operations, never inside one.
    pub fn quiesce(
        &self,
    ) -> (
        std::sync::MutexGuard<'_, Driver>,
        std::sync::MutexGuard<'_, Ipam>,
    ) {
        (lock(&self.network), lock(&self.ipam))
    }

    /// Answer one call: the status and the body.
    pub fn handle(&self, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let method = path.trim_start_matches('/');
        let started = std::time::Instant::now();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| self.dispatch(method, body)))
            .unwrap_or_else(|panic| {
                let detail = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "panic".into());
                Err(Error::Internal {
                    method: method.to_owned(),
                    detail,
                })
            });
        let answer = match result {
            Ok(bytes) => (200, bytes),
            Err(e) => {
                let msg = e.to_string();
                eprintln!("brnet-docker: {method}: {msg}");
                let status = if matches!(e, Error::UnknownMethod { .. }) {
                    404
                } else {
                    500
                };
                let bytes = if method.starts_with("IpamDriver.") {
                    serde_json::to_vec(&IpamErrReply {
                        err: msg.clone(),
                        error: msg,
                    })
                } else {
                    serde_json::to_vec(&ErrReply { err: msg })
                };
                (
                    status,
                    bytes.unwrap_or_else(|_| b"{\"Err\":\"error\"}".to_vec()),
                )
            }
        };
        if self.debug {
            eprintln!(
                "brnet-docker: {method} {} -> {} {} ({} us)",
                String::from_utf8_lossy(body).trim(),
                answer.0,
                String::from_utf8_lossy(&answer.1),
                started.elapsed().as_micros()
            );
        }
        answer
    }

    fn dispatch(&self, method: &str, body: &[u8]) -> Result<Vec<u8>> {
        let empty = Empty {};
        match method {
            "Plugin.Activate" => {
                // After a dockerd restart this is its first call: a good
                // time to drop what a crash left.
                let _ = lock(&self.network).collect();
                json(&Activate {
                    implements: vec!["NetworkDriver", "IpamDriver"],
                })
            }
            "NetworkDriver.GetCapabilities" => json(&NetworkCapabilities {
                scope: "local",
                connectivity_scope: "local",
            }),
            "NetworkDriver.CreateNetwork" => {
                let r = parse(method, body)?;
                lock(&self.network).create_network(&r)?;
                json(&empty)
            }
            "NetworkDriver.DeleteNetwork" => {
                let r = parse(method, body)?;
                lock(&self.network).delete_network(&r)?;
                json(&empty)
            }
            "NetworkDriver.CreateEndpoint" => {
                let r = parse(method, body)?;
                json(&lock(&self.network).create_endpoint(&r)?)
            }
            "NetworkDriver.DeleteEndpoint" => {
                let r = parse(method, body)?;
                lock(&self.network).delete_endpoint(&r)?;
                json(&empty)
            }
            "NetworkDriver.EndpointOperInfo" => json(&OperInfo::default()),
            "NetworkDriver.Join" => {
                let r = parse(method, body)?;
                json(&lock(&self.network).join(&r)?)
            }
            "NetworkDriver.Leave" => {
                let r = parse(method, body)?;
                lock(&self.network).leave(&r)?;
                json(&empty)
            }
            "NetworkDriver.ProgramExternalConnectivity" => {
                let r = parse(method, body)?;
                lock(&self.network).program(&r)?;
                json(&empty)
            }
            "NetworkDriver.RevokeExternalConnectivity" => {
                let r = parse(method, body)?;
                lock(&self.network).revoke(&r)?;
                json(&empty)
            }
            // Swarm only; harmless locally.
            "NetworkDriver.DiscoverNew" | "NetworkDriver.DiscoverDelete" => json(&empty),
            "IpamDriver.GetCapabilities" => json(&IpamCapabilities {
                requires_mac_address: false,
                requires_request_replay: false,
            }),
            "IpamDriver.GetDefaultAddressSpaces" => json(&AddressSpaces {
                local: LOCAL_SPACE,
                global: GLOBAL_SPACE,
            }),
            "IpamDriver.RequestPool" => {
                let r = parse(method, body)?;
                json(&lock(&self.ipam).request_pool(&r)?)
            }
            "IpamDriver.ReleasePool" => {
                let r = parse(method, body)?;
                lock(&self.ipam).release_pool(&r)?;
                json(&empty)
            }
            "IpamDriver.RequestAddress" => {
                let r = parse(method, body)?;
                json(&lock(&self.ipam).request_address(&r)?)
            }
            "IpamDriver.ReleaseAddress" => {
                let r = parse(method, body)?;
                lock(&self.ipam).release_address(&r)?;
                json(&empty)
            }
            other => Err(Error::UnknownMethod {
                method: other.to_owned(),
            }),
        }
    }
}

/// Serve `server` with `threads` workers until it is dropped elsewhere
/// (the process exits on a signal).
pub fn serve(server: &tiny_http::Server, service: &Service, threads: usize) {
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let mut request = match server.recv() {
                        Ok(r) => r,
                        Err(e) => {
                            eprintln!("brnet-docker: accept: {e}");
                            continue;
                        }
                    };
                    let mut body = Vec::new();
                    let read = std::io::Read::read_to_end(request.as_reader(), &mut body);
                    let (status, bytes) = match read {
                        Ok(_) => service.handle(request.url(), &body),
                        Err(e) => (
                            400,
                            serde_json::to_vec(&ErrReply {
                                err: format!("read request body: {e}"),
                            })
                            .unwrap_or_default(),
                        ),
                    };
                    let header = tiny_http::Header::from_bytes("Content-Type", CONTENT_TYPE)
                        .map(Some)
                        .unwrap_or(None);
                    let mut response =
                        tiny_http::Response::from_data(bytes).with_status_code(status);
                    if let Some(h) = header {
                        response = response.with_header(h);
                    }
                    if let Err(e) = request.respond(response) {
                        eprintln!("brnet-docker: answer: {e}");
                    }
                }
            });
        }
    });
}
