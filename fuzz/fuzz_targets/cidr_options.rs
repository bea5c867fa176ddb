//! CIDR, option and name parsing: `parse_cidr` (and its IPv4/IPv6 forms),
//! `parse_aux`, `validate_network_name`, `NetworkOptions::set_option`
//! (split at the first `=`), `NetnsRef`, `NetworkMode`, `IfName`,
//! `MacAddr`, each on the whole input; then the input's lines as a network
//! create command line (`--subnet=`, `--gateway=`, `--ip-range=`,
//! `--aux-address=`, the same with `6` for IPv6, `-o KEY=VALUE` otherwise)
//! through `NetworkOptions::validate` and, when it validates and has a
//! subnet, the address pools of `state::Net::new`.
#![no_main]

use std::net::IpAddr;

use bridge_net::state::{Net, NetworkRecord};
use bridge_net::{
    IpamConfig, NetnsRef, NetworkMode, NetworkOptions, parse_aux, parse_cidr,
    validate_network_name,
};
use brnet_netlink::{IfName, MacAddr};
use libfuzzer_sys::fuzz_target;

fn one_value(s: &str) {
    match parse_cidr("--subnet", s) {
        Ok(net) => {
            assert_eq!(net.addr(), net.network(), "{s:?}: host bits accepted");
            assert_ne!(net.prefix_len(), 0);
            assert_eq!(parse_cidr("--subnet", &net.to_string()).ok(), Some(net));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    match parse_aux(s) {
        Ok((name, ip)) => assert_eq!(parse_aux(&format!("{name}={ip}")).ok(), Some((name, ip))),
        Err(e) => drop(e.to_string()),
    }
    match validate_network_name(s) {
        Ok(()) => assert!(!s.is_empty() && s.len() <= 128 && s.is_ascii()),
        Err(e) => drop(e.to_string()),
    }
    if let Some((k, v)) = s.split_once('=') {
        let mut o = NetworkOptions::default();
        match o.set_option(k, v) {
            Ok(()) => {
                assert_eq!(o.driver_options.get(k).map(String::as_str), Some(v));
                // An option that was taken leaves options that validate.
                o.validate().unwrap_or_else(|e| panic!("{s:?}: {e}"));
            }
            Err(e) => drop(e.to_string()),
        }
    }
    match s.parse::<NetnsRef>() {
        Ok(r) => {
            assert_eq!(r.to_string().parse::<NetnsRef>().ok().as_ref(), Some(&r));
            let _ = r.short_name();
            let _ = r.path().map_err(|e| e.to_string());
        }
        Err(e) => drop(e.to_string()),
    }
    match s.parse::<NetworkMode>() {
        Ok(_) => {}
        Err(e) => drop(e.to_string()),
    }
    match IfName::new(s) {
        Ok(n) => {
            assert!(!s.is_empty() && s.len() <= brnet_netlink::MAX_IFNAME_LEN);
            assert_eq!(n.to_string().parse::<IfName>().ok(), Some(n));
        }
        Err(e) => drop(e.to_string()),
    }
    match s.parse::<MacAddr>() {
        Ok(m) => {
            assert_eq!(m.to_string().parse::<MacAddr>().ok(), Some(m));
            let _ = m.unicast().map_err(|e| e.to_string());
        }
        Err(e) => drop(e.to_string()),
    }
}

fn v6(o: &mut NetworkOptions) -> &mut IpamConfig {
    o.ipv6.get_or_insert_with(IpamConfig::default)
}

/// One line of the command line; `Err` stops like the CLI would.
fn apply(o: &mut NetworkOptions, line: &str) -> Result<(), String> {
    let (k, v) = line.split_once('=').ok_or("no =")?;
    let e = |e: bridge_net::Error| e.to_string();
    let ip = |v: &str| v.parse::<IpAddr>().map_err(|e| e.to_string());
    match k {
        "--subnet" => o.ipv4.subnet = Some(parse_cidr(k, v).map_err(e)?),
        "--gateway" => o.ipv4.gateway = Some(ip(v)?),
        "--ip-range" => o.ipv4.ip_range = Some(parse_cidr(k, v).map_err(e)?),
        "--aux-address" => {
            let (n, a) = parse_aux(v).map_err(e)?;
            o.ipv4.aux_addresses.insert(n, a);
        }
        "--subnet6" => v6(o).subnet = Some(parse_cidr(k, v).map_err(e)?),
        "--gateway6" => v6(o).gateway = Some(ip(v)?),
        "--ip-range6" => v6(o).ip_range = Some(parse_cidr(k, v).map_err(e)?),
        "--aux-address6" => {
            let (n, a) = parse_aux(v).map_err(e)?;
            v6(o).aux_addresses.insert(n, a);
        }
        "--internal" => o.internal = v == "true",
        _ => o.set_option(k, v).map_err(e)?,
    }
    Ok(())
}

fn command_line(s: &str) {
    let mut o = NetworkOptions::default();
    for line in s.lines() {
        if apply(&mut o, line).is_err() {
            return;
        }
    }
    // The options are saved in the state file: JSON round-trips.
    let json = serde_json::to_string(&o).expect("options serialise");
    let back: NetworkOptions = serde_json::from_str(&json).expect("options deserialise");
    assert_eq!(back, o);
    if o.validate().is_err() || o.ipv4.subnet.is_none() {
        return;
    }
    let rec = NetworkRecord {
        id: "0".repeat(64),
        name: "fuzz".into(),
        created: "2026-01-01T00:00:00Z".into(),
        bridge: "br-fuzz".into(),
        default: false,
        adopted: false,
        restore: Default::default(),
        options: o,
    };
    // Validated options may still be refused by the pools (a gateway equal
    // to the network address, ...), but with an error, never a panic.
    match Net::new(rec) {
        Ok(net) => {
            let _ = (net.subnet4(), net.subnet6());
        }
        Err(e) => drop(e),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    one_value(s);
    if s.contains('\n') {
        command_line(s);
    }
});
