//! Reserved and private address ranges.
//!
//! The list is the one MaxMind's own writers leave out of their databases (mmdbwriter
//! `reserved.go`), so "reserved" here means what MaxMind's web service answers with
//! `IP_ADDRESS_RESERVED`. IPv6 forms that embed an IPv4 address (IPv4-mapped, IPv4-compatible,
//! 6to4, Teredo) are aliases of the IPv4 tree in every MaxMind database, so they are classified
//! by the IPv4 address they carry.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// (network, prefix length, what it is), IPv4.
const RESERVED_V4: &[(u32, u8, &str)] = &[
    (0x0000_0000, 8, "This network"),
    (0x0a00_0000, 8, "Rfc 1918"),
    (0x6440_0000, 10, "Shared address space"),
    (0x7f00_0000, 8, "Loopback"),
    (0xa9fe_0000, 16, "Link local"),
    (0xac10_0000, 12, "Rfc 1918"),
    (0xc000_0000, 29, "IETF protocol assignments"),
    (0xc000_0200, 24, "Documentation"),
    (0xc058_6300, 24, "6to4 relay anycast"),
    (0xc0a8_0000, 16, "Rfc 1918"),
    (0xc612_0000, 15, "Benchmarking"),
    (0xc633_6400, 24, "Documentation"),
    (0xcb00_7100, 24, "Documentation"),
    (0xe000_0000, 4, "Multicast"),
    (0xf000_0000, 4, "Reserved"),
];

/// (network, prefix length, what it is), IPv6 (beyond the IPv4 aliases).
const RESERVED_V6: &[(u128, u8, &str)] = &[
    (0x0100_0000_0000_0000_0000_0000_0000_0000, 64, "Discard"),
    (
        0x2001_0000_0000_0000_0000_0000_0000_0000,
        23,
        "IETF protocol assignments",
    ),
    (
        0x2001_0db8_0000_0000_0000_0000_0000_0000,
        32,
        "Documentation",
    ),
    (0xfc00_0000_0000_0000_0000_0000_0000_0000, 7, "Unique local"),
    (0xfe80_0000_0000_0000_0000_0000_0000_0000, 10, "Link local"),
    (0xff00_0000_0000_0000_0000_0000_0000_0000, 8, "Multicast"),
];

fn in_prefix<const BITS: u32>(addr: u128, net: u128, len: u8) -> bool {
    if len == 0 {
        return true;
    }
    let shift = BITS - u32::from(len);
    (addr >> shift) == (net >> shift)
}

/// The IPv4 address an IPv6 address is an alias of in MaxMind's databases, and how many
/// leading bits of the IPv6 address sit above the IPv4 subtree. MMDB writers point these
/// subtrees at the IPv4 tree: IPv4-compatible `::a.b.c.d` (the IPv4 subtree itself, at bit
/// 96), IPv4-mapped `::ffff:a.b.c.d` (96), 6to4 `2002:aabb:ccdd::` (16) and Teredo
/// `2001:0:aabb:ccdd::` (32: the bits after the prefix, i.e. the Teredo server address).
pub fn alias_ipv4(v6: Ipv6Addr) -> Option<(Ipv4Addr, u8)> {
    let bits = u128::from(v6);
    if bits >> 32 == 0 || bits >> 32 == 0xffff {
        return Some((Ipv4Addr::from(bits as u32), 96));
    }
    if bits >> 112 == 0x2002 {
        return Some((Ipv4Addr::from((bits >> 80) as u32), 16));
    }
    if bits >> 96 == 0x2001_0000 {
        return Some((Ipv4Addr::from((bits >> 64) as u32), 32));
    }
    None
}

/// The IPv4 address an IPv6 address stands for in MaxMind's tree, if any (see `alias_ipv4`).
pub fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    alias_ipv4(v6).map(|(v4, _)| v4)
}

/// Whether MaxMind would call this address reserved.
pub fn is_reserved(ip: IpAddr) -> bool {
    reserved_label(ip).is_some()
}

/// What reserved range the address is in (`"Rfc 1918"`, `"Loopback"`, ...), if any.
pub fn reserved_label(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => reserved_label_v4(v4),
        IpAddr::V6(v6) => match embedded_ipv4(v6) {
            Some(v4) => reserved_label_v4(v4),
            None => {
                let bits = u128::from(v6);
                RESERVED_V6
                    .iter()
                    .find(|&&(net, len, _)| in_prefix::<128>(bits, net, len))
                    .map(|&(_, _, label)| label)
            }
        },
    }
}

fn reserved_label_v4(v4: Ipv4Addr) -> Option<&'static str> {
    let bits = u128::from(u32::from(v4));
    RESERVED_V4
        .iter()
        .find(|&&(net, len, _)| in_prefix::<32>(bits, u128::from(net), len))
        .map(|&(_, _, label)| label)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reserved(s: &str) -> bool {
        is_reserved(s.parse().unwrap())
    }

    #[test]
    fn ipv4_ranges() {
        for ip in [
            "10.0.0.1",
            "127.0.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "172.31.255.255",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.0.7",
            "198.19.0.1",
        ] {
            assert!(reserved(ip), "{ip} should be reserved");
        }
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "192.0.0.8",
            "100.128.0.1",
            "81.2.69.160",
            "198.20.0.1",
        ] {
            assert!(!reserved(ip), "{ip} should not be reserved");
        }
    }

    #[test]
    fn ipv6_ranges_and_aliases() {
        for ip in [
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "2002:c0a8:0101::1",
            "2001:0:0a00:0001:8000:63bf:f5ff:fffe",
            "100::1",
            "2001:10::1",
        ] {
            assert!(reserved(ip), "{ip} should be reserved");
        }
        // Teredo is judged by the address the tree maps it to: the server, 65.54.227.120 here.
        for ip in [
            "2001:218::1",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
            "2002:0808:0808::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ] {
            assert!(!reserved(ip), "{ip} should not be reserved");
        }
    }

    #[test]
    fn embedded_forms() {
        let v4: Ipv4Addr = "81.2.69.160".parse().unwrap();
        assert_eq!(
            embedded_ipv4("::ffff:81.2.69.160".parse().unwrap()),
            Some(v4)
        );
        assert_eq!(embedded_ipv4("::81.2.69.160".parse().unwrap()), Some(v4));
        assert_eq!(embedded_ipv4("2002:5102:45a0::".parse().unwrap()), Some(v4));
        assert_eq!(
            embedded_ipv4("2001:0:5102:45a0::1".parse().unwrap()),
            Some(v4)
        );
        assert_eq!(embedded_ipv4("2a00::1".parse().unwrap()), None);
        assert_eq!(
            alias_ipv4("2002:5102:45a0::".parse().unwrap()),
            Some((v4, 16))
        );
    }
}
