//! `resources.requests/limits` → `linux.resources`, computed the way the kubelet does.
//!
//! Carries a small private Kubernetes quantity parser until `skiff_proto::model` has one.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Container;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use oci_spec::runtime::{LinuxCpuBuilder, LinuxMemoryBuilder, LinuxResourcesBuilder};
use oci_spec::runtime::{
    LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxResources,
};

use super::spec::SpecError;

const MIN_SHARES: u64 = 2;
const SHARES_PER_CPU: u64 = 1024;
const CPU_PERIOD: u64 = 100_000;
/// The kernel refuses quotas under 1 ms.
const MIN_QUOTA: i64 = 1_000;

/// Character devices every container may use (null, zero, full, random, urandom, tty,
/// console, pts, ptmx, tun), after a deny-all rule: containerd's default device policy.
const DEFAULT_DEVICES: [(i64, Option<i64>); 10] = [
    (1, Some(3)),
    (1, Some(5)),
    (1, Some(7)),
    (1, Some(8)),
    (1, Some(9)),
    (5, Some(0)),
    (5, Some(1)),
    (136, None),
    (5, Some(2)),
    (10, Some(200)),
];

pub(crate) fn linux_resources(
    container: &Container,
    privileged: bool,
) -> Result<LinuxResources, SpecError> {
    let res = container.resources.as_ref();
    let limits = res.and_then(|r| r.limits.as_ref());
    let requests = res.and_then(|r| r.requests.as_ref());

    let cpu_limit = milli(limits, "cpu", "limits")?;
    let cpu_request = milli(requests, "cpu", "requests")?;
    // A limit without a request means request = limit (API defaulting); zero means best effort.
    let shares_from = match (cpu_request, cpu_limit) {
        (Some(r), _) if r > 0 => r,
        (_, Some(l)) => l,
        _ => 0,
    };
    let shares = (shares_from as u64 * SHARES_PER_CPU / 1000).max(MIN_SHARES);
    let mut cpu = LinuxCpuBuilder::default().shares(shares);
    if let Some(limit) = cpu_limit.filter(|l| *l > 0) {
        let quota = (limit * CPU_PERIOD as i64 / 1000).max(MIN_QUOTA);
        cpu = cpu.quota(quota).period(CPU_PERIOD);
    }

    let mut builder = LinuxResourcesBuilder::default()
        .cpu(cpu.build()?)
        .devices(device_rules(privileged)?);
    if let Some(bytes) = get(limits, "memory")
        .map(|q| {
            parse_quantity(&q.0)
                .map(|v| v.ceil_units())
                .ok_or_else(|| bad("limits.memory", q))
        })
        .transpose()?
    {
        builder = builder.memory(LinuxMemoryBuilder::default().limit(bytes).build()?);
    }
    Ok(builder.build()?)
}

fn device_rules(privileged: bool) -> Result<Vec<LinuxDeviceCgroup>, SpecError> {
    if privileged {
        let all = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .access("rwm")
            .build()?;
        return Ok(vec![all]);
    }
    let mut rules = vec![LinuxDeviceCgroupBuilder::default()
        .allow(false)
        .access("rwm")
        .build()?];
    for (major, minor) in DEFAULT_DEVICES {
        let mut rule = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(major)
            .access("rwm");
        if let Some(minor) = minor {
            rule = rule.minor(minor);
        }
        rules.push(rule.build()?);
    }
    Ok(rules)
}

fn get<'a>(map: Option<&'a BTreeMap<String, Quantity>>, key: &str) -> Option<&'a Quantity> {
    map.and_then(|m| m.get(key))
}

fn milli(
    map: Option<&BTreeMap<String, Quantity>>,
    key: &str,
    kind: &str,
) -> Result<Option<i64>, SpecError> {
    get(map, key)
        .map(|q| {
            parse_quantity(&q.0)
                .map(|v| v.ceil_milli())
                .ok_or_else(|| bad(&format!("{kind}.{key}"), q))
        })
        .transpose()
}

fn bad(field: &str, q: &Quantity) -> SpecError {
    SpecError::Quantity {
        field: field.to_string(),
        value: q.0.clone(),
    }
}

/// An exact non-negative quantity: `num / den`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Value {
    num: i128,
    den: i128,
}

impl Value {
    /// Rounded up, like `Quantity.Value()`.
    pub fn ceil_units(self) -> i64 {
        clamp((self.num + self.den - 1) / self.den)
    }
    /// Rounded up, like `Quantity.MilliValue()`.
    pub fn ceil_milli(self) -> i64 {
        clamp((self.num * 1000 + self.den - 1) / self.den)
    }
}

fn clamp(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Parses `<number><suffix>`: binary (Ki..Ei), decimal (n, u, m, "", k, M..E) or an
/// exponent (`1e3`). Negative quantities are refused: no resource can use one.
pub(crate) fn parse_quantity(s: &str) -> Option<Value> {
    let s = s.trim().strip_prefix('+').unwrap_or(s.trim());
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() && frac.is_empty() || int.len() + frac.len() > 24 {
        return None;
    }
    let mantissa: i128 = format!("{int}{frac}").parse().ok()?;
    let mut num = mantissa;
    let mut den = 10i128.checked_pow(frac.len() as u32)?;
    let (base, exp): (i128, i32) = match suffix {
        "" => (10, 0),
        "n" => (10, -9),
        "u" => (10, -6),
        "m" => (10, -3),
        "k" => (10, 3),
        "M" => (10, 6),
        "G" => (10, 9),
        "T" => (10, 12),
        "P" => (10, 15),
        "E" => (10, 18),
        "Ki" => (2, 10),
        "Mi" => (2, 20),
        "Gi" => (2, 30),
        "Ti" => (2, 40),
        "Pi" => (2, 50),
        "Ei" => (2, 60),
        e if e.starts_with(['e', 'E']) => {
            (10, e[1..].parse().ok().filter(|x: &i32| x.abs() <= 18)?)
        }
        _ => return None,
    };
    let factor = base.checked_pow(exp.unsigned_abs())?;
    if exp >= 0 {
        num = num.checked_mul(factor)?;
    } else {
        den = den.checked_mul(factor)?;
    }
    Some(Value { num, den })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ResourceRequirements;

    fn q(s: &str) -> Value {
        parse_quantity(s).unwrap_or_else(|| panic!("{s}"))
    }

    #[test]
    fn quantities() {
        assert_eq!(q("128Mi").ceil_units(), 128 << 20);
        assert_eq!(q("1G").ceil_units(), 1_000_000_000);
        assert_eq!(q("1.5Gi").ceil_units(), 3 << 29);
        assert_eq!(q("500m").ceil_milli(), 500);
        assert_eq!(q("0.1").ceil_milli(), 100);
        assert_eq!(q("2").ceil_milli(), 2000);
        assert_eq!(q("1e3").ceil_units(), 1000);
        assert_eq!(q("100n").ceil_milli(), 1);
        assert_eq!(q("1k").ceil_units(), 1000);
        for bad in ["", "abc", "1Qi", "-1", "1.2.3", "Mi", "1e99"] {
            assert_eq!(parse_quantity(bad), None, "{bad}");
        }
    }

    fn with(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Container {
        let map = |v: &[(&str, &str)]| {
            (!v.is_empty()).then(|| {
                v.iter()
                    .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                    .collect()
            })
        };
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements {
                requests: map(requests),
                limits: map(limits),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn cpu_and_memory() {
        let r = linux_resources(
            &with(&[("cpu", "250m")], &[("cpu", "1500m"), ("memory", "64Mi")]),
            false,
        )
        .unwrap();
        let cpu = r.cpu().as_ref().unwrap();
        assert_eq!(cpu.shares(), Some(256));
        assert_eq!(cpu.quota(), Some(150_000));
        assert_eq!(cpu.period(), Some(100_000));
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(64 << 20));

        let best_effort = linux_resources(&with(&[], &[]), false).unwrap();
        let cpu = best_effort.cpu().as_ref().unwrap();
        assert_eq!((cpu.shares(), cpu.quota()), (Some(2), None));
        assert!(best_effort.memory().is_none());

        let limit_only = linux_resources(&with(&[], &[("cpu", "1m")]), false).unwrap();
        let cpu = limit_only.cpu().as_ref().unwrap();
        assert_eq!((cpu.shares(), cpu.quota()), (Some(2), Some(1000)));

        let bad = linux_resources(&with(&[("cpu", "lots")], &[]), false);
        assert!(matches!(bad, Err(SpecError::Quantity { .. })));
    }

    #[test]
    fn devices_deny_all_but_defaults() {
        let r = linux_resources(&with(&[], &[]), false).unwrap();
        let devices = r.devices().as_ref().unwrap();
        assert!(!devices[0].allow());
        assert_eq!(devices.len(), 11);
        assert!(devices[1..].iter().all(|d| d.allow()));
        let p = linux_resources(&with(&[], &[]), true).unwrap();
        assert_eq!(p.devices().as_ref().unwrap().len(), 1);
        assert!(p.devices().as_ref().unwrap()[0].allow());
    }
}
