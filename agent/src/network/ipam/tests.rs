use std::collections::HashSet;
use std::sync::Arc;

use super::*;

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn fixture(cidr: &str) -> (tempfile::TempDir, Ipam) {
    let dir = tempfile::tempdir().unwrap();
    let ipam = Ipam::open(dir.path(), net(cidr)).unwrap();
    (dir, ipam)
}

fn file_of(dir: &tempfile::TempDir, cidr: &str, addr: &str) -> PathBuf {
    dir.path()
        .join("ipam")
        .join(cidr.replace('/', "-"))
        .join(addr)
}

#[test]
fn first_address_skips_network_and_gateway() {
    let (dir, ipam) = fixture("10.42.0.0/24");
    assert_eq!(ipam.gateway(), ip("10.42.0.1"));
    assert_eq!(ipam.allocate("pod-a").unwrap(), (ip("10.42.0.2"), true));
    let file = file_of(&dir, "10.42.0.0/24", "10.42.0.2");
    assert_eq!(fs::read_to_string(file).unwrap(), "pod-a");
    assert_eq!(ipam.lookup("pod-a"), Some(ip("10.42.0.2")));
    assert_eq!(ipam.lookup("pod-b"), None);
}

#[test]
fn same_uid_gets_same_address() {
    let (_dir, ipam) = fixture("10.42.0.0/24");
    let (first, fresh) = ipam.allocate("pod-a").unwrap();
    assert!(fresh);
    ipam.allocate("pod-b").unwrap();
    assert_eq!(ipam.allocate("pod-a").unwrap(), (first, false));
    assert_eq!(ipam.allocations().unwrap().len(), 2);
}

#[test]
fn exhaustion_never_hands_out_gateway_or_broadcast() {
    let (_dir, ipam) = fixture("10.42.0.0/29");
    let mut got = HashSet::new();
    for i in 0..5 {
        got.insert(ipam.allocate(&format!("pod-{i}")).unwrap().0);
    }
    let want: HashSet<Ipv4Addr> = (2..=6).map(|h| Ipv4Addr::new(10, 42, 0, h)).collect();
    assert_eq!(got, want);
    let err = ipam.allocate("pod-5").unwrap_err();
    assert!(matches!(err, NetworkError::Exhausted { .. }));
    assert_eq!(err.to_string(), "no free IP addresses in 10.42.0.0/29");
}

#[test]
fn tiny_networks() {
    let (_dir, ipam) = fixture("10.42.0.0/30");
    assert_eq!(ipam.allocate("a").unwrap().0, ip("10.42.0.2"));
    assert!(matches!(
        ipam.allocate("b"),
        Err(NetworkError::Exhausted { .. })
    ));
    for cidr in ["10.42.0.0/31", "10.42.0.7/32"] {
        let (_dir, ipam) = fixture(cidr);
        assert!(matches!(
            ipam.allocate("a"),
            Err(NetworkError::Exhausted { .. })
        ));
    }
}

#[test]
fn host_bits_in_cidr_are_ignored() {
    let (_dir, ipam) = fixture("10.42.0.77/24");
    assert_eq!(ipam.cidr(), net("10.42.0.0/24"));
    assert_eq!(ipam.allocate("a").unwrap().0, ip("10.42.0.2"));
}

#[test]
fn release_unlinks_and_is_idempotent() {
    let (dir, ipam) = fixture("10.42.0.0/24");
    let (addr, _) = ipam.allocate("pod-a").unwrap();
    assert_eq!(ipam.release("pod-a").unwrap(), Some(addr));
    assert!(!file_of(&dir, "10.42.0.0/24", &addr.to_string()).exists());
    assert_eq!(ipam.release("pod-a").unwrap(), None);
    assert_eq!(ipam.lookup("pod-a"), None);
    assert!(ipam.allocations().unwrap().is_empty());
}

#[test]
fn round_robin_does_not_reuse_a_released_address_at_once() {
    let (_dir, ipam) = fixture("10.42.0.0/29");
    let (a, _) = ipam.allocate("a").unwrap();
    ipam.release("a").unwrap();
    let (b, _) = ipam.allocate("b").unwrap();
    assert_ne!(a, b);
    assert_eq!(b, ip("10.42.0.3"));
    // Walks to the end, then wraps to the freed start.
    for (uid, want) in [("c", "10.42.0.4"), ("d", "10.42.0.5"), ("e", "10.42.0.6")] {
        assert_eq!(ipam.allocate(uid).unwrap().0, ip(want));
    }
    assert_eq!(ipam.allocate("f").unwrap().0, ip("10.42.0.2"));
}

#[test]
fn state_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let cidr = net("10.42.0.0/24");
    {
        let ipam = Ipam::open(dir.path(), cidr).unwrap();
        ipam.allocate("a").unwrap();
        ipam.allocate("b").unwrap();
        ipam.allocate("c").unwrap();
        ipam.release("c").unwrap();
        // Dropped without any shutdown step: that is the crash.
    }
    let ipam = Ipam::open(dir.path(), cidr).unwrap();
    assert_eq!(ipam.lookup("a"), Some(ip("10.42.0.2")));
    assert_eq!(ipam.allocate("b").unwrap(), (ip("10.42.0.3"), false));
    // last_reserved survived: .4 was just released, so the next pod gets .5.
    assert_eq!(ipam.allocate("d").unwrap(), (ip("10.42.0.5"), true));
    let ips: Vec<Ipv4Addr> = ipam.allocations().unwrap().iter().map(|a| a.ip).collect();
    let unique: HashSet<_> = ips.iter().collect();
    assert_eq!(ips.len(), unique.len());
}

#[test]
fn a_claim_on_disk_is_never_taken_twice() {
    let (dir, ipam) = fixture("10.42.0.0/24");
    // Another process (or an ownerless crash leftover) holds .2.
    fs::write(file_of(&dir, "10.42.0.0/24", "10.42.0.2"), "").unwrap();
    assert_eq!(ipam.allocate("a").unwrap().0, ip("10.42.0.3"));
}

#[test]
fn gc_releases_dead_and_ownerless_addresses() {
    let (dir, ipam) = fixture("10.42.0.0/24");
    ipam.allocate("live").unwrap();
    ipam.allocate("dead").unwrap();
    fs::write(file_of(&dir, "10.42.0.0/24", "10.42.0.9"), "").unwrap();
    let released = ipam.release_unless(|uid| uid == "live").unwrap();
    let got: Vec<(String, Ipv4Addr)> = released.into_iter().map(|a| (a.uid, a.ip)).collect();
    assert_eq!(
        got,
        vec![
            ("dead".to_string(), ip("10.42.0.3")),
            (String::new(), ip("10.42.0.9"))
        ]
    );
    assert_eq!(ipam.lookup("dead"), None);
    assert_eq!(ipam.lookup("live"), Some(ip("10.42.0.2")));
    assert_eq!(ipam.allocations().unwrap().len(), 1);
}

#[test]
fn stray_files_are_ignored() {
    let (dir, ipam) = fixture("10.42.0.0/24");
    let d = dir.path().join("ipam/10.42.0.0-24");
    fs::write(d.join("README"), "x").unwrap();
    fs::write(d.join(".last_reserved.tmp"), "x").unwrap();
    assert!(ipam.allocations().unwrap().is_empty());
    assert_eq!(ipam.allocate("a").unwrap().0, ip("10.42.0.2"));
}

#[test]
fn bad_uids_are_refused() {
    let (_dir, ipam) = fixture("10.42.0.0/24");
    assert!(matches!(
        ipam.allocate(""),
        Err(NetworkError::InvalidUid(_))
    ));
    assert!(matches!(
        ipam.allocate("a\nb"),
        Err(NetworkError::InvalidUid(_))
    ));
}

#[test]
fn a_uid_on_two_files_keeps_one() {
    let (dir, _) = fixture("10.42.0.0/24");
    fs::write(file_of(&dir, "10.42.0.0/24", "10.42.0.5"), "a").unwrap();
    fs::write(file_of(&dir, "10.42.0.0/24", "10.42.0.7"), "a").unwrap();
    let ipam = Ipam::open(dir.path(), net("10.42.0.0/24")).unwrap();
    assert_eq!(ipam.lookup("a"), Some(ip("10.42.0.5")));
    assert_eq!(ipam.allocations().unwrap().len(), 1);
}

#[test]
fn concurrent_allocations_never_collide() {
    let dir = tempfile::tempdir().unwrap();
    let cidr = net("10.42.0.0/24");
    // Two handles over one directory stand in for two processes.
    let a = Arc::new(Ipam::open(dir.path(), cidr).unwrap());
    let b = Arc::new(Ipam::open(dir.path(), cidr).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let ipam = if t % 2 == 0 { a.clone() } else { b.clone() };
            std::thread::spawn(move || {
                (0..30)
                    .map(|i| ipam.allocate(&format!("pod-{t}-{i}")).unwrap().0)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let all: Vec<Ipv4Addr> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 240);
    assert_eq!(unique.len(), 240);
}

#[test]
fn claim_then_sync() {
    let (dir, ipam) = fixture("10.42.0.0/24");
    let (addr, fresh) = ipam.claim("a").unwrap();
    assert!(fresh);
    // Visible on disk at once, to this and any other process.
    assert_eq!(
        fs::read_to_string(file_of(&dir, "10.42.0.0/24", "10.42.0.2")).unwrap(),
        "a"
    );
    ipam.sync(addr).unwrap();
    assert_eq!(ipam.claim("a").unwrap(), (addr, false));
    assert!(
        ipam.sync("10.42.0.9".parse().unwrap()).is_err(),
        "nothing to sync"
    );
}
