//! IPv4 block arithmetic, shared by the network kind's validation and plan.

use std::net::Ipv4Addr;

pub type Cidr4 = (Ipv4Addr, u8);

pub fn parse4(c: &str) -> Option<Cidr4> {
    let (ip, len) = c.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
    Some((ip, len))
}

pub fn mask4(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len) }
}

/// No host bits set: the block written as its network address.
pub fn canonical4(ip: Ipv4Addr, len: u8) -> bool {
    u32::from(ip) & !mask4(len) == 0
}

/// The network address of the block `ip` lies in.
pub fn network4(ip: Ipv4Addr, len: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(ip) & mask4(len))
}

pub fn overlap4(a: Cidr4, b: Cidr4) -> bool {
    let m = mask4(a.1.min(b.1));
    u32::from(a.0) & m == u32::from(b.0) & m
}

pub fn contains4(outer: Cidr4, inner: Cidr4) -> bool {
    inner.1 >= outer.1 && u32::from(inner.0) & mask4(outer.1) == u32::from(outer.0)
}

/// The first block of size `/len` inside one of `within` that overlaps nothing taken.
pub fn next_free4(within: &[Cidr4], len: u8, taken: &[Cidr4]) -> Option<Cidr4> {
    for v in within {
        if len < v.1 || len > 32 {
            continue;
        }
        let step = 1u64 << (32 - len);
        let start = u64::from(u32::from(v.0));
        let end = start + (1u64 << (32 - v.1));
        let mut at = start;
        while at < end {
            let cand = (Ipv4Addr::from(at as u32), len);
            if !taken.iter().any(|t| overlap4(*t, cand)) {
                return Some(cand);
            }
            at += step;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks() {
        let a = parse4("172.31.96.0/24").unwrap();
        let vpc = parse4("172.31.0.0/16").unwrap();
        assert!(contains4(vpc, a) && !contains4(a, vpc));
        assert!(overlap4(a, vpc) && !overlap4(a, parse4("172.31.97.0/24").unwrap()));
        assert!(canonical4(a.0, a.1) && !canonical4("172.31.96.5".parse().unwrap(), 24));
        assert_eq!(parse4("172.31.96.0/33"), None);
        let taken = [parse4("172.31.0.0/20").unwrap(), a];
        assert_eq!(
            next_free4(&[vpc], 24, &taken),
            Some(("172.31.16.0".parse().unwrap(), 24))
        );
    }
}
