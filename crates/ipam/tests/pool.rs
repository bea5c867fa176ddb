//! Pool rules, one test per rule of issue 3.

use std::net::IpAddr;

use brnet_ipam::{
    DYNAMIC_WINDOW, Error, GatewayProblem, IpNet, MAX_OUTSIDE_WINDOW, Order, Pool, Role,
};

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ip6(s: &str) -> std::net::Ipv6Addr {
    s.parse().unwrap()
}

fn alloc(pool: &mut Pool) -> String {
    pool.allocate().unwrap().to_string()
}

#[test]
fn gateway_is_dot_one_and_first_container_dot_two() {
    for (subnet, gw, first, second) in [
        ("172.20.0.0/16", "172.20.0.1", "172.20.0.2", "172.20.0.3"),
        (
            "192.168.7.0/24",
            "192.168.7.1",
            "192.168.7.2",
            "192.168.7.3",
        ),
        ("10.0.0.8/30", "10.0.0.9", "10.0.0.10", ""),
    ] {
        let mut pool = Pool::new(net(subnet)).unwrap();
        assert_eq!(pool.gateway(), ip(gw), "{subnet}");
        assert!(pool.is_allocated(ip(gw)));
        assert_eq!(alloc(&mut pool), first, "{subnet}");
        if second.is_empty() {
            assert_eq!(
                pool.allocate(),
                Err(Error::Exhausted {
                    subnet: net(subnet)
                })
            );
        } else {
            assert_eq!(alloc(&mut pool), second, "{subnet}");
        }
    }
}

#[test]
fn counts_for_common_sizes() {
    for (subnet, capacity) in [
        ("172.20.0.0/16", 65_534u128),
        ("192.168.7.0/24", 254),
        ("10.0.0.0/29", 6),
        ("10.0.0.0/30", 2),
        ("10.0.0.0/31", 2),
        ("10.0.0.0/32", 1),
        ("fd00::/120", 255),
        ("fd00::/64", (1u128 << 64) - 1),
        ("fd00::/127", 2),
        ("fd00::/128", 1),
        ("::/0", u128::MAX),
        ("0.0.0.0/0", (1u128 << 32) - 2),
    ] {
        let mut pool = Pool::new(net(subnet)).unwrap();
        assert_eq!(pool.capacity(), capacity, "{subnet}");
        assert_eq!(pool.used(), 1, "{subnet}");
        assert_eq!(pool.free(), capacity - 1, "{subnet}");
        if capacity > 1 {
            pool.allocate().unwrap();
            assert_eq!((pool.used(), pool.free()), (2, capacity - 2), "{subnet}");
        }
    }
}

#[test]
fn slash_31_has_two_usable_addresses() {
    let mut pool = Pool::new(net("10.0.0.4/31")).unwrap();
    assert_eq!(pool.gateway(), ip("10.0.0.4"));
    assert_eq!(alloc(&mut pool), "10.0.0.5");
    assert!(matches!(pool.allocate(), Err(Error::Exhausted { .. })));
    assert_eq!(pool.free(), 0);
}

#[test]
fn slash_32_has_one_usable_address_the_gateway() {
    let mut pool = Pool::new(net("10.0.0.4/32")).unwrap();
    assert_eq!(pool.gateway(), ip("10.0.0.4"));
    assert_eq!(
        pool.allocate().unwrap_err().to_string(),
        "no available addresses in 10.0.0.4/32"
    );
    assert_eq!((pool.capacity(), pool.used(), pool.free()), (1, 1, 0));
    assert_eq!(
        pool.release(ip("10.0.0.4")),
        Err(Error::FixedAddress {
            subnet: net("10.0.0.4/32"),
            addr: ip("10.0.0.4"),
            role: Role::Gateway
        })
    );
}

#[test]
fn ipv6_gateway_is_colon_colon_one_then_two() {
    for subnet in ["fd00:1:2:3::/64", "fd00:1:2:3::/120"] {
        let s = net(subnet);
        let mut pool = Pool::new(s).unwrap();
        let base = subnet.trim_end_matches(|c: char| c == '/' || c.is_ascii_digit());
        assert_eq!(pool.gateway(), ip(&format!("{base}1")), "{subnet}");
        assert_eq!(alloc(&mut pool), format!("{base}2"), "{subnet}");
        assert_eq!(alloc(&mut pool), format!("{base}3"), "{subnet}");
        // No IPv6 broadcast: the last address is usable.
        let last = s.broadcast();
        pool.request(last).unwrap();
        assert!(pool.is_allocated(last));
        // The first address (subnet-router anycast) is set aside.
        assert_eq!(
            pool.request(s.network()),
            Err(Error::FixedAddress {
                subnet: s,
                addr: s.network(),
                role: Role::Network
            })
        );
    }
}

#[test]
fn ipv6_slash_120_exhausts_after_254_containers() {
    let mut pool = Pool::new(net("fd00::/120")).unwrap();
    for i in 2..=255u32 {
        assert_eq!(alloc(&mut pool), format!("fd00::{i:x}"));
    }
    assert!(matches!(pool.allocate(), Err(Error::Exhausted { .. })));
}

#[test]
fn ip_range_limits_dynamic_addresses_only() {
    let mut pool = Pool::builder(net("172.28.0.0/16"))
        .range(net("172.28.5.0/30"))
        .build()
        .unwrap();
    assert_eq!(pool.gateway(), ip("172.28.0.1"));
    assert_eq!(pool.range(), Some(net("172.28.5.0/30")));
    assert_eq!(pool.dynamic_range(), (ip("172.28.5.0"), ip("172.28.5.3")));
    let got: Vec<String> = (0..4).map(|_| alloc(&mut pool)).collect();
    assert_eq!(
        got,
        ["172.28.5.0", "172.28.5.1", "172.28.5.2", "172.28.5.3"]
    );
    assert!(matches!(pool.allocate(), Err(Error::Exhausted { .. })));
    // Explicit requests may name any address of the subnet.
    pool.request(ip("172.28.200.7")).unwrap();
    assert!(pool.is_allocated(ip("172.28.200.7")));
    assert_eq!(pool.used(), 6);
    pool.release(ip("172.28.5.2")).unwrap();
    assert_eq!(alloc(&mut pool), "172.28.5.2");
}

#[test]
fn ip_range_must_be_inside_the_subnet_without_host_bits() {
    let subnet = net("172.28.0.0/16");
    for range in ["172.29.0.0/24", "172.28.0.0/15", "fd00::/120"] {
        assert_eq!(
            Pool::builder(subnet).range(net(range)).build(),
            Err(Error::RangeOutsideSubnet {
                subnet,
                range: net(range)
            }),
            "{range}"
        );
    }
    let err = Pool::builder(subnet)
        .range(net("172.28.5.9/24"))
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid prefix 172.28.5.9/24: host bits are set, it should be 172.28.5.0/24"
    );
}

#[test]
fn ip_range_at_the_start_skips_the_network_and_gateway() {
    let mut pool = Pool::builder(net("10.9.0.0/24"))
        .range(net("10.9.0.0/29"))
        .build()
        .unwrap();
    assert_eq!(alloc(&mut pool), "10.9.0.2");
}

#[test]
fn host_bits_in_the_subnet_are_refused_not_normalised() {
    let err = Pool::new(net("172.20.0.1/16")).unwrap_err();
    assert_eq!(
        err,
        Error::HostBitsSet {
            given: net("172.20.0.1/16"),
            expected: net("172.20.0.0/16")
        }
    );
    assert_eq!(
        err.to_string(),
        "invalid prefix 172.20.0.1/16: host bits are set, it should be 172.20.0.0/16"
    );
    assert!(matches!(
        Pool::new(net("fd00::1/64")),
        Err(Error::HostBitsSet { .. })
    ));
}

#[test]
fn given_gateway_is_checked() {
    let subnet = net("10.1.0.0/24");
    let mut pool = Pool::builder(subnet)
        .gateway(ip("10.1.0.254"))
        .build()
        .unwrap();
    assert_eq!(pool.gateway(), ip("10.1.0.254"));
    assert_eq!(alloc(&mut pool), "10.1.0.1");
    for (gw, problem) in [
        ("10.1.1.1", GatewayProblem::OutsideSubnet),
        ("fd00::1", GatewayProblem::OutsideSubnet),
        ("10.1.0.0", GatewayProblem::NetworkAddress),
        ("10.1.0.255", GatewayProblem::BroadcastAddress),
    ] {
        assert_eq!(
            Pool::builder(subnet).gateway(ip(gw)).build(),
            Err(Error::InvalidGateway {
                subnet,
                gateway: ip(gw),
                problem
            }),
            "{gw}"
        );
    }
    assert_eq!(
        Pool::builder(subnet)
            .gateway(ip("10.1.0.0"))
            .build()
            .unwrap_err()
            .to_string(),
        "invalid gateway 10.1.0.0 for 10.1.0.0/24: it is the network address"
    );
    // A gateway in the middle is skipped by dynamic allocation.
    let mut pool = Pool::builder(net("10.2.0.0/29"))
        .gateway(ip("10.2.0.3"))
        .build()
        .unwrap();
    let got: Vec<String> = (0..5).map(|_| alloc(&mut pool)).collect();
    assert_eq!(
        got,
        ["10.2.0.1", "10.2.0.2", "10.2.0.4", "10.2.0.5", "10.2.0.6"]
    );
}

#[test]
fn aux_reservations_are_never_handed_out() {
    let subnet = net("10.3.0.0/29");
    let mut pool = Pool::new(subnet).unwrap();
    pool.reserve(ip("10.3.0.2")).unwrap();
    pool.reserve(ip("10.3.0.5")).unwrap();
    assert!(pool.is_reserved(ip("10.3.0.2")));
    assert!(pool.is_allocated(ip("10.3.0.2")));
    assert!(!pool.is_reserved(ip("10.3.0.3")));
    assert_eq!(pool.used(), 3);
    let got: Vec<String> = (0..3).map(|_| alloc(&mut pool)).collect();
    assert_eq!(got, ["10.3.0.3", "10.3.0.4", "10.3.0.6"]);
    assert!(matches!(pool.allocate(), Err(Error::Exhausted { .. })));
    assert_eq!(
        pool.reserved().collect::<Vec<_>>(),
        [ip("10.3.0.2"), ip("10.3.0.5")]
    );
    assert_eq!(
        pool.allocated().collect::<Vec<_>>(),
        [ip("10.3.0.3"), ip("10.3.0.4"), ip("10.3.0.6")]
    );
    // Aux addresses must be inside the subnet and free.
    assert_eq!(
        pool.reserve(ip("10.3.1.1")),
        Err(Error::OutOfRange {
            subnet,
            addr: ip("10.3.1.1")
        })
    );
    assert_eq!(
        pool.reserve(ip("10.3.0.3")),
        Err(Error::AlreadyAllocated {
            subnet,
            addr: ip("10.3.0.3")
        })
    );
    assert_eq!(
        pool.reserve(ip("10.3.0.7")),
        Err(Error::FixedAddress {
            subnet,
            addr: ip("10.3.0.7"),
            role: Role::Broadcast
        })
    );
    // Releasing a reservation gives the address back.
    pool.release(ip("10.3.0.5")).unwrap();
    assert!(!pool.is_reserved(ip("10.3.0.5")));
    assert_eq!(alloc(&mut pool), "10.3.0.5");
}

#[test]
fn serial_order_wraps_around_and_does_not_reuse_at_once() {
    let mut pool = Pool::new(net("10.4.0.0/29")).unwrap();
    assert_eq!(pool.order(), Order::Serial);
    assert_eq!(alloc(&mut pool), "10.4.0.2");
    assert_eq!(alloc(&mut pool), "10.4.0.3");
    pool.release(ip("10.4.0.2")).unwrap();
    assert_eq!(alloc(&mut pool), "10.4.0.4");
    assert_eq!(alloc(&mut pool), "10.4.0.5");
    pool.release(ip("10.4.0.4")).unwrap();
    assert_eq!(alloc(&mut pool), "10.4.0.6");
    // End of the range: wrap to the start, skip the gateway.
    assert_eq!(alloc(&mut pool), "10.4.0.2");
    assert_eq!(alloc(&mut pool), "10.4.0.4");
    assert!(matches!(pool.allocate(), Err(Error::Exhausted { .. })));
    pool.release(ip("10.4.0.3")).unwrap();
    assert_eq!(alloc(&mut pool), "10.4.0.3");
}

#[test]
fn explicit_requests_do_not_move_the_serial_cursor() {
    let mut pool = Pool::new(net("10.5.0.0/24")).unwrap();
    pool.request(ip("10.5.0.100")).unwrap();
    assert_eq!(alloc(&mut pool), "10.5.0.2");
    pool.request(ip("10.5.0.3")).unwrap();
    assert_eq!(alloc(&mut pool), "10.5.0.4");
}

#[test]
fn lowest_order_reuses_the_lowest_free_address() {
    let mut pool = Pool::builder(net("10.6.0.0/24"))
        .order(Order::Lowest)
        .build()
        .unwrap();
    assert_eq!(alloc(&mut pool), "10.6.0.2");
    assert_eq!(alloc(&mut pool), "10.6.0.3");
    assert_eq!(alloc(&mut pool), "10.6.0.4");
    pool.release(ip("10.6.0.3")).unwrap();
    assert_eq!(alloc(&mut pool), "10.6.0.3");
    pool.release(ip("10.6.0.4")).unwrap();
    pool.release(ip("10.6.0.2")).unwrap();
    assert_eq!(alloc(&mut pool), "10.6.0.2");
    assert_eq!(alloc(&mut pool), "10.6.0.4");
    assert_eq!(alloc(&mut pool), "10.6.0.5");
}

#[test]
fn exhaustion_of_a_slash_29_and_a_slash_30() {
    let mut pool = Pool::new(net("10.7.0.0/29")).unwrap();
    let got: Vec<String> = (0..5).map(|_| alloc(&mut pool)).collect();
    assert_eq!(
        got,
        ["10.7.0.2", "10.7.0.3", "10.7.0.4", "10.7.0.5", "10.7.0.6"]
    );
    let err = pool.allocate().unwrap_err();
    assert_eq!(
        err,
        Error::Exhausted {
            subnet: net("10.7.0.0/29")
        }
    );
    assert_eq!(err.to_string(), "no available addresses in 10.7.0.0/29");
    assert_eq!(pool.free(), 0);

    let mut pool = Pool::new(net("10.7.0.8/30")).unwrap();
    assert_eq!(alloc(&mut pool), "10.7.0.10");
    assert_eq!(
        pool.allocate().unwrap_err().to_string(),
        "no available addresses in 10.7.0.8/30"
    );
    pool.release(ip("10.7.0.10")).unwrap();
    assert_eq!(alloc(&mut pool), "10.7.0.10");
}

#[test]
fn double_release_and_fixed_addresses_are_typed_errors() {
    let subnet = net("10.8.0.0/24");
    let mut pool = Pool::new(subnet).unwrap();
    let a = pool.allocate().unwrap();
    pool.release(a).unwrap();
    let err = pool.release(a).unwrap_err();
    assert_eq!(err, Error::NotAllocated { subnet, addr: a });
    assert_eq!(
        err.to_string(),
        "address 10.8.0.2 is not allocated in 10.8.0.0/24"
    );
    assert_eq!(pool.used(), 1);

    for (addr, role) in [
        ("10.8.0.1", Role::Gateway),
        ("10.8.0.0", Role::Network),
        ("10.8.0.255", Role::Broadcast),
    ] {
        let e = Error::FixedAddress {
            subnet,
            addr: ip(addr),
            role,
        };
        assert_eq!(pool.release(ip(addr)), Err(e.clone()));
        assert_eq!(pool.request(ip(addr)), Err(e));
    }
    assert_eq!(
        pool.release(ip("10.8.0.1")).unwrap_err().to_string(),
        "address 10.8.0.1 is the gateway of 10.8.0.0/24"
    );
    assert!(pool.is_allocated(ip("10.8.0.1")));
    assert!(!pool.is_allocated(ip("10.8.0.0")));
    assert!(!pool.is_allocated(ip("10.8.0.255")));
}

#[test]
fn requests_outside_the_subnet_or_taken_are_refused() {
    let subnet = net("10.9.0.0/24");
    let mut pool = Pool::new(subnet).unwrap();
    pool.request(ip("10.9.0.50")).unwrap();
    assert_eq!(
        pool.request(ip("10.9.0.50")),
        Err(Error::AlreadyAllocated {
            subnet,
            addr: ip("10.9.0.50")
        })
    );
    for addr in ["10.9.1.0", "10.8.255.255", "fd00::5"] {
        assert_eq!(
            pool.request(ip(addr)),
            Err(Error::OutOfRange {
                subnet,
                addr: ip(addr)
            })
        );
        assert!(!pool.contains(ip(addr)));
        assert!(matches!(
            pool.release(ip(addr)),
            Err(Error::OutOfRange { .. })
        ));
    }
    assert!(pool.contains(ip("10.9.0.0")));
    assert_eq!(
        pool.request(ip("10.9.1.0")).unwrap_err().to_string(),
        "address 10.9.1.0 is outside 10.9.0.0/24"
    );
    assert_eq!(pool.used(), 2);
}

#[test]
fn huge_ipv6_subnets_use_a_bounded_window() {
    let subnet = net("fd00:aa::/64");
    let mut pool = Pool::new(subnet).unwrap();
    assert_eq!(
        pool.dynamic_range(),
        (
            ip("fd00:aa::"),
            IpAddr::V6((u128::from(ip6("fd00:aa::")) + u128::from(DYNAMIC_WINDOW) - 1).into())
        )
    );
    // Explicit requests far beyond the window still work.
    let far = ip("fd00:aa::dead:beef:1");
    pool.request(far).unwrap();
    pool.reserve(ip("fd00:aa::ffff:ffff:ffff:ffff")).unwrap();
    assert!(pool.is_allocated(far));
    assert_eq!(
        pool.request(far),
        Err(Error::AlreadyAllocated { subnet, addr: far })
    );
    assert_eq!(alloc(&mut pool), "fd00:aa::2");
    assert_eq!(pool.used(), 4);
    assert_eq!(
        pool.allocated().collect::<Vec<_>>(),
        [ip("fd00:aa::2"), far]
    );
    pool.release(far).unwrap();
    assert!(!pool.is_allocated(far));
    assert_eq!(
        pool.release(far),
        Err(Error::NotAllocated { subnet, addr: far })
    );
}

#[test]
fn addresses_outside_the_window_are_bounded() {
    let subnet = net("fd00:bb::/64");
    let mut pool = Pool::new(subnet).unwrap();
    let base = u128::from(ip6("fd00:bb::1:0:0"));
    for i in 0..MAX_OUTSIDE_WINDOW as u128 {
        pool.request(IpAddr::V6((base + i).into())).unwrap();
    }
    let one_more = IpAddr::V6((base + MAX_OUTSIDE_WINDOW as u128).into());
    assert_eq!(
        pool.request(one_more),
        Err(Error::TooManyOutsideWindow {
            subnet,
            addr: one_more,
            limit: MAX_OUTSIDE_WINDOW
        })
    );
    // The window itself is unaffected.
    assert_eq!(alloc(&mut pool), "fd00:bb::2");
}

#[test]
fn window_of_a_range_in_a_huge_subnet_starts_at_the_range() {
    let mut pool = Pool::builder(net("fd00:cc::/48"))
        .range(net("fd00:cc:0:7::/64"))
        .build()
        .unwrap();
    assert_eq!(pool.gateway(), ip("fd00:cc::1"));
    assert_eq!(alloc(&mut pool), "fd00:cc:0:7::");
    assert_eq!(alloc(&mut pool), "fd00:cc:0:7::1");
    pool.request(ip("fd00:cc::2")).unwrap();
    assert!(pool.is_allocated(ip("fd00:cc::2")));
}

#[test]
fn debug_is_a_summary() {
    let pool = Pool::new(net("10.10.0.0/16")).unwrap();
    let s = format!("{pool:?}");
    assert!(
        s.starts_with("Pool { subnet: 10.10.0.0/16, gateway: 10.10.0.1"),
        "{s}"
    );
    assert!(s.len() < 300, "{s}");
}

#[test]
fn allocation_crosses_bitmap_chunks() {
    // A /15 is two 65,536-address chunks.
    let mut pool = Pool::builder(net("10.0.0.0/15"))
        .order(Order::Lowest)
        .build()
        .unwrap();
    for _ in 0..65_534 {
        pool.allocate().unwrap();
    }
    assert_eq!(alloc(&mut pool), "10.1.0.0");
    assert_eq!(alloc(&mut pool), "10.1.0.1");
    pool.release(ip("10.0.200.1")).unwrap();
    assert_eq!(alloc(&mut pool), "10.0.200.1");
    // Emptying the second chunk and filling it again.
    pool.release(ip("10.1.0.0")).unwrap();
    pool.release(ip("10.1.0.1")).unwrap();
    assert!(!pool.is_allocated(ip("10.1.0.1")));
    assert_eq!(alloc(&mut pool), "10.1.0.0");

    // Serial order wraps from the last chunk back to the first.
    let mut pool = Pool::builder(net("10.2.0.0/15"))
        .range(net("10.3.0.0/16"))
        .build()
        .unwrap();
    for _ in 0..65_534 {
        pool.allocate().unwrap();
    }
    assert_eq!(alloc(&mut pool), "10.3.255.254");
    assert!(matches!(pool.allocate(), Err(Error::Exhausted { .. })));
    pool.release(ip("10.3.0.9")).unwrap();
    assert_eq!(alloc(&mut pool), "10.3.0.9");
    let json = serde_json::to_string(&pool).unwrap();
    assert!(
        json.contains(r#""allocated":["10.3.0.0-10.3.255.254"]"#),
        "{json}"
    );
}

#[test]
fn ipv6_allocation_crosses_chunks_of_the_window() {
    let mut pool = Pool::new(net("fd00:dd::/64")).unwrap();
    for _ in 0..70_000 {
        pool.allocate().unwrap();
    }
    assert_eq!(pool.used(), 70_001);
    assert!(pool.is_allocated(ip("fd00:dd::1:0")));
    // 70,001 = 0x1_1171: the last address handed out.
    assert!(pool.is_allocated(ip("fd00:dd::1:1171")));
    assert!(!pool.is_allocated(ip("fd00:dd::1:1172")));
    let back: Pool = serde_json::from_str(&serde_json::to_string(&pool).unwrap()).unwrap();
    assert_eq!(back, pool);
}
