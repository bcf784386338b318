//! The operator's own networks (QRadar's "network hierarchy"): an address inside one is
//! local, whatever the GeoIP databases say, and carries the network's name and domain id.

use std::net::IpAddr;

use ipnet::IpNet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalNetwork {
    pub network: IpNet,
    pub name: String,
    pub domain_id: u32,
}

/// Local networks, most specific first.
#[derive(Debug, Clone, Default)]
pub struct LocalNetworks(Vec<LocalNetwork>);

impl LocalNetworks {
    pub fn new(mut networks: Vec<LocalNetwork>) -> Self {
        for n in &mut networks {
            n.network = n.network.trunc();
        }
        networks.sort_by_key(|n| std::cmp::Reverse(n.network.prefix_len()));
        LocalNetworks(networks)
    }

    /// The most specific local network holding `ip`. IPv4-mapped IPv6 addresses count as
    /// their IPv4 address.
    pub fn find(&self, ip: IpAddr) -> Option<&LocalNetwork> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.0.iter().find(|n| n.network.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_wins() {
        let net = |cidr: &str, name: &str, domain_id| LocalNetwork {
            network: cidr.parse().unwrap(),
            name: name.into(),
            domain_id,
        };
        let nets = LocalNetworks::new(vec![
            net("10.0.0.0/8", "corp", 0),
            net("10.1.2.0/24", "corp.lab", 3),
            net("fd00::/8", "v6", 1),
        ]);
        assert_eq!(
            nets.find("10.1.2.9".parse().unwrap()).unwrap().name,
            "corp.lab"
        );
        assert_eq!(nets.find("10.9.9.9".parse().unwrap()).unwrap().domain_id, 0);
        assert_eq!(
            nets.find("::ffff:10.1.2.9".parse().unwrap()).unwrap().name,
            "corp.lab"
        );
        assert_eq!(nets.find("fd00::1".parse().unwrap()).unwrap().name, "v6");
        assert!(nets.find("11.0.0.1".parse().unwrap()).is_none());
    }
}
