//! The namespace's sysctls: written only when they differ, so a read-only
//! `/proc` is fine when nothing has to change; IPv6 off on a link, on a
//! kernel with IPv6, without it, and with `/proc` read-only.

use brnet_netns::sysctl::{self, Ipv6Off};
use brnet_testkit::cmd::sh;

const FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

#[test]
fn a_value_already_there_is_not_written_even_read_only() {
    brnet_testkit::sandboxed(|| {
        sh("ip link add v0 type veth peer name v1");
        sysctl::write(FORWARD, "1").unwrap();
        assert_eq!(sysctl::ipv6_off("v0").unwrap(), Ipv6Off::Off);
        assert!(sysctl::ipv6_is_off("v0").unwrap());
        sh("mount -t proc -o ro,nosuid,nodev,noexec proc /proc");
        // Nothing to change: fine on a read-only /proc.
        sysctl::write(FORWARD, "1").unwrap();
        assert_eq!(sysctl::ipv6_off("v0").unwrap(), Ipv6Off::Off);
        // Something to change: a typed error naming the file.
        let e = sysctl::write(FORWARD, "0").unwrap_err();
        assert!(e.is_read_only(), "{e}");
        assert_eq!(e.path(), std::path::Path::new(FORWARD));
        assert!(
            e.to_string().contains("read-only file system (EROFS)"),
            "{e}"
        );
        // IPv6 off is a saving, not a need: left on, said so.
        assert_eq!(sysctl::ipv6_off("v1").unwrap(), Ipv6Off::LeftOn);
        assert!(!sysctl::ipv6_is_off("v1").unwrap());
        // A link that is not there is an error still.
        assert!(sysctl::ipv6_off("nope0").is_err());
    });
}

/// A kernel booted with `ipv6.disable=1` has no `/proc/sys/net/ipv6`
/// (shown here by hiding it in the sandbox's mount namespace): IPv6 is
/// off on every link already.
#[test]
fn without_the_ipv6_tree_ipv6_is_off_already() {
    brnet_testkit::sandboxed(|| {
        sh("ip link add v0 type veth peer name v1");
        sh("mount -t tmpfs none /proc/sys/net");
        assert!(!sysctl::ipv6_present());
        assert_eq!(sysctl::ipv6_off("v0").unwrap(), Ipv6Off::NoIpv6);
        assert!(sysctl::ipv6_is_off("v0").unwrap());
    });
}
