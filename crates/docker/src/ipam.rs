//! The IpamDriver (`docker network create --ipam-driver brnet`):
//! bridge-net's own address pools (brnet-ipam) for any network driver.
//!
//! - Pools: the subnet asked for (`--subnet`, checked against the other
//!   pools of its address space), or with none the next of Docker's
//!   default pools that overlaps no pool of ours and no on-link route of
//!   the host (as Docker's IPAM chooses). `--ip-range` narrows dynamic
//!   addresses.
//! - Addresses: serial order — after the last one handed out, wrapping —
//!   so an address just given back is not handed out again at once (stale
//!   ARP and conntrack entries still point at it). The gateway is the
//!   subnet's first host address unless `--gateway` says otherwise.
//! - State: `ipam.json` in the state directory, written whole (temp file,
//!   fsync, rename) on every change, read at start: dockerd never replays
//!   its requests (`RequiresRequestReplay` false).
//!
//! Pool ids are `brnet/<address space>/<subnet>[/<range>]`.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use bridge_net::brnet_ipam::{self, Order, Pool, PoolState, SubnetAllocator, overlaps};
use bridge_net::brnet_netlink::Socket;
use bridge_net::{DefaultPool, FromFailure, host};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::protocol::{
    GATEWAY_TYPE, PoolRef, REQUEST_ADDRESS_TYPE, ReleaseAddress, RequestAddress,
    RequestAddressReply, RequestPool, RequestPoolReply,
};

/// Our local address space's name.
pub const LOCAL_SPACE: &str = "brnet-local";
/// Our global address space's name (swarm; pools work the same).
pub const GLOBAL_SPACE: &str = "brnet-global";
/// The state file's name in the state directory.
pub const STATE_FILE: &str = "ipam.json";
const VERSION: u32 = 1;

/// One pool as kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolRecord {
    space: String,
    v6: bool,
    /// Whether the gateway address was handed out (to dockerd).
    gateway_taken: bool,
    pool: PoolState,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    brnet_ipam: u32,
    pools: BTreeMap<String, PoolRecord>,
}

/// The IPAM driver's pools.
#[derive(Debug)]
pub struct Ipam {
    path: PathBuf,
    pools: BTreeMap<String, (PoolRecord, Pool)>,
    defaults: Vec<DefaultPool>,
}

fn pool_error(id: &str) -> impl Fn(brnet_ipam::Error) -> Error + '_ {
    move |source| Error::Ipam {
        object: format!("pool {id}"),
        cause: source,
    }
}

impl Ipam {
    /// Load the pools kept in `state_dir` (none when there is no file).
    pub fn open(state_dir: &Path) -> Result<Ipam> {
        let path = state_dir.join(STATE_FILE);
        let state_err = |op, detail: String| Error::State {
            op,
            path: path.display().to_string(),
            detail,
        };
        let file: File = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| state_err("parse", e.to_string()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
            Err(e) => return Err(state_err("read", e.to_string())),
        };
        if file.brnet_ipam > VERSION {
            return Err(state_err(
                "read",
                format!(
                    "written by a newer brnet-docker (format {})",
                    file.brnet_ipam
                ),
            ));
        }
        let mut pools = BTreeMap::new();
        for (id, rec) in file.pools {
            let pool = Pool::from_state(rec.pool.clone()).map_err(pool_error(&id))?;
            pools.insert(id, (rec, pool));
        }
        Ok(Ipam {
            path,
            pools,
            defaults: DefaultPool::docker_defaults(),
        })
    }

    fn save(&self) -> Result<()> {
        let file = File {
            brnet_ipam: VERSION,
            pools: self
                .pools
                .iter()
                .map(|(id, (rec, pool))| {
                    let mut rec = rec.clone();
                    rec.pool = pool.to_state();
                    (id.clone(), rec)
                })
                .collect(),
        };
        let err = |op, e: std::io::Error| Error::State {
            op,
            path: self.path.display().to_string(),
            detail: e.to_string(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| Error::State {
            op: "encode",
            path: self.path.display().to_string(),
            detail: e.to_string(),
        })?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err("create directory for", e))?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let mut f = std::fs::File::create(&tmp).map_err(|e| err("create", e))?;
        f.write_all(&bytes).map_err(|e| err("write", e))?;
        f.sync_all().map_err(|e| err("sync", e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| err("rename", e))?;
        if let Some(dir) = self.path.parent()
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Run `change` on the pools; kept only if it and the save succeed.
    fn change<T>(&mut self, change: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let before = self.pools.clone();
        let out = change(self).and_then(|v| self.save().map(|()| v));
        if out.is_err() {
            self.pools = before;
        }
        out
    }

    /// RequestPool.
    pub fn request_pool(&mut self, r: &RequestPool) -> Result<RequestPoolReply> {
        let space = if r.address_space.is_empty() {
            LOCAL_SPACE.to_owned()
        } else {
            r.address_space.clone()
        };
        let obj = format!("address space {space}");
        let subnet: Option<IpNet> = match r.pool.as_str() {
            "" => None,
            p => Some(p.parse().map_err(|e| Error::invalid(&obj, "Pool", p, e))?),
        };
        let range: Option<IpNet> = match r.sub_pool.as_str() {
            "" => None,
            p => Some(
                p.parse()
                    .map_err(|e| Error::invalid(&obj, "SubPool", p, e))?,
            ),
        };
        if let Some(s) = subnet
            && s.addr().is_ipv6() != r.v6
        {
            return Err(Error::invalid(
                obj,
                "Pool",
                s,
                "wrong address family for V6",
            ));
        }
        let subnet = match subnet {
            Some(s) => {
                if let Some((id, _)) = self
                    .pools
                    .iter()
                    .find(|(_, (rec, p))| rec.space == space && overlaps(&p.subnet(), &s))
                {
                    return Err(Error::invalid(
                        obj,
                        "Pool",
                        s,
                        format!("overlaps pool {id} of this address space"),
                    ));
                }
                s
            }
            None if r.v6 => {
                return Err(Error::invalid(
                    obj,
                    "Pool",
                    "",
                    "an IPv6 pool needs its subnet (--subnet with an IPv6 CIDR)",
                ));
            }
            None => self.next_subnet()?,
        };
        let id = match range {
            Some(rg) => format!("brnet/{space}/{subnet}/{rg}"),
            None => format!("brnet/{space}/{subnet}"),
        };
        let mut b = Pool::builder(subnet).order(Order::Serial);
        if let Some(rg) = range {
            b = b.range(rg);
        }
        let pool = b.build().map_err(pool_error(&id))?;
        let rec = PoolRecord {
            space,
            v6: r.v6,
            gateway_taken: false,
            pool: pool.to_state(),
        };
        let reply = RequestPoolReply {
            pool_id: id.clone(),
            pool: subnet.to_string(),
            data: BTreeMap::new(),
        };
        self.change(|me| {
            me.pools.insert(id, (rec, pool));
            Ok(())
        })?;
        Ok(reply)
    }

    /// The next default pool that overlaps none of ours (any address
    /// space) and no on-link route of the host.
    fn next_subnet(&mut self) -> Result<IpNet> {
        let mut alloc = SubnetAllocator::with_pools(self.defaults.clone());
        let ours: Vec<IpNet> = self.pools.values().map(|(_, p)| p.subnet()).collect();
        for s in &ours {
            let _ = alloc.request(*s);
        }
        let mut nl = Socket::new().map_err(|e| Error::State {
            op: "open netlink to read routes for",
            path: "the default pools".into(),
            detail: e.to_string(),
        })?;
        let reserved = host::reserved_prefixes(&mut nl, &ours).map_err(Error::bridge(
            "read the host's routes for",
            "the default pools",
        ))?;
        alloc.next(&reserved).map_err(|source| Error::Ipam {
            object: "default pools".into(),
            cause: source,
        })
    }

    /// ReleasePool. Idempotent.
    pub fn release_pool(&mut self, r: &PoolRef) -> Result<()> {
        if !self.pools.contains_key(&r.pool_id) {
            return Ok(());
        }
        self.change(|me| {
            me.pools.remove(&r.pool_id);
            Ok(())
        })
    }

    /// RequestAddress: the gateway (marked by its option), a given
    /// address, or the next one.
    pub fn request_address(&mut self, r: &RequestAddress) -> Result<RequestAddressReply> {
        let id = r.pool_id.clone();
        let gateway = r
            .options
            .as_ref()
            .and_then(|o| o.get(REQUEST_ADDRESS_TYPE))
            .is_some_and(|t| t == GATEWAY_TYPE);
        let given: Option<IpAddr> = match r.address.as_str() {
            "" => None,
            a => Some(
                a.split('/')
                    .next()
                    .unwrap_or(a)
                    .parse()
                    .map_err(|e| Error::invalid(format!("pool {id}"), "Address", a, e))?,
            ),
        };
        self.change(|me| {
            let (rec, pool) = me.pools.get_mut(&id).ok_or_else(|| Error::PoolNotFound {
                pool_id: id.clone(),
            })?;
            let addr = if gateway {
                if let Some(g) = given
                    && g != pool.gateway()
                {
                    if pool.allocated().next().is_some() {
                        return Err(Error::invalid(
                            format!("pool {id}"),
                            "gateway",
                            g,
                            format!(
                                "the pool has addresses handed out around gateway {}",
                                pool.gateway()
                            ),
                        ));
                    }
                    let mut b = Pool::builder(pool.subnet()).order(Order::Serial).gateway(g);
                    if let Some(rg) = pool.range() {
                        b = b.range(rg);
                    }
                    *pool = b.build().map_err(pool_error(&id))?;
                }
                if rec.gateway_taken {
                    return Err(Error::invalid(
                        format!("pool {id}"),
                        "gateway",
                        pool.gateway(),
                        "handed out already",
                    ));
                }
                rec.gateway_taken = true;
                pool.gateway()
            } else if let Some(a) = given {
                pool.request(a).map_err(pool_error(&id))?;
                a
            } else {
                pool.allocate().map_err(pool_error(&id))?
            };
            let cidr = IpNet::new(addr, pool.subnet().prefix_len())
                .map_err(|e| Error::invalid(format!("pool {id}"), "Address", addr, e))?;
            Ok(RequestAddressReply {
                address: cidr.to_string(),
                data: BTreeMap::new(),
            })
        })
    }

    /// ReleaseAddress.
    pub fn release_address(&mut self, r: &ReleaseAddress) -> Result<()> {
        let id = r.pool_id.clone();
        let addr: IpAddr = r
            .address
            .split('/')
            .next()
            .unwrap_or(&r.address)
            .parse()
            .map_err(|e| Error::invalid(format!("pool {id}"), "Address", &r.address, e))?;
        self.change(|me| {
            let (rec, pool) = me.pools.get_mut(&id).ok_or_else(|| Error::PoolNotFound {
                pool_id: id.clone(),
            })?;
            if addr == pool.gateway() {
                rec.gateway_taken = false;
                return Ok(());
            }
            pool.release(addr).map_err(pool_error(&id))
        })
    }

    /// The pool ids.
    #[cfg(test)]
    pub fn pool_ids(&self) -> Vec<String> {
        self.pools.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool_req(pool: &str, sub: &str, v6: bool) -> RequestPool {
        RequestPool {
            address_space: LOCAL_SPACE.into(),
            pool: pool.into(),
            sub_pool: sub.into(),
            v6,
        }
    }

    fn addr_req(id: &str, addr: &str, gw: bool) -> RequestAddress {
        RequestAddress {
            pool_id: id.into(),
            address: addr.into(),
            options: gw.then(|| {
                BTreeMap::from([(REQUEST_ADDRESS_TYPE.to_owned(), GATEWAY_TYPE.to_owned())])
            }),
        }
    }

    #[test]
    fn gateway_then_serial_addresses_and_persistence() {
        let dir = tempfile::tempdir().unwrap();
        let mut ipam = Ipam::open(dir.path()).unwrap();
        let p = ipam
            .request_pool(&pool_req("172.40.0.0/24", "", false))
            .unwrap();
        assert_eq!(p.pool, "172.40.0.0/24");
        let gw = ipam
            .request_address(&addr_req(&p.pool_id, "", true))
            .unwrap();
        assert_eq!(gw.address, "172.40.0.1/24");
        let a = ipam
            .request_address(&addr_req(&p.pool_id, "", false))
            .unwrap();
        assert_eq!(a.address, "172.40.0.2/24");
        ipam.release_address(&ReleaseAddress {
            pool_id: p.pool_id.clone(),
            address: "172.40.0.2".into(),
        })
        .unwrap();
        // Serial: .2 is not handed out again at once; the state survives.
        let mut again = Ipam::open(dir.path()).unwrap();
        let b = again
            .request_address(&addr_req(&p.pool_id, "", false))
            .unwrap();
        assert_eq!(b.address, "172.40.0.3/24");
        let c = again
            .request_address(&addr_req(&p.pool_id, "172.40.0.9", false))
            .unwrap();
        assert_eq!(c.address, "172.40.0.9/24");
        let e = again
            .request_address(&addr_req(&p.pool_id, "172.40.0.9", false))
            .unwrap_err()
            .to_string();
        assert!(e.contains(&p.pool_id) && e.contains("172.40.0.9"), "{e}");
        again
            .release_pool(&PoolRef {
                pool_id: p.pool_id.clone(),
            })
            .unwrap();
        assert!(Ipam::open(dir.path()).unwrap().pool_ids().is_empty());
    }

    #[test]
    fn given_gateway_range_and_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let mut ipam = Ipam::open(dir.path()).unwrap();
        let p = ipam
            .request_pool(&pool_req("10.7.0.0/16", "10.7.5.0/24", false))
            .unwrap();
        assert_eq!(p.pool_id, "brnet/brnet-local/10.7.0.0/16/10.7.5.0/24");
        let gw = ipam
            .request_address(&addr_req(&p.pool_id, "10.7.0.254", true))
            .unwrap();
        assert_eq!(gw.address, "10.7.0.254/16");
        let a = ipam
            .request_address(&addr_req(&p.pool_id, "", false))
            .unwrap();
        assert!(a.address.starts_with("10.7.5."), "{}", a.address);
        let e = ipam
            .request_pool(&pool_req("10.7.128.0/24", "", false))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("overlaps pool brnet/brnet-local/10.7.0.0/16"),
            "{e}"
        );
        let e = ipam
            .request_pool(&pool_req("", "", true))
            .unwrap_err()
            .to_string();
        assert!(e.contains("IPv6 pool needs its subnet"), "{e}");
        let e = ipam
            .request_address(&addr_req("brnet/none", "", false))
            .unwrap_err()
            .to_string();
        assert!(e.contains("pool \"brnet/none\" not found"), "{e}");
        // A failed request changes nothing on disk or in memory.
        let e = ipam
            .request_address(&addr_req(&p.pool_id, "10.8.0.1", false))
            .unwrap_err()
            .to_string();
        assert!(e.contains("10.8.0.1"), "{e}");
        let v6 = ipam
            .request_pool(&pool_req("fd00:40::/64", "", true))
            .unwrap();
        let g6 = ipam
            .request_address(&addr_req(&v6.pool_id, "", true))
            .unwrap();
        assert_eq!(g6.address, "fd00:40::1/64");
    }
}
