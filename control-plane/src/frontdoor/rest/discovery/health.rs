//! `/healthz`, `/livez` and `/readyz` with kube-apiserver's bodies: `ok`; with
//! `?verbose` one `[+]name ok` line per check and `<endpoint> check passed`; a failed
//! check answers 500 with the full list (`[-]etcd failed: reason withheld`, the reason
//! goes to the log only, as the endpoints are public) and `<endpoint> check failed`.
//! `?exclude=name` skips a check; `/<endpoint>/<name>` runs one. The `etcd` check is the
//! store here, under the name kubectl users know it by.

use std::time::Duration;

use http::StatusCode;

use crate::store::Store;

/// How long the store may take to answer before it counts as down.
const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// One of the three endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Healthz,
    Livez,
    Readyz,
}

impl Endpoint {
    /// The endpoint of a request path's first segment ("readyz").
    pub fn parse(segment: &str) -> Option<Endpoint> {
        match segment {
            "healthz" => Some(Endpoint::Healthz),
            "livez" => Some(Endpoint::Livez),
            "readyz" => Some(Endpoint::Readyz),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Healthz => "healthz",
            Endpoint::Livez => "livez",
            Endpoint::Readyz => "readyz",
        }
    }
}

/// A check's outcome: `Err` holds the reason for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub result: Result<(), String>,
}

/// What the query asked for: `?verbose` and the `?exclude=` names.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub verbose: bool,
    pub exclude: Vec<String>,
}

/// Runs the checks every endpoint has: the server answers (`ping`), its log works
/// (`log`), the store answers within `STORE_TIMEOUT` (`etcd`).
pub async fn run_checks(store: &dyn Store) -> Vec<Check> {
    let etcd = match tokio::time::timeout(STORE_TIMEOUT, store.current_revision()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {STORE_TIMEOUT:?}")),
    };
    vec![
        Check {
            name: "ping",
            result: Ok(()),
        },
        Check {
            name: "log",
            result: Ok(()),
        },
        Check {
            name: "etcd",
            result: etcd,
        },
    ]
}

/// The answer of `endpoint` to `checks`: status and plain-text body.
pub fn report(endpoint: Endpoint, checks: &[Check], options: &Options) -> (StatusCode, String) {
    let mut listing = String::new();
    let mut unmatched: Vec<&str> = options.exclude.iter().map(String::as_str).collect();
    let mut failed = false;
    for check in checks {
        if let Some(i) = unmatched.iter().position(|name| *name == check.name) {
            unmatched.remove(i);
            listing.push_str(&format!("[+]{} excluded: ok\n", check.name));
            continue;
        }
        match &check.result {
            Ok(()) => listing.push_str(&format!("[+]{} ok\n", check.name)),
            Err(reason) => {
                tracing::warn!(endpoint = endpoint.name(), check = check.name, %reason, "health check failed");
                listing.push_str(&format!("[-]{} failed: reason withheld\n", check.name));
                failed = true;
            }
        }
    }
    if !unmatched.is_empty() {
        let quoted: Vec<String> = unmatched.iter().map(|n| format!("{n:?}")).collect();
        listing.push_str(&format!(
            "warn: some health checks cannot be excluded: no matches for {}\n",
            quoted.join(",")
        ));
    }
    let name = endpoint.name();
    if failed {
        // Always verbose on failure, as kube-apiserver is.
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{listing}{name} check failed\n"),
        )
    } else if options.verbose {
        (StatusCode::OK, format!("{listing}{name} check passed\n"))
    } else {
        (StatusCode::OK, "ok".to_string())
    }
}

/// `/<endpoint>/<name>`: one check alone; `None` when there is no such check.
pub fn report_one(checks: &[Check], name: &str) -> Option<(StatusCode, String)> {
    let check = checks.iter().find(|c| c.name == name)?;
    Some(match &check.result {
        Ok(()) => (StatusCode::OK, "ok".to_string()),
        Err(reason) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal server error: {reason}\n"),
        ),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::{BoxFuture, EventStream, Key, MemoryStore, StoreError, Stored};

    /// A store that never answers, as one stuck on its disk.
    struct Stuck;

    fn never<T: Send + 'static>() -> BoxFuture<'static, T> {
        Box::pin(std::future::pending())
    }

    impl Store for Stuck {
        fn get(&self, _: &Key) -> BoxFuture<'_, Result<Option<Stored>, StoreError>> {
            never()
        }
        fn list(
            &self,
            _: &str,
            _: Option<&str>,
        ) -> BoxFuture<'_, Result<(Vec<Stored>, i64), StoreError>> {
            never()
        }
        fn create(
            &self,
            _: Key,
            _: String,
            _: Vec<u8>,
        ) -> BoxFuture<'_, Result<Stored, StoreError>> {
            never()
        }
        fn update(
            &self,
            _: Key,
            _: Vec<u8>,
            _: Option<i64>,
        ) -> BoxFuture<'_, Result<Stored, StoreError>> {
            never()
        }
        fn delete(&self, _: &Key, _: Option<i64>) -> BoxFuture<'_, Result<Stored, StoreError>> {
            never()
        }
        fn watch(&self, _: Option<&str>, _: i64) -> BoxFuture<'_, Result<EventStream, StoreError>> {
            never()
        }
        fn current_revision(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
            never()
        }
        fn compacted_revision(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
            never()
        }
        fn compact(&self, _: i64) -> BoxFuture<'_, Result<(), StoreError>> {
            never()
        }
    }

    fn checks(etcd: Result<(), String>) -> Vec<Check> {
        vec![
            Check {
                name: "ping",
                result: Ok(()),
            },
            Check {
                name: "etcd",
                result: etcd,
            },
        ]
    }

    #[test]
    fn healthy_answers_ok_and_verbose_lists_the_checks() {
        let ok = checks(Ok(()));
        let (code, body) = report(Endpoint::Readyz, &ok, &Options::default());
        assert_eq!((code, body.as_str()), (StatusCode::OK, "ok"));
        let verbose = Options {
            verbose: true,
            ..Options::default()
        };
        let (_, body) = report(Endpoint::Livez, &ok, &verbose);
        assert_eq!(body, "[+]ping ok\n[+]etcd ok\nlivez check passed\n");
    }

    #[test]
    fn a_failed_check_is_500_with_the_reason_withheld() {
        let down = checks(Err("disk I/O error".to_string()));
        let (code, body) = report(Endpoint::Readyz, &down, &Options::default());
        assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body,
            "[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed\n"
        );
        let (code, body) = report_one(&down, "etcd").unwrap();
        assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("disk I/O error"));
        assert!(report_one(&down, "nope").is_none());
    }

    #[test]
    fn excluded_checks_pass_and_unknown_exclusions_are_warned() {
        let down = checks(Err("gone".to_string()));
        let options = Options {
            verbose: true,
            exclude: vec!["etcd".to_string(), "nope".to_string()],
        };
        let (code, body) = report(Endpoint::Healthz, &down, &options);
        assert_eq!(code, StatusCode::OK);
        assert_eq!(
            body,
            "[+]ping ok\n[+]etcd excluded: ok\nwarn: some health checks cannot be excluded: no matches for \"nope\"\nhealthz check passed\n"
        );
    }

    #[tokio::test]
    async fn a_working_store_passes_the_etcd_check() {
        let store = Arc::new(MemoryStore::new());
        let checks = run_checks(store.as_ref()).await;
        let names: Vec<&str> = checks.iter().map(|c| c.name).collect();
        assert_eq!(names, ["ping", "log", "etcd"]);
        assert!(checks.iter().all(|c| c.result.is_ok()));
    }

    #[tokio::test]
    async fn a_store_that_does_not_answer_makes_readyz_fail() {
        let checks = run_checks(&Stuck).await;
        let etcd = checks.iter().find(|c| c.name == "etcd").unwrap();
        assert!(etcd.result.as_ref().unwrap_err().contains("no answer"));
        let (code, body) = report(Endpoint::Readyz, &checks, &Options::default());
        assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.ends_with("[-]etcd failed: reason withheld\nreadyz check failed\n"));
    }
}
