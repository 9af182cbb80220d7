//! Label selectors in kubectl's `-l` syntax: `app=web,tier!=db,env in (a,b),!legacy,key`.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector(Vec<Requirement>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid label selector {selector:?}: {reason}")]
pub struct SelectorError {
    pub selector: String,
    pub reason: String,
}

impl Selector {
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let err = |reason: &str| SelectorError {
            selector: text.to_string(),
            reason: reason.to_string(),
        };
        let mut reqs = Vec::new();
        for term in split_terms(text) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            let req = if let Some(key) = term.strip_prefix('!') {
                Requirement::DoesNotExist(key.trim().to_string())
            } else if let Some((k, v)) = term.split_once("!=") {
                Requirement::NotEquals(k.trim().to_string(), v.trim().to_string())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                Requirement::Equals(k.trim().to_string(), v.trim().to_string())
            } else if let Some((k, rest)) = split_set_op(term, " notin ") {
                Requirement::NotIn(
                    k,
                    parse_set(rest).ok_or_else(|| err("expected (v1,v2) after notin"))?,
                )
            } else if let Some((k, rest)) = split_set_op(term, " in ") {
                Requirement::In(
                    k,
                    parse_set(rest).ok_or_else(|| err("expected (v1,v2) after in"))?,
                )
            } else {
                Requirement::Exists(term.to_string())
            };
            let key = match &req {
                Requirement::Equals(k, _)
                | Requirement::NotEquals(k, _)
                | Requirement::In(k, _)
                | Requirement::NotIn(k, _)
                | Requirement::Exists(k)
                | Requirement::DoesNotExist(k) => k,
            };
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(err("a requirement needs a key without spaces"));
            }
            reqs.push(req);
        }
        Ok(Self(reqs))
    }

    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let empty = BTreeMap::new();
        let labels = labels.unwrap_or(&empty);
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }
}

/// Splits on commas that are not inside a `( … )` set.
fn split_terms(text: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0usize, 0usize, Vec::new());
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

fn split_set_op<'a>(term: &'a str, op: &str) -> Option<(String, &'a str)> {
    term.find(op)
        .map(|i| (term[..i].trim().to_string(), term[i + op.len()..].trim()))
}

fn parse_set(text: &str) -> Option<Vec<String>> {
    let inner = text.strip_prefix('(')?.strip_suffix(')')?;
    Some(
        inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn equality_and_sets() {
        let l = labels(&[("app", "web"), ("env", "prod")]);
        assert!(Selector::parse("app=web").unwrap().matches(Some(&l)));
        assert!(Selector::parse("app==web,env!=dev")
            .unwrap()
            .matches(Some(&l)));
        assert!(!Selector::parse("app=db").unwrap().matches(Some(&l)));
        assert!(Selector::parse("env in (prod, staging),app")
            .unwrap()
            .matches(Some(&l)));
        assert!(!Selector::parse("env notin (prod)")
            .unwrap()
            .matches(Some(&l)));
        assert!(Selector::parse("!legacy").unwrap().matches(Some(&l)));
        assert!(!Selector::parse("!app").unwrap().matches(Some(&l)));
        assert!(Selector::parse("").unwrap().matches(None));
        assert!(!Selector::parse("app").unwrap().matches(None));
    }

    #[test]
    fn bad_selectors_are_refused() {
        assert!(Selector::parse("env in prod").is_err());
        assert!(Selector::parse("=web").is_err());
    }
}
