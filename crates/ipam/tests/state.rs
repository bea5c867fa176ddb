//! Saved state: exact round trips, and corrupt input refused with typed
//! errors (never a panic, never silently accepted).

use std::net::IpAddr;

use brnet_ipam::{Error, IpNet, Order, Pool, PoolState, StateProblem};

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn round_trip(pool: &Pool) -> Pool {
    let json = serde_json::to_string(pool).unwrap();
    let back: Pool = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, pool, "{json}");
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
    assert_eq!(Pool::from_state(pool.to_state()).unwrap(), *pool);
    back
}

/// Loads `json` as a `PoolState`, then checks it: the typed error.
fn load(json: &str) -> Result<Pool, Error> {
    let state: PoolState = serde_json::from_str(json).unwrap();
    Pool::from_state(state)
}

#[test]
fn compact_form_is_ranges_not_bits() {
    let mut pool = Pool::new(net("172.20.0.0/16")).unwrap();
    for _ in 0..10 {
        pool.allocate().unwrap();
    }
    pool.release(ip("172.20.0.5")).unwrap();
    pool.request(ip("172.20.3.4")).unwrap();
    pool.reserve(ip("172.20.0.200")).unwrap();
    assert_eq!(
        serde_json::to_string(&pool).unwrap(),
        r#"{"version":1,"subnet":"172.20.0.0/16","gateway":"172.20.0.1","order":"serial","cursor":"172.20.0.12","allocated":["172.20.0.2-172.20.0.4","172.20.0.6-172.20.0.11","172.20.3.4"],"reserved":["172.20.0.200"]}"#
    );
    round_trip(&pool);
}

#[test]
fn full_slash_16_is_one_range() {
    let mut pool = Pool::new(net("10.1.0.0/16")).unwrap();
    while pool.allocate().is_ok() {}
    let json = serde_json::to_string(&pool).unwrap();
    assert!(
        json.contains(r#""allocated":["10.1.0.2-10.1.255.254"]"#),
        "{json}"
    );
    round_trip(&pool);
}

#[test]
fn serial_cursor_survives_the_round_trip() {
    let mut pool = Pool::new(net("10.2.0.0/24")).unwrap();
    for _ in 0..5 {
        pool.allocate().unwrap();
    }
    for a in ["10.2.0.2", "10.2.0.3", "10.2.0.4", "10.2.0.5", "10.2.0.6"] {
        pool.release(ip(a)).unwrap();
    }
    let mut back = round_trip(&pool);
    assert_eq!(back.allocate().unwrap(), ip("10.2.0.7"));
    assert_eq!(pool.allocate().unwrap(), ip("10.2.0.7"));
}

#[test]
fn every_option_round_trips() {
    let mut pool = Pool::builder(net("fd00:1::/64"))
        .gateway(ip("fd00:1::fffe"))
        .range(net("fd00:1::/112"))
        .order(Order::Lowest)
        .build()
        .unwrap();
    for _ in 0..300 {
        pool.allocate().unwrap();
    }
    pool.release(ip("fd00:1::10")).unwrap();
    pool.request(ip("fd00:1::1:0:0:1")).unwrap();
    pool.request(ip("fd00:1::ffff:ffff:ffff:ffff")).unwrap();
    pool.reserve(ip("fd00:1::2:0:0:0")).unwrap();
    pool.reserve(ip("fd00:1::ff")).unwrap_err();
    pool.reserve(ip("fd00:1::4000")).unwrap();
    let mut back = round_trip(&pool);
    assert_eq!(back.allocate().unwrap(), ip("fd00:1::10"));
    assert_eq!(back.range(), Some(net("fd00:1::/112")));
    assert_eq!(back.gateway(), ip("fd00:1::fffe"));
    assert_eq!(
        (back.used(), back.free()),
        (pool.used() + 1, pool.free() - 1)
    );

    for subnet in ["10.0.0.4/31", "10.0.0.4/32", "fd00::/127", "0.0.0.0/0"] {
        let mut pool = Pool::new(net(subnet)).unwrap();
        let _ = pool.allocate();
        round_trip(&pool);
    }
}

#[test]
fn wrong_version_is_refused() {
    let json = r#"{"version":2,"subnet":"10.0.0.0/24","gateway":"10.0.0.1","order":"serial","cursor":"10.0.0.2"}"#;
    assert_eq!(
        load(json),
        Err(Error::UnsupportedVersion {
            found: 2,
            expected: 1
        })
    );
    // Through serde, the same check, as the format's error.
    let err = serde_json::from_str::<Pool>(json).unwrap_err();
    assert!(
        err.to_string()
            .contains("unsupported saved state version 2 (this build reads version 1)"),
        "{err}"
    );
}

#[test]
fn corrupt_pools_are_refused_with_typed_errors() {
    let subnet = net("10.0.0.0/24");
    let with = |extra: &str| {
        format!(
            r#"{{"version":1,"subnet":"10.0.0.0/24","gateway":"10.0.0.1","order":"serial","cursor":"10.0.0.9"{extra}}}"#
        )
    };
    let bad = |addr: &str, problem| {
        Err(Error::InvalidState {
            subnet,
            addr: ip(addr),
            problem,
        })
    };
    let cases = [
        (
            with(r#","allocated":["10.0.0.2-10.0.1.3"]"#),
            bad("10.0.1.3", StateProblem::OutsideSubnet),
        ),
        (
            with(r#","allocated":["fd00::2"]"#),
            bad("fd00::2", StateProblem::OutsideSubnet),
        ),
        (
            with(r#","allocated":["10.0.0.2-10.0.0.9","10.0.0.5-10.0.0.12"]"#),
            bad("10.0.0.5", StateProblem::Unordered),
        ),
        (
            with(r#","allocated":["10.0.0.20","10.0.0.2"]"#),
            bad("10.0.0.2", StateProblem::Unordered),
        ),
        (
            with(r#","allocated":["10.0.0.9","10.0.0.9"]"#),
            bad("10.0.0.9", StateProblem::Unordered),
        ),
        (
            with(r#","allocated":["10.0.0.9-10.0.0.3"]"#),
            bad("10.0.0.9", StateProblem::ReversedRange),
        ),
        (
            with(r#","allocated":["10.0.0.0-10.0.0.3"]"#),
            bad("10.0.0.0", StateProblem::FixedAddress),
        ),
        (
            with(r#","allocated":["10.0.0.1"]"#),
            bad("10.0.0.1", StateProblem::FixedAddress),
        ),
        (
            with(r#","allocated":["10.0.0.250-10.0.0.255"]"#),
            bad("10.0.0.255", StateProblem::FixedAddress),
        ),
        (
            with(r#","allocated":["10.0.0.2-10.0.0.5"],"reserved":["10.0.0.4"]"#),
            bad("10.0.0.4", StateProblem::Duplicate),
        ),
        (
            with(r#","reserved":["10.0.0.7","10.0.0.6"]"#),
            bad("10.0.0.6", StateProblem::Unordered),
        ),
        (
            with(r#","reserved":["10.0.0.1"]"#),
            bad("10.0.0.1", StateProblem::FixedAddress),
        ),
        (
            with(r#","reserved":["10.1.0.1"]"#),
            bad("10.1.0.1", StateProblem::OutsideSubnet),
        ),
    ];
    for (json, want) in cases {
        assert_eq!(load(&json), want, "{json}");
        assert!(serde_json::from_str::<Pool>(&json).is_err(), "{json}");
    }
}

#[test]
fn corrupt_options_and_cursor_are_refused() {
    let cases = [
        (
            r#"{"version":1,"subnet":"10.0.0.0/24","gateway":"10.0.0.1","order":"serial","cursor":"10.0.1.9"}"#,
            Error::InvalidState {
                subnet: net("10.0.0.0/24"),
                addr: ip("10.0.1.9"),
                problem: StateProblem::OutsideSubnet,
            },
        ),
        (
            r#"{"version":1,"subnet":"10.0.0.0/24","gateway":"10.0.0.1","range":"10.0.0.128/25","order":"serial","cursor":"10.0.0.9"}"#,
            Error::InvalidState {
                subnet: net("10.0.0.0/24"),
                addr: ip("10.0.0.9"),
                problem: StateProblem::CursorOutsideRange,
            },
        ),
        (
            r#"{"version":1,"subnet":"10.0.0.0/24","gateway":"10.0.0.1","range":"10.0.1.0/25","order":"serial","cursor":"10.0.0.9"}"#,
            Error::RangeOutsideSubnet {
                subnet: net("10.0.0.0/24"),
                range: net("10.0.1.0/25"),
            },
        ),
        (
            r#"{"version":1,"subnet":"10.0.0.7/24","gateway":"10.0.0.1","order":"serial","cursor":"10.0.0.9"}"#,
            Error::HostBitsSet {
                given: net("10.0.0.7/24"),
                expected: net("10.0.0.0/24"),
            },
        ),
        (
            r#"{"version":1,"subnet":"10.0.0.0/24","gateway":"10.0.0.255","order":"serial","cursor":"10.0.0.9"}"#,
            Error::InvalidGateway {
                subnet: net("10.0.0.0/24"),
                gateway: ip("10.0.0.255"),
                problem: brnet_ipam::GatewayProblem::BroadcastAddress,
            },
        ),
    ];
    for (json, want) in cases {
        assert_eq!(load(json), Err(want), "{json}");
    }
}

#[test]
fn malformed_input_is_a_serde_error_not_a_panic() {
    for json in [
        "",
        "{}",
        "[]",
        r#"{"version":1}"#,
        r#"{"version":1,"subnet":"10.0.0.0/24","gateway":"10.0.0.1","order":"serial","cursor":"10.0.0.9","extra":1}"#,
        r#"{"version":1,"subnet":"10.0.0.0/24","gateway":"10.0.0.1","order":"random","cursor":"10.0.0.9"}"#,
        r#"{"version":1,"subnet":"10.0.0.0/24","gateway":"10.0.0.1","order":"serial","cursor":"10.0.0.9","allocated":["10.0.0.2-"]}"#,
        r#"{"version":1,"subnet":"10.0.0.0/24","gateway":"10.0.0.1","order":"serial","cursor":"10.0.0.9","allocated":["x"]}"#,
        r#"{"version":1,"subnet":"10.0.0.0/24","gateway":"10.0.0.1","order":"serial","cursor":"10.0.0.9","allocated":[3]}"#,
        r#"{"version":-1,"subnet":"10.0.0.0/24","gateway":"10.0.0.1","order":"serial","cursor":"10.0.0.9"}"#,
        r#"{"version":1,"subnet":"10.0.0.0/33","gateway":"10.0.0.1","order":"serial","cursor":"10.0.0.9"}"#,
    ] {
        assert!(serde_json::from_str::<PoolState>(json).is_err(), "{json}");
        assert!(serde_json::from_str::<Pool>(json).is_err(), "{json}");
    }
}

#[test]
fn huge_ranges_outside_the_window_are_refused_not_expanded() {
    // A /64's window is its first 2^24 addresses; a range far beyond it
    // would be one set entry per address: refused before any is made.
    let json = r#"{"version":1,"subnet":"fd00::/64","gateway":"fd00::1","order":"serial","cursor":"fd00::2","allocated":["fd00::1:0:0:0-fd00::ffff:ffff:ffff:ffff"]}"#;
    assert_eq!(
        load(json),
        Err(Error::InvalidState {
            subnet: net("fd00::/64"),
            addr: ip("fd00::1:0:0:0"),
            problem: StateProblem::TooManyOutsideWindow,
        })
    );
    // A range straddling the window's end is split between bitmap and set.
    let json = r#"{"version":1,"subnet":"fd00::/64","gateway":"fd00::1","order":"serial","cursor":"fd00::2","allocated":["fd00::ff:fff0-fd00::100:f"]}"#;
    let pool = load(json).unwrap();
    assert_eq!(pool.used(), 33);
    assert!(pool.is_allocated(ip("fd00::ff:ffff")));
    assert!(pool.is_allocated(ip("fd00::100:0")));
    assert!(!pool.is_allocated(ip("fd00::100:10")));
    assert_eq!(serde_json::to_string(&pool).unwrap(), json);
}

#[test]
fn state_accessors() {
    let pool = Pool::new(net("10.0.0.0/24")).unwrap();
    let state = PoolState::from(&pool);
    assert_eq!(state.version(), brnet_ipam::STATE_VERSION);
    assert_eq!(state.subnet(), net("10.0.0.0/24"));
    assert_eq!(Pool::try_from(state).unwrap(), pool);
}
