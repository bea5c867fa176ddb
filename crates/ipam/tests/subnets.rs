//! Default address pools: which subnet a new network gets.

use brnet_ipam::{AllocatorState, DefaultPool, Error, IpNet, SubnetAllocator, overlaps};

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

#[test]
fn first_network_gets_172_17_and_the_second_172_18() {
    let mut subnets = SubnetAllocator::new();
    assert_eq!(subnets.next(&[]), Ok(net("172.17.0.0/16")));
    assert_eq!(subnets.next(&[]), Ok(net("172.18.0.0/16")));
    assert!(subnets.is_allocated(net("172.17.0.0/16")));
}

#[test]
fn a_reserved_prefix_makes_the_third_network_skip_to_172_20() {
    let mut subnets = SubnetAllocator::new();
    subnets.next(&[]).unwrap();
    subnets.next(&[]).unwrap();
    assert_eq!(
        subnets.next(&[net("172.19.5.0/24")]),
        Ok(net("172.20.0.0/16"))
    );
    // The reservation is the caller's, per call: 172.19 is still free.
    assert_eq!(subnets.next(&[]), Ok(net("172.19.0.0/16")));
}

#[test]
fn thirty_one_networks_then_the_typed_error() {
    let mut subnets = SubnetAllocator::new();
    let mut want: Vec<IpNet> = (17..=31).map(|b| net(&format!("172.{b}.0.0/16"))).collect();
    want.extend((0..16).map(|i| net(&format!("192.168.{}.0/20", i * 16))));
    for w in &want {
        assert_eq!(subnets.next(&[]).as_ref(), Ok(w));
    }
    let err = subnets.next(&[]).unwrap_err();
    assert_eq!(err, Error::PoolsExhausted);
    assert_eq!(err.to_string(), "all default address pools are in use");
    assert_eq!(subnets.allocated().count(), 31);
}

#[test]
fn released_subnets_are_reused_first() {
    let mut subnets = SubnetAllocator::new();
    for _ in 0..4 {
        subnets.next(&[]).unwrap();
    }
    subnets.release(net("172.18.0.0/16")).unwrap();
    assert_eq!(subnets.next(&[]), Ok(net("172.18.0.0/16")));
    assert_eq!(subnets.next(&[]), Ok(net("172.21.0.0/16")));
    assert_eq!(
        subnets.release(net("172.30.0.0/16")),
        Err(Error::SubnetNotAllocated {
            subnet: net("172.30.0.0/16")
        })
    );
}

#[test]
fn nameservers_and_large_routes_are_skipped() {
    let mut subnets = SubnetAllocator::new();
    // A nameserver inside 172.17.0.0/16.
    assert_eq!(
        subnets.next(&[net("172.17.0.53/32")]),
        Ok(net("172.18.0.0/16"))
    );
    // An on-link route covering all of 172.16.0.0/12, and one in 192.168.
    assert_eq!(
        subnets.next(&[net("172.16.0.0/12"), net("192.168.1.0/24")]),
        Ok(net("192.168.16.0/20"))
    );
    // Reserved prefixes of the other family are irrelevant.
    assert_eq!(subnets.next(&[net("fd00::/8")]), Ok(net("172.17.0.0/16")));
}

#[test]
fn explicit_subnets_are_checked_for_overlap_and_skipped() {
    let mut subnets = SubnetAllocator::new();
    subnets.request(net("172.17.128.0/17")).unwrap();
    subnets.request(net("10.99.0.0/16")).unwrap();
    assert_eq!(subnets.next(&[]), Ok(net("172.18.0.0/16")));
    let err = subnets.request(net("172.18.3.0/24")).unwrap_err();
    assert_eq!(
        err,
        Error::SubnetOverlap {
            subnet: net("172.18.3.0/24"),
            existing: net("172.18.0.0/16")
        }
    );
    assert_eq!(
        err.to_string(),
        "subnet 172.18.3.0/24 overlaps allocated subnet 172.18.0.0/16"
    );
    assert_eq!(
        subnets.request(net("10.0.0.0/8")),
        Err(Error::SubnetOverlap {
            subnet: net("10.0.0.0/8"),
            existing: net("10.99.0.0/16")
        })
    );
    assert!(matches!(
        subnets.request(net("10.1.2.3/16")),
        Err(Error::HostBitsSet { .. })
    ));
    subnets.request(net("fd00::/64")).unwrap();
    assert_eq!(
        subnets.allocated().collect::<Vec<_>>(),
        [
            net("10.99.0.0/16"),
            net("172.17.128.0/17"),
            net("172.18.0.0/16"),
            net("fd00::/64")
        ]
    );
}

#[test]
fn custom_pools_replace_the_defaults() {
    let mut subnets =
        SubnetAllocator::with_pools(vec![DefaultPool::new(net("10.10.0.0/22"), 24).unwrap()]);
    assert_eq!(subnets.next(&[]), Ok(net("10.10.0.0/24")));
    subnets.request(net("10.10.1.128/25")).unwrap();
    assert_eq!(subnets.next(&[]), Ok(net("10.10.2.0/24")));
    assert_eq!(subnets.next(&[]), Ok(net("10.10.3.0/24")));
    assert_eq!(subnets.next(&[]), Err(Error::PoolsExhausted));

    let mut v6 = SubnetAllocator::with_pools(vec![
        DefaultPool::new(net("fd12:3456:789a::/48"), 64).unwrap(),
    ]);
    assert_eq!(v6.next(&[]), Ok(net("fd12:3456:789a::/64")));
    assert_eq!(v6.next(&[]), Ok(net("fd12:3456:789a:1::/64")));

    // The whole IPv6 space in one slot, and the last slot of the space.
    let mut all = SubnetAllocator::with_pools(vec![DefaultPool::new(net("::/0"), 0).unwrap()]);
    assert_eq!(all.next(&[]), Ok(net("::/0")));
    assert_eq!(all.next(&[]), Err(Error::PoolsExhausted));
    let mut top =
        SubnetAllocator::with_pools(vec![DefaultPool::new(net("ffff::/16"), 17).unwrap()]);
    assert_eq!(top.next(&[net("ffff::/17")]), Ok(net("ffff:8000::/17")));
    assert_eq!(top.next(&[]), Ok(net("ffff::/17")));
    assert_eq!(top.next(&[]), Err(Error::PoolsExhausted));
}

#[test]
fn default_pools_are_checked() {
    assert_eq!(
        DefaultPool::new(net("10.10.0.0/16"), 8),
        Err(Error::InvalidDefaultPool {
            base: net("10.10.0.0/16"),
            size: 8
        })
    );
    assert_eq!(
        DefaultPool::new(net("10.10.0.0/16"), 33)
            .unwrap_err()
            .to_string(),
        "invalid default address pool 10.10.0.0/16 with size 33: the size must be between 16 and 32"
    );
    assert!(matches!(
        DefaultPool::new(net("10.10.0.1/16"), 24),
        Err(Error::HostBitsSet { .. })
    ));
    let defaults = DefaultPool::docker_defaults();
    assert_eq!(defaults.len(), 7);
    assert_eq!(defaults[3].base(), net("172.20.0.0/14"));
    assert_eq!(defaults[3].size(), 16);
    assert_eq!(SubnetAllocator::new().pools(), defaults.as_slice());
    assert_eq!(SubnetAllocator::default(), SubnetAllocator::new());

    // As in daemon.json.
    let pools: Vec<DefaultPool> =
        serde_json::from_str(r#"[{"base":"10.10.0.0/16","size":24}]"#).unwrap();
    assert_eq!(pools, [DefaultPool::new(net("10.10.0.0/16"), 24).unwrap()]);
    assert!(serde_json::from_str::<DefaultPool>(r#"{"base":"10.10.0.0/16","size":40}"#).is_err());
}

#[test]
fn overlap_helper() {
    let a = net("172.19.0.0/16");
    assert!(overlaps(&a, &a));
    assert!(overlaps(&a, &net("172.19.255.0/24")));
    assert!(overlaps(&net("172.16.0.0/12"), &a));
    assert!(!overlaps(&a, &net("172.18.0.0/16")));
    assert!(!overlaps(&a, &net("172.20.0.0/16")));
    assert!(!overlaps(&net("0.0.0.0/0"), &net("::/0")));
    assert!(overlaps(&net("fd00::/8"), &net("fd12::/64")));
}

#[test]
fn allocator_state_round_trips_and_is_checked() {
    let mut subnets = SubnetAllocator::new();
    subnets.next(&[]).unwrap();
    subnets.request(net("10.5.0.0/24")).unwrap();
    let json = serde_json::to_string(&subnets).unwrap();
    assert!(
        json.starts_with(r#"{"version":1,"pools":[{"base":"172.17.0.0/16","size":16},"#),
        "{json}"
    );
    assert!(
        json.ends_with(r#""allocated":["10.5.0.0/24","172.17.0.0/16"]}"#),
        "{json}"
    );
    let back: SubnetAllocator = serde_json::from_str(&json).unwrap();
    assert_eq!(back, subnets);
    assert_eq!(SubnetAllocator::from_state(subnets.to_state()), Ok(subnets));

    let load = |json: &str| {
        let state: AllocatorState = serde_json::from_str(json).unwrap();
        SubnetAllocator::from_state(state)
    };
    assert_eq!(
        load(r#"{"version":7,"pools":[]}"#),
        Err(Error::UnsupportedVersion {
            found: 7,
            expected: 1
        })
    );
    assert_eq!(
        load(r#"{"version":1,"pools":[],"allocated":["10.0.0.0/16","10.0.3.0/24"]}"#),
        Err(Error::SubnetOverlap {
            subnet: net("10.0.3.0/24"),
            existing: net("10.0.0.0/16")
        })
    );
    assert_eq!(
        load(r#"{"version":1,"pools":[{"base":"10.0.0.0/16","size":12}]}"#),
        Err(Error::InvalidDefaultPool {
            base: net("10.0.0.0/16"),
            size: 12
        })
    );
    assert!(matches!(
        load(r#"{"version":1,"pools":[],"allocated":["10.0.0.1/16"]}"#),
        Err(Error::HostBitsSet { .. })
    ));
    for bad in [
        r#"{"version":1,"pools":[],"allocated":["10.0.0.0/16","10.0.0.0/16"]}"#,
        r#"{"version":1,"pools":[],"extra":true}"#,
        r#"{"version":1}"#,
    ] {
        assert!(
            serde_json::from_str::<SubnetAllocator>(bad).is_err(),
            "{bad}"
        );
    }
    assert_eq!(
        load(r#"{"version":1,"pools":[]}"#)
            .unwrap()
            .to_state()
            .version(),
        1
    );
}
