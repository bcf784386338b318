//! The engine's merged answers against the databases' own search trees, and its record
//! cache within budget.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipintel_core::geo::{DbKind, GeoOptions, GeoService};

use crate::support::{build_fixtures, source_dir, STANDARD_SET};

/// Every network edge in the fixture sources, and the addresses either side of it.
fn edge_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    for stem in STANDARD_SET {
        let text = std::fs::read_to_string(source_dir().join(format!("{stem}.json"))).unwrap();
        let entries: Vec<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_str(&text).unwrap();
        for net in entries.iter().flat_map(|e| e.keys()) {
            let net: ipnet::IpNet = net.parse().unwrap();
            for ip in [net.network(), net.broadcast()] {
                out.push(ip);
                match ip {
                    IpAddr::V4(v4) => {
                        let n = u32::from(v4);
                        out.extend(
                            [n.wrapping_sub(1), n.wrapping_add(1)]
                                .map(|n| IpAddr::V4(Ipv4Addr::from(n))),
                        );
                    }
                    IpAddr::V6(v6) => {
                        let n = u128::from(v6);
                        out.extend(
                            [n.wrapping_sub(1), n.wrapping_add(1)]
                                .map(|n| IpAddr::V6(Ipv6Addr::from(n))),
                        );
                    }
                }
            }
        }
    }
    // And a deterministic spray over both families.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.push(IpAddr::V4(Ipv4Addr::from((state >> 32) as u32)));
        out.push(IpAddr::V6(Ipv6Addr::from(
            ((state as u128) << 64) | u128::from(state.rotate_left(17)),
        )));
    }
    out
}

#[test]
fn merged_answers_agree_with_the_trees() {
    let dir = tempfile::tempdir().unwrap();
    let paths = build_fixtures(dir.path(), STANDARD_SET);
    // A budget far smaller than the fixtures' records, so eviction happens during the sweep.
    let geo = GeoService::open(GeoOptions {
        paths,
        verify: true,
        cache_bytes: 16 * 1024,
    })
    .unwrap();
    let set = geo.snapshot();
    let addresses = edge_addresses();
    let mut n_found = 0;
    for &ip in &addresses {
        let answer = set.locate(ip).unwrap();
        let mut narrowest = 0u8;
        for db in &set.dbs {
            let hit = db.hit(ip).unwrap();
            narrowest = narrowest.max(hit.prefix_len.unwrap_or(0));
            let present = hit.offset.is_some();
            match db.kind {
                DbKind::City => assert_eq!(answer.place.is_some(), present, "{ip}: place"),
                DbKind::AnonymousIp => {
                    assert_eq!(answer.anonymity.is_some(), present, "{ip}: anonymity")
                }
                _ => {
                    if present {
                        assert!(
                            answer.network_traits.is_some(),
                            "{ip}: {} hit but no traits",
                            db.kind
                        );
                    }
                }
            }
        }
        let expected = ipnet::IpNet::new(ip, narrowest).unwrap().trunc();
        assert_eq!(answer.network, expected, "{ip}: network");
        n_found += !answer.is_empty() as usize;
    }
    assert!(
        n_found > 50,
        "the sample reaches the fixture networks ({n_found})"
    );

    // Aliased IPv6 forms answer what their IPv4 address answers.
    for (v6, v4, network) in [
        (
            "::ffff:81.2.69.165",
            "81.2.69.165",
            "::ffff:81.2.69.160/125",
        ),
        ("::81.2.69.165", "81.2.69.165", "::5102:45a0/125"),
        ("2002:5102:45a5::", "81.2.69.165", "2002:5102:45a0::/45"),
        (
            "2001:0:5102:45a5::1",
            "81.2.69.165",
            "2001:0:5102:45a0::/61",
        ),
    ] {
        let a = set.locate(v6.parse().unwrap()).unwrap();
        let b = set.locate(v4.parse().unwrap()).unwrap();
        assert_eq!(a.network.to_string(), network, "{v6}");
        assert_eq!(
            a.place.as_ref().unwrap().key,
            b.place.as_ref().unwrap().key,
            "{v6}: same record as {v4}"
        );
        assert_eq!(
            a.network_traits.as_ref().unwrap().key,
            b.network_traits.as_ref().unwrap().key,
            "{v6}"
        );
    }
    let stats = set.cache_stats();
    assert!(
        stats.bytes <= 16 * 1024,
        "the cache keeps its budget: {stats:?}"
    );
    assert!(
        stats.hits > 0 && stats.misses > 0 && stats.entries > 0,
        "{stats:?}"
    );
}

/// A place record's own traits (City's `is_anycast`) belong to that place only: two
/// addresses under one ASN record, one in an anycast City network and one not, each get
/// their own merged traits, in either order and again from the cache.
#[test]
fn place_traits_stay_with_their_place_when_a_network_record_is_shared() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, kind: &str, json: &str| {
        let src = dir.path().join(format!("{name}.json"));
        std::fs::write(&src, json).unwrap();
        let out = dir.path().join(format!("{name}.mmdb"));
        ipintel_core::geo::build::build_from_json(&src, kind, &out).unwrap();
        out
    };
    let city = write(
        "city",
        "GeoIP2-City",
        r#"[{"1.0.0.0/25": {"country": {"iso_code": "AU"}, "traits": {"is_anycast": true}}},
            {"1.0.0.128/25": {"country": {"iso_code": "AU"}}}]"#,
    );
    let asn = write(
        "asn",
        "GeoLite2-ASN",
        r#"[{"1.0.0.0/24": {"autonomous_system_number": 64496,
                              "autonomous_system_organization": "Example"}}]"#,
    );
    let geo = GeoService::open(GeoOptions {
        paths: vec![city, asn],
        verify: true,
        cache_bytes: 1 << 20,
    })
    .unwrap();
    let set = geo.snapshot();
    let anycast = |ip: &str| {
        let answer = set.locate(ip.parse().unwrap()).unwrap();
        let traits = &answer.network_traits.as_ref().expect("ASN traits").data;
        assert_eq!(traits.autonomous_system_number, Some(64496), "{ip}");
        traits.is_anycast
    };
    for _ in 0..2 {
        assert!(!anycast("1.0.0.200"), "not an anycast network");
        assert!(anycast("1.0.0.1"), "the anycast network");
        assert!(!anycast("1.0.0.129"));
    }
}
