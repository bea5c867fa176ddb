//! Routes in the main table: add, delete, list.

use std::net::IpAddr;

use super::Socket;
use crate::consts::RT_TABLE_MAIN;
use crate::error::Result;
use crate::family::Family;
use crate::msg;
use crate::route::{Route, RouteSpec};

impl Socket {
    /// `ip route add SPEC`.
    pub fn add_route(&mut self, spec: &RouteSpec) -> Result<()> {
        self.request(msg::new_route(spec)?, "add route", spec)
    }

    /// `ip route del SPEC`.
    pub fn delete_route(&mut self, spec: &RouteSpec) -> Result<()> {
        self.request(msg::delete_route(spec)?, "delete route", spec)
    }

    /// `ip route add default via GW`.
    pub fn add_default_route(&mut self, gateway: IpAddr) -> Result<()> {
        self.add_route(&RouteSpec::default_via(gateway))
    }

    /// `ip route add default via GW metric M` (`None`: the kernel's).
    pub fn add_default_route_with_metric(
        &mut self,
        gateway: IpAddr,
        metric: Option<u32>,
    ) -> Result<()> {
        self.add_route(&RouteSpec::default_via(gateway).with_metric(metric))
    }

    /// `ip route del default via GW`.
    pub fn delete_default_route(&mut self, gateway: IpAddr) -> Result<()> {
        self.delete_route(&RouteSpec::default_via(gateway))
    }

    /// The main table's routes of one family.
    pub fn routes(&mut self, family: Family) -> Result<Vec<Route>> {
        self.dump(msg::dump_routes(family)?, "list routes", &"", |p| {
            let r = Route::parse(p)?;
            Ok((r.table == RT_TABLE_MAIN).then_some(r))
        })
    }
}
