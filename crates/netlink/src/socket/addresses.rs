//! Addresses: add, delete, list (IPv4 and IPv6).

use std::fmt;

use ipnet::IpNet;

use super::Socket;
use crate::addr::Address;
use crate::error::Result;
use crate::family::Family;
use crate::msg;

struct On<'a>(&'a IpNet, u32);

impl fmt::Display for On<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on ifindex {}", self.0, self.1)
    }
}

impl Socket {
    /// `ip addr add NET dev INDEX` (IPv4 gets its broadcast address).
    pub fn add_address(&mut self, index: u32, net: &IpNet) -> Result<()> {
        self.request(
            msg::new_address(index, net, false)?,
            "add address",
            &On(net, index),
        )
    }

    /// Add an IPv6 address without duplicate address detection
    /// (`nodad`), as container runtimes do for addresses they own.
    pub fn add_address_nodad(&mut self, index: u32, net: &IpNet) -> Result<()> {
        self.request(
            msg::new_address(index, net, true)?,
            "add address",
            &On(net, index),
        )
    }

    /// `ip addr del NET dev INDEX`.
    pub fn delete_address(&mut self, index: u32, net: &IpNet) -> Result<()> {
        self.request(
            msg::delete_address(index, net)?,
            "delete address",
            &On(net, index),
        )
    }

    /// Every address in the socket's namespace (`family` `None`: both).
    pub fn addresses(&mut self, family: Option<Family>) -> Result<Vec<Address>> {
        self.dump(msg::dump_addresses(family)?, "list addresses", &"", |p| {
            Address::parse(p).map(Some)
        })
    }

    /// The addresses of one link.
    ///
    /// Asked of the kernel for that link alone, with strict checking on
    /// for the request: without it the kernel answers with every link's
    /// addresses (a thousand veths' at a thousand containers), filtered
    /// here. A kernel that refuses the filtered dump is asked for all.
    pub fn addresses_of(&mut self, index: u32) -> Result<Vec<Address>> {
        let mut all = match self.t.set_strict_checking(true) {
            Ok(()) => {
                let filtered = msg::dump_addresses_of(None, index).and_then(|m| {
                    self.dump(m, "list addresses", &"", |p| Address::parse(p).map(Some))
                });
                let _ = self.t.set_strict_checking(false);
                match filtered {
                    Ok(found) => found,
                    Err(_) => self.addresses(None)?,
                }
            }
            Err(_) => self.addresses(None)?,
        };
        all.retain(|a| a.index == index);
        Ok(all)
    }
}
