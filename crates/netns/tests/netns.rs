//! Privileged tests: each runs in its own `isolated` sandbox.

use std::process::Command;

use brnet_netns::{Error, Netns, NetnsDir, isolated, privileged_test};
use brnet_testkit::cmd::ip;

#[test]
fn sandbox_is_a_fresh_namespace_with_lo_up() {
    if !privileged_test() {
        return;
    }
    let outside = Netns::current().unwrap().id().unwrap();
    let (inside, dev, netns) = isolated(|| {
        (
            Netns::current().unwrap().id().unwrap(),
            std::fs::read_to_string("/proc/thread-self/net/dev").unwrap(),
            NetnsDir::default().list().unwrap(),
        )
    })
    .unwrap();
    assert_ne!(inside, outside);
    assert!(dev.contains("lo:"));
    assert_eq!(
        dev.lines().count(),
        3,
        "only lo in a fresh namespace: {dev}"
    );
    assert!(netns.is_empty());
    // lo is up inside: a child process sees it UP.
    let out = isolated(|| ip(&["-br", "link", "show", "lo"])).unwrap();
    assert!(out.contains("UNKNOWN") || out.contains("UP"), "{out}");
    // The sandbox never touched the caller's namespace.
    assert_eq!(Netns::current().unwrap().id().unwrap(), outside);
}

#[test]
fn create_list_open_delete_and_iproute2_sees_ours() {
    brnet_testkit::sandboxed(|| {
        let dir = NetnsDir::default();
        let before = Netns::current().unwrap().id().unwrap();
        let c1 = dir.create("c1").unwrap();
        let c2 = dir.create("c2").unwrap();
        // The caller's thread is back where it was.
        assert_eq!(Netns::current().unwrap().id().unwrap(), before);
        assert_ne!(c1.id().unwrap(), before);
        assert_ne!(c1.id().unwrap(), c2.id().unwrap());
        assert_eq!(c1.name(), Some("c1"));
        assert_eq!(dir.list().unwrap(), ["c1", "c2"]);

        // iproute2 sees ours...
        let listed = ip(&["netns", "list"]);
        assert!(listed.contains("c1") && listed.contains("c2"), "{listed}");
        let inside = ip(&["netns", "exec", "c1", "ip", "-br", "link"]);
        assert!(inside.contains("lo"), "{inside}");
        // ...and we see theirs.
        ip(&["netns", "add", "theirs"]);
        assert_eq!(dir.list().unwrap(), ["c1", "c2", "theirs"]);
        let theirs = dir.open("theirs").unwrap();
        let ino = ip(&[
            "netns",
            "exec",
            "theirs",
            "stat",
            "-L",
            "-c",
            "%i",
            "/proc/self/ns/net",
        ]);
        assert_eq!(ino.trim(), theirs.id().unwrap().ino.to_string());

        // Opening again gives the same namespace.
        assert_eq!(dir.open("c1").unwrap().id().unwrap(), c1.id().unwrap());

        dir.delete("c1").unwrap();
        dir.delete("theirs").unwrap();
        assert_eq!(dir.list().unwrap(), ["c2"]);
        assert!(!ip(&["netns", "list"]).contains("c1"));
    });
}

#[test]
fn typed_errors_for_duplicates_missing_and_bad_paths() {
    brnet_testkit::sandboxed(|| {
        let dir = NetnsDir::default();
        dir.create("dup").unwrap();
        match dir.create("dup") {
            Err(Error::AlreadyExists { name, .. }) => assert_eq!(name, "dup"),
            other => panic!("{other:?}"),
        }
        match dir.delete("nope") {
            Err(e @ Error::NotFound { .. }) => {
                assert!(e.to_string().contains("\"nope\""), "{e}")
            }
            other => panic!("{other:?}"),
        }
        assert!(!dir.delete_if_exists("nope").unwrap());
        assert!(dir.delete_if_exists("dup").unwrap());
        assert!(!dir.delete_if_exists("dup").unwrap());
        match dir.open("nope") {
            Err(Error::NotFound { name, .. }) => assert_eq!(name, "nope"),
            other => panic!("{other:?}"),
        }
        match dir.create("a/b") {
            Err(Error::InvalidName { .. }) => {}
            other => panic!("{other:?}"),
        }
        // A regular file is not a namespace.
        std::fs::write("/run/not-a-netns", b"").unwrap();
        match Netns::open_path("/run/not-a-netns") {
            Err(e @ Error::NotANetworkNamespace { .. }) => {
                assert_eq!(e.to_string(), "/run/not-a-netns is not a network namespace")
            }
            other => panic!("{other:?}"),
        }
        // Nor is a mount namespace.
        assert!(matches!(
            Netns::open_path("/proc/thread-self/ns/mnt"),
            Err(Error::NotANetworkNamespace { .. })
        ));
        // Nothing half-made was left behind.
        assert!(dir.list().unwrap().is_empty());
    });
}

#[test]
fn enter_guard_and_run() {
    brnet_testkit::sandboxed(|| {
        let dir = NetnsDir::default();
        let home = Netns::current().unwrap().id().unwrap();
        let c1 = dir.create("c1").unwrap();
        let c1_id = c1.id().unwrap();
        {
            let _guard = c1.enter().unwrap();
            assert_eq!(Netns::current().unwrap().id().unwrap(), c1_id);
        }
        assert_eq!(Netns::current().unwrap().id().unwrap(), home);
        let guard = c1.enter().unwrap();
        guard.exit();
        assert_eq!(Netns::current().unwrap().id().unwrap(), home);

        let seen = c1.run(|| Netns::current().unwrap().id().unwrap()).unwrap();
        assert_eq!(seen, c1_id);
        assert_eq!(Netns::current().unwrap().id().unwrap(), home);
    });
}

#[test]
fn create_with_runs_inside_and_cleans_up_after_a_panic() {
    brnet_testkit::sandboxed(|| {
        let dir = NetnsDir::default();
        let home = Netns::current().unwrap().id().unwrap();
        let (ns, inside) = dir
            .create_with("c1", || Netns::current().unwrap().id().unwrap())
            .unwrap();
        assert_eq!(ns.id().unwrap(), inside);
        assert_ne!(inside, home);

        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            dir.create_with("boom", || panic!("inside"))
        }));
        assert!(r.is_err());
        assert_eq!(Netns::current().unwrap().id().unwrap(), home);
        assert_eq!(dir.list().unwrap(), ["c1"]);
    });
}

#[test]
fn a_panic_in_the_sandbox_reaches_the_caller() {
    if !privileged_test() {
        return;
    }
    let r = std::panic::catch_unwind(|| isolated(|| panic!("assertion inside")));
    let msg = r.unwrap_err();
    assert_eq!(msg.downcast_ref::<&str>(), Some(&"assertion inside"));
}

#[test]
fn a_recreated_namespace_may_reuse_the_inode_but_never_the_cookie() {
    brnet_testkit::sandboxed(|| {
        let dir = NetnsDir::default();
        let here = Netns::current().unwrap();
        let c1 = dir.create("c1").unwrap();
        let (id, cookie) = (c1.id().unwrap(), c1.cookie().unwrap());
        assert_ne!(
            cookie,
            here.cookie().unwrap(),
            "two namespaces, two cookies"
        );
        assert_eq!(cookie, dir.open("c1").unwrap().cookie().unwrap(), "stable");
        assert_eq!(Netns::current().unwrap().id().unwrap(), here.id().unwrap());
        // The cookie of a socket opened inside is the namespace's.
        let inside = c1.run(|| std::net::UdpSocket::bind("127.0.0.1:0")).unwrap();
        if let Ok(sock) = inside {
            assert_eq!(brnet_netns::socket_netns_cookie(&sock).unwrap(), cookie);
        }
        drop(c1);
        // Delete and create again until the kernel hands the inode back
        // (it does once the old namespace is cleaned up).
        let mut reused = false;
        for _ in 0..50 {
            dir.delete("c1").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
            let again = dir.create("c1").unwrap();
            assert_ne!(again.cookie().unwrap(), cookie, "a cookie is never reused");
            if again.id().unwrap() == id {
                reused = true;
                break;
            }
        }
        println!("inode reused: {reused}");
        assert!(
            cookie.is_some(),
            "Linux 5.14+ gives every namespace a cookie"
        );
    });
}

/// A FIFO (which a blocking open would wait on for a writer), a device
/// (where the namespace-type ioctl could mean something to its driver), a
/// directory: none is a network namespace, and saying so never blocks.
#[test]
fn fifos_devices_and_directories_are_not_namespaces_and_never_block() {
    brnet_testkit::sandboxed(|| {
        let fifo = std::ffi::CString::new("/run/a-fifo").unwrap();
        nix::unistd::mkfifo(fifo.as_c_str(), nix::sys::stat::Mode::S_IRWXU).unwrap();
        std::fs::create_dir("/run/a-dir").unwrap();
        for path in ["/run/a-fifo", "/dev/null", "/run/a-dir"] {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(Netns::open_path(path).map(drop));
            });
            match rx.recv_timeout(std::time::Duration::from_secs(5)) {
                Ok(Err(Error::NotANetworkNamespace { .. })) => {}
                Ok(other) => panic!("{path}: {other:?}"),
                Err(_) => panic!("opening {path} blocked"),
            }
        }
    });
}

/// Set in the child process the abort test re-runs itself as.
const ABORT_CHILD: &str = "BRNET_NETNS_TEST_ABORT_CHILD";

/// A thread whose way back fails (here: it dropped its capabilities while
/// inside) is never left in the namespace it entered: the process aborts
/// rather than go on configuring the wrong network.
#[test]
fn a_thread_that_cannot_switch_back_stops_the_process() {
    if std::env::var_os(ABORT_CHILD).is_some() {
        // The child: enter a fresh namespace, lose CAP_SYS_ADMIN (setns
        // needs it), try to go back.
        let other = std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            Netns::current().unwrap()
        })
        .join()
        .unwrap();
        let home = Netns::current().unwrap().id().unwrap();
        let guard = other.enter().unwrap();
        let nobody = nix::unistd::Uid::from_raw(65534);
        nix::unistd::setresuid(nobody, nobody, nobody).unwrap();
        guard.exit();
        let now = Netns::current().unwrap().id().unwrap();
        println!("EXIT RETURNED, back home: {}", now == home);
        return;
    }
    if !privileged_test() {
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_thread_that_cannot_switch_back_stops_the_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ABORT_CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(nix::libc::SIGABRT),
        "the child was not stopped ({}):\n{stdout}{stderr}",
        out.status
    );
    assert!(!stdout.contains("EXIT RETURNED"), "{stdout}");
    assert!(
        stderr.contains("cannot restore the thread's network namespace"),
        "{stderr}"
    );
}
