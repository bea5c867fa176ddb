//! An overlay network's settings (`-o vni=`, `--cluster`, `-o vtep=`),
//! below the drivers and the options that name them; the overlay driver
//! itself is `overlay.rs`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use brnet_overlay::cluster::Cluster;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `-o vni=N`: the network's VNI (chosen from 4096 when not given).
pub const OPT_VNI: &str = "vni";
/// `-o cluster=ADDR` (`--cluster`): the store, `etcd://HOST:PORT` or
/// `dir:///PATH`.
pub const OPT_CLUSTER: &str = "cluster";
/// `-o vtep=ADDR`: this host's VTEP (underlay) address.
pub const OPT_VTEP: &str = "vtep";
/// The embedded store every host of this machine shares, when none is
/// given.
pub const DEFAULT_CLUSTER: &str = "dir:///var/lib/brnet-cluster";
/// A host's lease TTL: how long its endpoints outlive it elsewhere.
pub const HOST_TTL: Duration = Duration::from_secs(10);

/// An overlay network's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverlayOptions {
    /// The VNI (`-o vni=`); `None` until the store chose one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vni: Option<u32>,
    /// The store's address (`--cluster`); [`DEFAULT_CLUSTER`] when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// This host's VTEP (`-o vtep=`); found when the network is made (the
    /// default route's link's first IPv4 address) when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vtep: Option<IpAddr>,
}

impl OverlayOptions {
    /// The store's address.
    pub fn cluster_address(&self) -> &str {
        self.cluster.as_deref().unwrap_or(DEFAULT_CLUSTER)
    }

    /// Open the cluster's records.
    pub fn cluster(&self, network: &str) -> Result<Cluster> {
        let store =
            brnet_overlay::store::open(self.cluster_address()).map_err(|e| Error::Cluster {
                network: network.to_owned(),
                cause: e.into(),
            })?;
        Ok(Cluster::new(Arc::from(store)))
    }

    /// Set one `-o` option.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            OPT_VNI => {
                let v: u32 = value
                    .parse()
                    .map_err(|_| Error::option(key, value, "expected a number"))?;
                if v == 0 || v > brnet_overlay::cluster::MAX_VNI {
                    return Err(Error::option(
                        key,
                        value,
                        format!("out of range (1..={})", brnet_overlay::cluster::MAX_VNI),
                    ));
                }
                self.vni = Some(v);
            }
            OPT_CLUSTER => {
                brnet_overlay::store::open(value).map_err(|e| Error::option(key, value, e))?;
                self.cluster = Some(value.to_owned());
            }
            _ => {
                self.vtep = Some(
                    value
                        .parse()
                        .map_err(|_| Error::option(key, value, "expected an IPv4 address"))?,
                );
            }
        }
        Ok(())
    }
}
