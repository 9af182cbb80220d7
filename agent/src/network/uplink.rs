//! The uplink: the interface of the host's default IPv4 route. Pods take its MTU (a
//! bigger pod MTU would black-hole large packets on the way out), and the node's address
//! is its address unless `--node-ip` says otherwise.

use std::ffi::CStr;
use std::fs;
use std::net::{IpAddr, Ipv4Addr};

/// When the host has no default route (an offline node): the Ethernet MTU.
pub const FALLBACK_MTU: u32 = 1500;

/// The interface of the lowest-metric default route in `/proc/net/route`.
pub fn default_interface() -> Option<String> {
    default_interface_in(&fs::read_to_string("/proc/net/route").ok()?)
}

/// Parses the kernel's route table text (`Iface Destination Gateway Flags RefCnt Use
/// Metric Mask ...`, addresses in hex): a default route has destination and mask 0 and
/// the RTF_UP flag.
pub fn default_interface_in(table: &str) -> Option<String> {
    const RTF_UP: u32 = 0x1;
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (iface, dest, flags, metric, mask) = (
                cols.first()?,
                cols.get(1)?,
                cols.get(3)?,
                cols.get(6)?,
                cols.get(7)?,
            );
            let flags = u32::from_str_radix(flags, 16).ok()?;
            let default = *dest == "00000000" && *mask == "00000000" && flags & RTF_UP != 0;
            default.then(|| (metric.parse::<u32>().unwrap_or(u32::MAX), iface.to_string()))
        })
        .min()
        .map(|(_, iface)| iface)
}

/// The uplink's MTU, or 1500 without one.
pub fn mtu() -> u32 {
    default_interface()
        .and_then(|iface| fs::read_to_string(format!("/sys/class/net/{iface}/mtu")).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(FALLBACK_MTU)
}

/// The MTU of the interface holding `ip` (the node address: the interface peers and
/// tunnels use), or the uplink's when no interface has it.
pub fn mtu_of_address(ip: Ipv4Addr) -> u32 {
    interface_addresses()
        .into_iter()
        .find(|(_, a)| *a == ip)
        .and_then(|(iface, _)| fs::read_to_string(format!("/sys/class/net/{iface}/mtu")).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(mtu)
}

/// The node's address: the first IPv4 address of the uplink. `None` without a default
/// route; the agent's `--node-ip` overrides it.
pub fn node_ip() -> Option<IpAddr> {
    let iface = default_interface()?;
    interface_addresses()
        .into_iter()
        .filter(|(name, ip)| *name == iface && !ip.is_link_local())
        .map(|(_, ip)| IpAddr::V4(ip))
        .next()
}

/// Every (interface, IPv4 address) pair, in the kernel's order.
fn interface_addresses() -> Vec<(String, Ipv4Addr)> {
    let mut found = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we walk read-only and free once.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return found;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, alive until freeifaddrs;
        // an AF_INET ifa_addr points at a sockaddr_in.
        unsafe {
            let ifa = &*cur;
            let addr = ifa.ifa_addr;
            if !addr.is_null() && i32::from((*addr).sa_family) == libc::AF_INET {
                let sin = &*(addr as *const libc::sockaddr_in);
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                let name = CStr::from_ptr(ifa.ifa_name).to_string_lossy().into_owned();
                found.push((name, ip));
            }
            cur = ifa.ifa_next;
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed exactly once.
    unsafe { libc::freeifaddrs(head) };
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
        eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
        wlan0\t00000000\t0101A8C0\t0003\t0\t0\t20\t00000000\t0\t0\t0\n\
        eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";

    #[test]
    fn lowest_metric_default_route_wins() {
        assert_eq!(default_interface_in(TABLE).as_deref(), Some("wlan0"));
    }

    #[test]
    fn no_default_route() {
        let table = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
            eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n";
        assert_eq!(default_interface_in(table), None);
        assert_eq!(default_interface_in(""), None);
    }

    #[test]
    fn routes_that_are_down_are_skipped() {
        let table = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
            eth9\t00000000\t010200C0\t0002\t0\t0\t0\t00000000\n";
        assert_eq!(default_interface_in(table), None);
    }

    #[test]
    fn node_ip_is_an_address_of_the_uplink() {
        let Some(iface) = default_interface() else {
            assert_eq!(node_ip(), None);
            return;
        };
        if let Some(IpAddr::V4(ip)) = node_ip() {
            assert!(interface_addresses().contains(&(iface, ip)));
        }
        assert!(mtu() >= 576);
    }

    #[test]
    fn loopback_is_listed() {
        let addrs = interface_addresses();
        assert!(addrs.iter().any(|(_, ip)| ip.is_loopback()));
    }
}
