//! The saved forms of a [`Pool`](crate::Pool) and a
//! [`SubnetAllocator`](crate::SubnetAllocator): compact, versioned, and
//! checked when loaded.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::de::{self, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::order::Order;

/// The version of the saved forms this build writes and reads.
pub const STATE_VERSION: u32 = 1;

/// A [`Pool`](crate::Pool) as saved: its options, the serial cursor, the
/// allocated addresses as ascending ranges and the reserved addresses. Not a
/// bit dump: a /16 with 65,533 containers is one range.
///
/// ```json
/// {"version":1,"subnet":"172.20.0.0/16","gateway":"172.20.0.1","order":"serial",
///  "cursor":"172.20.0.12","allocated":["172.20.0.2-172.20.0.9","172.20.0.11"],
///  "reserved":["172.20.0.200"]}
/// ```
///
/// `range` (the ip-range) appears only when set; `allocated` and `reserved`
/// only when not empty. Unknown fields are refused.
///
/// Deserialising a `PoolState` checks only the syntax; turn it into a pool
/// with [`Pool::from_state`](crate::Pool::from_state) (or `TryFrom`) to get
/// every consistency check as a typed [`Error`](crate::Error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolState {
    pub(crate) version: u32,
    pub(crate) subnet: IpNet,
    pub(crate) gateway: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) range: Option<IpNet>,
    pub(crate) order: Order,
    pub(crate) cursor: IpAddr,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) allocated: Vec<Run>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) reserved: Vec<IpAddr>,
}

impl PoolState {
    /// The version the state was written with.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The saved pool's subnet.
    pub fn subnet(&self) -> IpNet {
        self.subnet
    }
}

/// An inclusive range of addresses, saved as `"a"` or `"a-b"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) start: IpAddr,
    pub(crate) end: IpAddr,
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

impl Serialize for Run {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Run {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Run, D::Error> {
        deserializer.deserialize_str(RunVisitor)
    }
}

struct RunVisitor;

impl Visitor<'_> for RunVisitor {
    type Value = Run;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an address or an address range like \"172.17.0.2-172.17.0.9\"")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Run, E> {
        let parsed = match s.split_once('-') {
            Some((a, b)) => a.parse().and_then(|a| Ok((a, b.parse()?))),
            None => s.parse().map(|a| (a, a)),
        };
        match parsed {
            Ok((start, end)) => Ok(Run { start, end }),
            Err(_) => Err(E::invalid_value(Unexpected::Str(s), &self)),
        }
    }
}

/// A [`SubnetAllocator`](crate::SubnetAllocator) as saved: its default
/// pools and its allocated subnets.
///
/// ```json
/// {"version":1,"pools":[{"base":"172.17.0.0/16","size":16}],"allocated":["172.17.0.0/16"]}
/// ```
///
/// As with [`PoolState`], deserialising checks only the syntax;
/// [`SubnetAllocator::from_state`](crate::SubnetAllocator::from_state)
/// checks the rest and returns a typed [`Error`](crate::Error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocatorState {
    pub(crate) version: u32,
    pub(crate) pools: Vec<PoolSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) allocated: Vec<IpNet>,
}

impl AllocatorState {
    /// The version the state was written with.
    pub fn version(&self) -> u32 {
        self.version
    }
}

/// A default pool as written, before its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PoolSpec {
    pub(crate) base: IpNet,
    pub(crate) size: u8,
}
