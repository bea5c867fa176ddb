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

/// [`sysctl::NetDir`] gives what the path functions give (IPv6 off,
/// written once, read back; a read-only `/proc` fine when nothing has to
/// change, IPv6 left on otherwise; a missing link an error naming its
/// file), and stays bound to the namespace it was opened in: a link of
/// that namespace is reached from a thread inside another one.
#[test]
fn a_net_dir_opened_once_does_what_the_paths_do() {
    brnet_testkit::sandboxed(|| {
        sh("ip link add v0 type veth peer name v1 && ip link add v2 type veth peer name v3");
        let dir = sysctl::NetDir::open().unwrap();
        assert!(dir.ipv6_present());
        assert_eq!(dir.ipv6_off("v0").unwrap(), Ipv6Off::Off);
        assert!(sysctl::ipv6_is_off("v0").unwrap());
        // Written already: the same answer.
        assert_eq!(dir.ipv6_off("v0").unwrap(), Ipv6Off::Off);
        dir.write("ipv4/ip_forward", "1").unwrap();
        assert_eq!(dir.read("ipv4/ip_forward").unwrap(), "1");
        assert_eq!(sysctl::read(FORWARD).unwrap(), "1");
        let e = dir.ipv6_off("nope0").unwrap_err();
        assert_eq!(
            e.path(),
            std::path::Path::new("/proc/sys/net/ipv6/conf/nope0/disable_ipv6")
        );

        // From another namespace, the links of this one.
        let other = brnet_netns::isolated(|| {
            assert!(sysctl::ipv6_off("v2").is_err(), "not a link here");
            dir.ipv6_off("v2").unwrap()
        })
        .unwrap();
        assert_eq!(other, Ipv6Off::Off);
        assert!(sysctl::ipv6_is_off("v2").unwrap());

        sh("mount -t proc -o ro,nosuid,nodev,noexec proc /proc");
        let ro = sysctl::NetDir::open().unwrap();
        assert_eq!(ro.ipv6_off("v0").unwrap(), Ipv6Off::Off);
        ro.write("ipv4/ip_forward", "1").unwrap();
        let e = ro.write("ipv4/ip_forward", "0").unwrap_err();
        assert!(e.is_read_only(), "{e}");
        assert_eq!(e.path(), std::path::Path::new(FORWARD));
        assert_eq!(ro.ipv6_off("v1").unwrap(), Ipv6Off::LeftOn);
        assert!(!sysctl::ipv6_is_off("v1").unwrap());
    });
}

/// A `NetDir` opened where `/proc/sys/net/ipv6` is not there: IPv6 is off
/// on every link already.
#[test]
fn a_net_dir_without_the_ipv6_tree_finds_ipv6_off_already() {
    brnet_testkit::sandboxed(|| {
        sh("ip link add v0 type veth peer name v1");
        sh("mount -t tmpfs none /proc/sys/net");
        let dir = sysctl::NetDir::open().unwrap();
        assert!(!dir.ipv6_present());
        assert_eq!(dir.ipv6_off("v0").unwrap(), Ipv6Off::NoIpv6);
    });
}

/// [`sysctl::open_net_file`] opens the calling thread's namespace's file
/// (through a procfs instance of the process's own, replaced every 64
/// lookups: the value read is each namespace's own, past the
/// replacements), read-only where `/proc` is, and not at all where the
/// path shows nothing.
#[test]
fn open_net_file_opens_the_calling_threads_namespaces_file() {
    use std::io::Read;
    const DEFAULT: &str = "ipv6/conf/default/disable_ipv6";
    let read = |write: bool| {
        let mut s = String::new();
        sysctl::open_net_file(DEFAULT, write)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        s.trim().to_owned()
    };
    brnet_testkit::sandboxed(|| {
        sysctl::write(format!("{NET}/{DEFAULT}", NET = sysctl::NET), "1").unwrap();
        assert_eq!(read(true), "1");
        for _ in 0..70 {
            // A fresh namespace has its own default: IPv6 on.
            assert_eq!(brnet_netns::isolated(|| read(true)).unwrap(), "0");
            assert_eq!(read(false), "1");
        }

        sh("mount -t proc -o ro,nosuid,nodev,noexec proc /proc");
        assert_eq!(read(false), "1");
        let e = sysctl::open_net_file(DEFAULT, true).unwrap_err();
        assert!(e.is_read_only(), "{e}");
        assert_eq!(
            e.path(),
            std::path::Path::new("/proc/sys/net/ipv6/conf/default/disable_ipv6")
        );
    });
    brnet_testkit::sandboxed(|| {
        sh("mount -t tmpfs none /proc/sys/net");
        assert!(sysctl::open_net_file(DEFAULT, false).is_err());
    });
}
