//! Who the client is. Without trusted proxies it is the TCP peer, and `X-Forwarded-*` headers are
//! ignored (anyone can send them). When the peer is in `--trusted-proxies`, the client is the
//! rightmost `X-Forwarded-For` address that is not itself a trusted proxy (each proxy appends the
//! address it was reached from, so everything left of that is what the client claimed), and the
//! request came over https when the nearest proxy says so in `X-Forwarded-Proto`.
//!
//! A middleware ([`client_address`]) resolves this once per request and keeps the answer as
//! [`ClientAddr`] in the request, where login throttling reads it (`app::ssr::client_ip`); for
//! https requests it marks the session cookie `Secure`.

use app::ssr::ClientAddr;
use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderValue, header},
    middleware::Next,
    response::Response,
};
use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

/// An address range such as `10.0.0.0/8` or `fd00::/8`; a bare address is a range of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a dual-stack listener reports) as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

fn mask_v4(a: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let bits = u32::from(a);
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    };
    Ipv4Addr::from(bits & mask)
}

fn mask_v6(a: Ipv6Addr, prefix: u8) -> Ipv6Addr {
    let bits = u128::from(a);
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    };
    Ipv6Addr::from(bits & mask)
}

impl Cidr {
    /// The range of `prefix` leading bits of `ip` (bits beyond the prefix are ignored).
    pub fn new(ip: IpAddr, prefix: u8) -> Result<Self, String> {
        let (ip, prefix) = match ip {
            // `::ffff:10.0.0.0/104` is `10.0.0.0/8`.
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (ip, prefix),
            },
            other => (other, prefix),
        };
        let network = match ip {
            IpAddr::V4(a) if prefix <= 32 => IpAddr::V4(mask_v4(a, prefix)),
            IpAddr::V6(a) if prefix <= 128 => IpAddr::V6(mask_v6(a, prefix)),
            _ => return Err(format!("/{prefix} is too long a prefix for {ip}")),
        };
        Ok(Self { network, prefix })
    }

    /// Whether `ip` lies in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => mask_v4(a, self.prefix) == n,
            (IpAddr::V6(n), IpAddr::V6(a)) => mask_v6(a, self.prefix) == n,
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || format!("'{s}' is not an address range such as 10.0.0.0/8, fd00::/8 or 192.0.2.7");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().map_err(|_| bad())?,
            None if ip.is_ipv4() => 32,
            None => 128,
        };
        Cidr::new(ip, prefix).map_err(|e| format!("'{s}': {e}"))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// What O-Neko believes about a request's origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The client's address.
    pub client: IpAddr,
    /// Whether a trusted proxy says the client used https.
    pub https: bool,
    /// Whether the request carried `X-Forwarded-For` that was ignored because the peer is not
    /// a trusted proxy.
    pub ignored_forwarded: bool,
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`192.0.2.7:4711`,
/// `[2001:db8::7]:4711`) as some proxies write it.
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
        .map(canonical)
}

/// Resolves a request from `peer` with `headers`, believing forwarded headers only from
/// `trusted` peers.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> Origin {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    if !is_trusted(peer) {
        return Origin {
            client: peer,
            https: false,
            ignored_forwarded: !forwarded.is_empty(),
        };
    }
    // Right to left: each trusted hop vouches for the entry to its left. The first address not
    // in a trusted range is the client; an unreadable entry ends the walk at the last hop read.
    let mut client = peer;
    for entry in forwarded.iter().rev() {
        match parse_forwarded(entry) {
            Some(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            None => break,
        }
    }
    // The nearest proxy's word (the last value) on the scheme.
    let https = headers
        .get_all("x-forwarded-proto")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    Origin {
        client,
        https,
        ignored_forwarded: false,
    }
}

/// Adds `Secure` to the session cookie being set, if it lacks it.
fn make_session_cookie_secure(headers: &mut HeaderMap) {
    let prefix = format!("{}=", super::session::SESSION_COOKIE);
    let cookies: Vec<HeaderValue> = headers.get_all(header::SET_COOKIE).iter().cloned().collect();
    if !cookies
        .iter()
        .any(|c| c.to_str().is_ok_and(|c| c.starts_with(&prefix)))
    {
        return;
    }
    headers.remove(header::SET_COOKIE);
    for cookie in cookies {
        let value = match cookie.to_str() {
            Ok(c)
                if c.starts_with(&prefix)
                    && !c
                        .split(';')
                        .any(|attr| attr.trim().eq_ignore_ascii_case("secure")) =>
            {
                HeaderValue::from_str(&format!("{c}; Secure")).unwrap_or(cookie)
            }
            _ => cookie,
        };
        headers.append(header::SET_COOKIE, value);
    }
}

/// The middleware: stores the request's [`ClientAddr`], and makes the session cookie `Secure`
/// when a trusted proxy says the client used https (an https `--public-url` makes it `Secure`
/// always). Runs outside the session layer, which writes the cookie.
/// What [`client_address`] needs of the configuration.
#[derive(Clone)]
pub struct ProxySettings {
    /// `--trusted-proxies`.
    pub trusted: Arc<[Cidr]>,
    /// The session cookie is `Secure` already (an https `--public-url`).
    pub secure_cookies: bool,
}

pub async fn client_address(State(config): State<ProxySettings>, mut req: Request, next: Next) -> Response {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let mut https = false;
    if let Some(peer) = peer {
        let origin = resolve(peer, req.headers(), &config.trusted);
        if origin.ignored_forwarded && !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                %peer,
                "a request carries X-Forwarded-For but its peer is not in --trusted-proxies: \
                 the header is ignored, so every client behind that proxy shares one login \
                 throttling budget (set ONEKO_TRUSTED_PROXIES to the proxy's addresses)"
            );
        }
        req.extensions_mut().insert(ClientAddr(origin.client));
        https = origin.https;
    }
    let mut resp = next.run(req).await;
    if https && !config.secure_cookies {
        make_session_cookie_secure(resp.headers_mut());
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_parse_and_match() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains(ip("10.255.1.2")));
        assert!(
            c.contains(ip("::ffff:10.1.2.3")),
            "IPv4-mapped peers match IPv4 ranges"
        );
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(!c.contains(ip("::1")));
        let one: Cidr = " 127.0.0.1 ".parse().unwrap();
        assert_eq!(one.to_string(), "127.0.0.1/32");
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert_eq!("10.1.2.3/8".parse::<Cidr>().unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(
            "::ffff:10.0.0.0/104".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("192.0.2.1")));
        for bad in ["", "10.0.0.0/33", "fd00::/129", "ten/8", "10.0.0.0/x", "10.0.0/8"] {
            let err = bad.parse::<Cidr>().unwrap_err();
            assert!(
                err.contains("address range") || err.contains("prefix"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn forwarded_headers_are_ignored_from_untrusted_peers() {
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.9"),
            ("x-forwarded-proto", "https"),
        ]);
        let o = resolve(ip("127.0.0.1"), &h, &[]);
        assert_eq!(o.client, ip("127.0.0.1"));
        assert!(!o.https && o.ignored_forwarded);
        let o = resolve(ip("192.0.2.1"), &h, &cidrs(&["10.0.0.0/8"]));
        assert_eq!(o.client, ip("192.0.2.1"));
        assert!(!o.https);
        let o = resolve(ip("192.0.2.1"), &HeaderMap::new(), &[]);
        assert!(!o.ignored_forwarded);
    }

    #[test]
    fn the_rightmost_untrusted_address_is_the_client() {
        let trusted = cidrs(&["10.0.0.0/8", "127.0.0.1"]);
        // The client claims to be someone else; the proxy appended the real address.
        let h = headers(&[("x-forwarded-for", "198.51.100.9, 203.0.113.7")]);
        assert_eq!(resolve(ip("10.1.1.1"), &h, &trusted).client, ip("203.0.113.7"));
        // Two proxies: the inner one is trusted and skipped.
        let h = headers(&[("x-forwarded-for", "203.0.113.7, 10.2.2.2")]);
        assert_eq!(resolve(ip("10.1.1.1"), &h, &trusted).client, ip("203.0.113.7"));
        // Several header lines count as one list, in order.
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.9"),
            ("x-forwarded-for", "203.0.113.7"),
        ]);
        assert_eq!(resolve(ip("10.1.1.1"), &h, &trusted).client, ip("203.0.113.7"));
        // Ports and brackets, IPv4-mapped addresses.
        let h = headers(&[("x-forwarded-for", "[2001:db8::7]:4711")]);
        assert_eq!(
            resolve(ip("::ffff:10.1.1.1"), &h, &trusted).client,
            ip("2001:db8::7")
        );
        let h = headers(&[("x-forwarded-for", "203.0.113.7:80")]);
        assert_eq!(resolve(ip("10.1.1.1"), &h, &trusted).client, ip("203.0.113.7"));
        // Everything trusted: the leftmost hop (a client inside the cluster).
        let h = headers(&[("x-forwarded-for", "10.3.3.3, 10.2.2.2")]);
        assert_eq!(resolve(ip("10.1.1.1"), &h, &trusted).client, ip("10.3.3.3"));
        // Garbage ends the walk at the last address read.
        let h = headers(&[("x-forwarded-for", "203.0.113.7, unknown, 10.2.2.2")]);
        assert_eq!(resolve(ip("10.1.1.1"), &h, &trusted).client, ip("10.2.2.2"));
        let h = headers(&[("x-forwarded-for", "")]);
        assert_eq!(resolve(ip("10.1.1.1"), &h, &trusted).client, ip("10.1.1.1"));
        // No header: the peer.
        assert_eq!(
            resolve(ip("10.1.1.1"), &HeaderMap::new(), &trusted).client,
            ip("10.1.1.1")
        );
    }

    #[test]
    fn https_only_from_a_trusted_proxy() {
        let trusted = cidrs(&["10.0.0.0/8"]);
        let https = headers(&[("x-forwarded-proto", "HTTPS")]);
        assert!(resolve(ip("10.1.1.1"), &https, &trusted).https);
        assert!(!resolve(ip("192.0.2.1"), &https, &trusted).https);
        let chain = headers(&[("x-forwarded-proto", "https, http")]);
        assert!(
            !resolve(ip("10.1.1.1"), &chain, &trusted).https,
            "the nearest proxy's word counts"
        );
        assert!(!resolve(ip("10.1.1.1"), &HeaderMap::new(), &trusted).https);
    }

    #[test]
    fn only_the_session_cookie_is_made_secure() {
        let mut h = headers(&[
            ("set-cookie", "oneko_session=abc; HttpOnly; SameSite=Lax; Path=/"),
            ("set-cookie", "other=1; Path=/"),
        ]);
        make_session_cookie_secure(&mut h);
        let cookies: Vec<_> = h
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(
            cookies,
            [
                "oneko_session=abc; HttpOnly; SameSite=Lax; Path=/; Secure",
                "other=1; Path=/"
            ]
        );
        make_session_cookie_secure(&mut h);
        assert_eq!(
            h.get_all("set-cookie")
                .iter()
                .filter(|v| v.to_str().unwrap().contains("Secure"))
                .count(),
            1
        );
        assert!(
            !h.get("set-cookie")
                .unwrap()
                .to_str()
                .unwrap()
                .ends_with("Secure; Secure")
        );
    }
}
