//! Where a run's browser may connect. Input: a host (a literal URL host, or the addresses
//! a name resolved to) and the operator's allow list. Output: allowed, or the reason it
//! is refused. Invariant: loopback, private, link-local, shared, reserved, multicast and
//! documentation addresses are refused in every spelling (IPv4-mapped, NAT64 and 6to4
//! IPv6 forms are judged by the IPv4 address they carry) unless the allow list names
//! them; the browser reaches the network only through [`proxy`], which applies this
//! rule to the address it actually connects to, after name resolution.

pub mod proxy;

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What the operator opened (`--allow-targets`): networks and host names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetPolicy {
    networks: Vec<IpNet>,
    /// Lower-case names; a name also covers its subdomains.
    hosts: Vec<String>,
}

/// IPv4 ranges no run may reach by default, with the words a refusal uses.
const REFUSED_V4: [(&str, &str); 15] = [
    ("0.0.0.0/8", "a 'this network' address"),
    ("10.0.0.0/8", "a private address"),
    ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
    ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address (cloud metadata lives there)"),
    ("172.16.0.0/12", "a private address"),
    ("192.0.0.0/24", "a protocol-assignment address"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.88.99.0/24", "a 6to4 relay address"),
    ("192.168.0.0/16", "a private address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
];

/// IPv6 ranges refused outright (the forms that carry an IPv4 address are unwrapped
/// first, see [`embedded_v4`]).
const REFUSED_V6: [(&str, &str); 9] = [
    ("::/128", "the unspecified address"),
    ("::1/128", "a loopback address"),
    ("::/96", "an IPv4-compatible address"),
    ("100::/64", "a discard address"),
    ("2001::/32", "a Teredo address"),
    ("2001:db8::/32", "a documentation address"),
    ("fc00::/7", "a unique-local (private) address"),
    ("fe80::/10", "a link-local address"),
    ("ff00::/8", "a multicast address"),
];

impl TargetPolicy {
    /// The default: only public addresses.
    pub fn public_only() -> TargetPolicy {
        TargetPolicy::default()
    }

    /// Parses a comma- or space-separated list of CIDRs, addresses and host names
    /// (`127.0.0.1/32, staging.internal`). `what` names the source in errors.
    pub fn parse(list: &str, what: &str) -> Result<TargetPolicy, String> {
        let mut policy = TargetPolicy::default();
        for item in list.split([',', ' ', '\n']).map(str::trim).filter(|i| !i.is_empty()) {
            if let Ok(net) = item.parse::<IpNet>() {
                policy.networks.push(net.trunc());
            } else if let Ok(ip) = item.parse::<IpAddr>() {
                policy.networks.push(IpNet::from(ip));
            } else if is_host_name(item) {
                policy.hosts.push(item.trim_end_matches('.').to_ascii_lowercase());
            } else {
                return Err(format!("{what}: {item:?} is neither a CIDR (10.0.0.0/8), an address nor a host name"));
            }
        }
        Ok(policy)
    }

    /// Whether the operator opened nothing.
    pub fn is_public_only(&self) -> bool {
        self.networks.is_empty() && self.hosts.is_empty()
    }

    /// Whether the browser may connect to `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        // An allowed IPv4 network covers the IPv6 forms that carry its addresses too.
        let opened = |net: &IpNet| net.contains(&ip) || net.contains(&carried_v4(ip));
        match refusal(ip) {
            Some(why) if !self.networks.iter().any(opened) => Err(format!("{ip} is {why}")),
            _ => Ok(()),
        }
    }

    /// Whether `host` is a name the operator opened (then whatever it resolves to is
    /// allowed).
    pub fn allows_name(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.iter().any(|allowed| host == *allowed || host.ends_with(&format!(".{allowed}")))
    }

    /// The check a request can make before any name is resolved: a literal address in
    /// any spelling the URL parser accepts (`http://2130706433/`, `http://127.1/`,
    /// `http://[::ffff:127.0.0.1]/`) and names that always mean this machine
    /// (`localhost`). Other names are judged by the browser's proxy once resolved.
    pub fn check_url(&self, url: &url::Url) -> Result<(), String> {
        match url.host() {
            None => Err(format!("{url} has no host")),
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) if self.allows_name(name) => Ok(()),
            Some(url::Host::Domain(name)) if is_local_name(name) => {
                self.check_ip(IpAddr::V4(Ipv4Addr::LOCALHOST)).map_err(|_| format!("{name} is this machine (a loopback address)"))
            }
            Some(url::Host::Domain(_)) => Ok(()),
        }
    }
}

/// The address `ip` stands for: the IPv4 address inside an IPv6 form that carries one,
/// else `ip` itself.
fn carried_v4(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Why `ip` is refused by default, or `None` for a public address.
fn refusal(ip: IpAddr) -> Option<&'static str> {
    let ip = carried_v4(ip);
    if ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
        return Some("the broadcast address");
    }
    // Parsed once: the proxy asks for every connection a page makes.
    static REFUSED: std::sync::LazyLock<Vec<(IpNet, &'static str)>> = std::sync::LazyLock::new(|| {
        REFUSED_V4.iter().chain(REFUSED_V6.iter()).map(|(net, why)| (net.parse().expect("the tables hold valid networks"), *why)).collect()
    });
    REFUSED.iter().find(|(net, _)| net.contains(&ip)).map(|(_, why)| *why)
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped (`::ffff:a.b.c.d`), NAT64
/// (`64:ff9b::a.b.c.d`) and 6to4 (`2002:AABB:CCDD::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        Some(v4)
    } else if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        Some(tail)
    } else if s[0] == 0x2002 {
        Some(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8))
    } else {
        None
    }
}

/// Names that mean this machine whatever DNS says.
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

fn is_host_name(text: &str) -> bool {
    let text = text.trim_end_matches('.');
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| !label.is_empty() && label.len() <= 63 && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: &TargetPolicy, url: &str) -> bool {
        policy.check_url(&url::Url::parse(url).unwrap()).is_err()
    }

    #[test]
    fn every_spelling_of_an_inward_address_is_refused() {
        let policy = TargetPolicy::public_only();
        for url in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://0/",
            "http://localhost:8080/",
            "http://app.localhost/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.1.2.3/",
            "http://172.20.0.1/",
            "http://192.168.1.1/",
            "http://100.100.100.100/",
            "http://[::1]/",
            "http://[::]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
        ] {
            assert!(refused(&policy, url), "{url} must be refused");
        }
        for url in ["https://example.com/", "http://93.184.215.14/", "http://[2606:4700::1111]/", "http://[::ffff:93.184.215.14]/"] {
            assert!(!refused(&policy, url), "{url} is public");
        }
    }

    #[test]
    fn the_allow_list_opens_networks_and_names_only() {
        let policy = TargetPolicy::parse("127.0.0.1/32, staging.internal", "--allow-targets").unwrap();
        assert!(!refused(&policy, "http://127.0.0.1:3000/") && !refused(&policy, "http://2130706433/"));
        assert!(!refused(&policy, "http://localhost/"), "localhost is 127.0.0.1");
        assert!(refused(&policy, "http://127.0.0.2/") && refused(&policy, "http://[::1]/"));
        assert!(policy.allows_name("app.staging.internal") && !policy.allows_name("staging.internal.evil.test"));
        let error = TargetPolicy::parse("10.0.0.0/8, not a host!", "DEMOREEL_ALLOW_TARGETS").unwrap_err();
        assert!(error.contains("DEMOREEL_ALLOW_TARGETS") && error.contains("host!"), "{error}");
        assert!(policy.check_ip("169.254.169.254".parse().unwrap()).unwrap_err().contains("link-local"));
    }
}
