//! The sysctls of the bridge model, under `/proc/sys` in the calling
//! thread's network namespace. Each is written only when it differs, and
//! read back (the mechanism is [`brnet_netns::sysctl`]'s).

use brnet_netlink::IfName;

pub use brnet_netns::sysctl::{Error, read, write};

fn flag(on: bool) -> &'static str {
    if on { "1" } else { "0" }
}

/// `net.ipv4.ip_forward`.
pub const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// Whether `net.ipv4.ip_forward` is on.
pub fn ip_forward() -> Result<bool, Error> {
    Ok(read(IP_FORWARD)? == "1")
}

/// Set `net.ipv4.ip_forward`.
pub fn set_ip_forward(on: bool) -> Result<(), Error> {
    write(IP_FORWARD, flag(on))
}

/// `net.ipv6.conf.all.forwarding`.
pub fn set_ipv6_forwarding(on: bool) -> Result<(), Error> {
    write("/proc/sys/net/ipv6/conf/all/forwarding", flag(on))
}

/// `net.ipv4.conf.<link>.route_localnet`: let 127.0.0.0/8 be routed to
/// `link` (published ports answering on 127.0.0.1).
pub fn set_route_localnet(link: &IfName, on: bool) -> Result<(), Error> {
    write(
        format!("/proc/sys/net/ipv4/conf/{link}/route_localnet"),
        flag(on),
    )
}

/// `net.ipv6.conf.<link>.accept_ra` (Docker sets 0 on its bridges).
pub fn set_accept_ra(link: &IfName, value: u8) -> Result<(), Error> {
    write(
        format!("/proc/sys/net/ipv6/conf/{link}/accept_ra"),
        &value.to_string(),
    )
}

/// `net.ipv6.conf.<link>.disable_ipv6`. Turning it off goes through
/// [`brnet_netns::sysctl::ipv6_off`]: a kernel without IPv6 has it off
/// already, a read-only `/proc/sys` leaves it on (IPv6 off is a saving,
/// not a need).
pub fn set_disable_ipv6(link: &IfName, disabled: bool) -> Result<(), Error> {
    if disabled {
        brnet_netns::sysctl::ipv6_off(link.as_str()).map(drop)
    } else if brnet_netns::sysctl::ipv6_present() {
        write(brnet_netns::sysctl::disable_ipv6_path(link.as_str()), "0")
    } else {
        Ok(())
    }
}

/// Whether IPv6 is disabled on `link` (also when the kernel has none).
pub fn disable_ipv6(link: &IfName) -> Result<bool, Error> {
    brnet_netns::sysctl::ipv6_is_off(link.as_str())
}
