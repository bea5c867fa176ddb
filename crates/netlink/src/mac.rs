//! Ethernet (MAC) addresses.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A 48-bit Ethernet address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// Whether the group (multicast/broadcast) bit is set.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// Whether it is `00:00:00:00:00:00`.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }

    /// Whether the locally-administered bit is set.
    pub fn is_local(&self) -> bool {
        self.0[0] & 2 == 2
    }

    /// Check that the address can be assigned to an interface: not
    /// multicast or broadcast, not all zeros (the kernel's
    /// `is_valid_ether_addr`).
    pub fn unicast(self) -> Result<Self> {
        if self.is_multicast() {
            Err(Error::InvalidMac {
                value: self.to_string(),
                problem: "multicast or broadcast address cannot be assigned to an interface",
            })
        } else if self.is_zero() {
            Err(Error::InvalidMac {
                value: self.to_string(),
                problem: "the all-zero address cannot be assigned to an interface",
            })
        } else {
            Ok(self)
        }
    }

    /// The bytes.
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// A random, locally administered, unicast address (Docker v28+'s
    /// choice; [`brnet_netns::random_bytes`]).
    pub fn random_local() -> MacAddr {
        let mut b = brnet_netns::random_bytes::<6>();
        b[0] = (b[0] & 0xfe) | 0x02;
        MacAddr(b)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddr({self})")
    }
}

impl FromStr for MacAddr {
    type Err = Error;

    /// Parse `02:42:ac:11:00:02` (also with `-` separators). Only the
    /// syntax is checked; use [`MacAddr::unicast`] before assigning it.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |problem| Error::InvalidMac {
            value: s.to_owned(),
            problem,
        };
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in &mut out {
            let part = parts.next().ok_or_else(|| bad("expected six hex bytes"))?;
            if part.len() != 2 {
                return Err(bad("each byte must be two hex digits"));
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad("not a hex byte"))?;
        }
        if parts.next().is_some() {
            return Err(bad("expected six hex bytes"));
        }
        Ok(MacAddr(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_show() {
        let m: MacAddr = "02:42:AC:11:00:02".parse().unwrap();
        assert_eq!(m.to_string(), "02:42:ac:11:00:02");
        assert!(m.is_local() && !m.is_multicast());
        assert_eq!("02-42-ac-11-00-02".parse::<MacAddr>().unwrap(), m);
        for bad in [
            "",
            "02:42:ac:11:00",
            "02:42:ac:11:00:02:03",
            "2:42:ac:11:00:02",
            "zz:42:ac:11:00:02",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn random_ones_are_local_unicast_and_differ() {
        let (a, b) = (MacAddr::random_local(), MacAddr::random_local());
        assert!(a.is_local() && !a.is_multicast() && a.unicast().is_ok());
        assert_ne!(a, b);
    }

    #[test]
    fn assignable() {
        let bcast: MacAddr = "ff:ff:ff:ff:ff:ff".parse().unwrap();
        let e = bcast.unicast().unwrap_err().to_string();
        assert!(
            e.contains("ff:ff:ff:ff:ff:ff") && e.contains("multicast"),
            "{e}"
        );
        let zero: MacAddr = "00:00:00:00:00:00".parse().unwrap();
        assert!(zero.unicast().unwrap_err().to_string().contains("all-zero"));
        assert!(MacAddr([2, 0x42, 172, 17, 0, 2]).unicast().is_ok());
    }
}
