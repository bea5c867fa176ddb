//! Routes in the main table: add and delete (a default route via a
//! gateway, or any prefix), list.

use std::fmt;
use std::io::Cursor;
use std::net::IpAddr;

use ipnet::IpNet;
use neli::FromBytesWithInput;
use neli::consts::rtnl::Rta;
use neli::rtnl::Rtmsg;

use crate::attr::u32_of;
use crate::error::{Error, Result};
use crate::family::ip_of;

/// A route to add or delete in the main table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    /// Destination; `None` (or a /0) is the default route.
    pub dst: Option<IpNet>,
    /// Next hop.
    pub gateway: Option<IpAddr>,
    /// Output interface.
    pub oif: Option<u32>,
    /// Priority (`metric`); `None`: the kernel's (0 for IPv4, 1024 for
    /// IPv6).
    pub metric: Option<u32>,
}

impl RouteSpec {
    /// `default via GW`.
    pub fn default_via(gateway: IpAddr) -> RouteSpec {
        RouteSpec {
            dst: None,
            gateway: Some(gateway),
            oif: None,
            metric: None,
        }
    }

    /// The same route with metric `metric`.
    #[must_use]
    pub fn with_metric(mut self, metric: Option<u32>) -> RouteSpec {
        self.metric = metric;
        self
    }
}

impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.dst {
            Some(d) if d.prefix_len() > 0 => write!(f, "{d}")?,
            _ => f.write_str("default")?,
        }
        if let Some(gw) = &self.gateway {
            write!(f, " via {gw}")?;
        }
        if let Some(oif) = self.oif {
            write!(f, " dev ifindex {oif}")?;
        }
        if let Some(m) = self.metric {
            write!(f, " metric {m}")?;
        }
        Ok(())
    }
}

/// A route as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination; `None` for the default route.
    pub dst: Option<IpNet>,
    /// Next hop.
    pub gateway: Option<IpAddr>,
    /// Output interface.
    pub oif: Option<u32>,
    /// Routing table id.
    pub table: u32,
    /// `RTPROT_*`.
    pub protocol: u8,
    /// `RT_SCOPE_*`.
    pub scope: u8,
    /// `RTN_*`.
    pub kind: u8,
    /// Priority (`RTA_PRIORITY`; `None` when not reported).
    pub metric: Option<u32>,
}

impl Route {
    /// Parse an `RTM_NEWROUTE` payload.
    pub fn parse(payload: &[u8]) -> Result<Route> {
        let bad = |d: String| Error::Decode {
            op: "parse route",
            object: String::new(),
            detail: d,
        };
        let msg = Rtmsg::from_bytes_with_input(&mut Cursor::new(payload), payload.len())
            .map_err(|e| bad(e.to_string()))?;
        let family = *msg.rtm_family();
        let mut route = Route {
            dst: None,
            gateway: None,
            oif: None,
            table: u32::from(u8::from(*msg.rtm_table())),
            protocol: u8::from(*msg.rtm_protocol()),
            scope: u8::from(*msg.rtm_scope()),
            kind: u8::from(*msg.rtm_type()),
            metric: None,
        };
        for a in msg.rtattrs().iter() {
            let p = a.rta_payload().as_ref();
            match *a.rta_type() {
                Rta::Dst => {
                    if let Some(ip) = ip_of(family, p) {
                        route.dst = IpNet::new(ip, *msg.rtm_dst_len()).ok();
                    }
                }
                Rta::Gateway => route.gateway = ip_of(family, p),
                Rta::Oif => route.oif = u32_of(p),
                Rta::Table => route.table = u32_of(p).unwrap_or(route.table),
                Rta::Priority => route.metric = u32_of(p),
                _ => {}
            }
        }
        Ok(route)
    }

    /// Whether this is a default route.
    pub fn is_default(&self) -> bool {
        self.dst.is_none_or(|d| d.prefix_len() == 0)
    }
}
