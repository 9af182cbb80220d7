//! One field of a schedule: a comma list of values, ranges and steps, as bits.

use super::ScheduleError;

/// What a field allows.
pub(super) struct Field {
    pub name: &'static str,
    pub min: u32,
    pub max: u32,
    /// Names for values from `min` (JAN = 1, SUN = 0), matched case-insensitively.
    pub names: &'static [&'static str],
    /// `?` means `*` (the day fields).
    pub question_mark: bool,
}

pub(super) const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
    question_mark: false,
};
pub(super) const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
    question_mark: false,
};
pub(super) const DAY_OF_MONTH: Field = Field {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
    question_mark: true,
};
pub(super) const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    question_mark: false,
};
/// 0-7: 7 is Sunday as well (folded onto 0 by the caller).
pub(super) const DAY_OF_WEEK: Field = Field {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    question_mark: true,
};

/// A parsed field: the allowed values as bits, and whether it started with `*`/`?`.
pub(super) struct Parsed {
    pub bits: u64,
    pub star: bool,
}

pub(super) fn parse_field(text: &str, field: &Field) -> Result<Parsed, ScheduleError> {
    let mut parsed = Parsed {
        bits: 0,
        star: false,
    };
    for part in text.split(',') {
        let fail = |problem: String| ScheduleError::Field {
            field: field.name,
            part: part.to_string(),
            problem,
        };
        let (bits, star) = parse_part(part, field).map_err(fail)?;
        parsed.bits |= bits;
        parsed.star |= star;
    }
    Ok(parsed)
}

/// `*`, `?`, `v`, `a-b`, each with an optional `/step`; the problem in words if bad.
fn parse_part(part: &str, field: &Field) -> Result<(u64, bool), String> {
    let mut slash = part.split('/');
    let range = slash.next().unwrap_or_default();
    let step = slash.next();
    if slash.next().is_some() {
        return Err("too many slashes".into());
    }
    let step = match step {
        None => 1,
        Some(text) => match text.parse::<u32>() {
            Ok(0) => return Err("the step must be a positive number".into()),
            Ok(n) => n,
            Err(_) => return Err(format!("the step {text:?} is not a number")),
        },
    };
    let star = range == "*" || range == "?";
    if range == "?" && !field.question_mark {
        return Err("? is only allowed in the day-of-month and day-of-week fields".into());
    }
    let (start, end) = if star {
        (field.min, field.max)
    } else {
        let mut dash = range.split('-');
        let start = value(dash.next().unwrap_or_default(), field)?;
        let end = match dash.next() {
            Some(text) => value(text, field)?,
            // `3/15`: from 3 to the end of the field.
            None if part.contains('/') => field.max,
            None => start,
        };
        if dash.next().is_some() {
            return Err("too many hyphens".into());
        }
        (start, end)
    };
    if start < field.min {
        return Err(format!("{start} is below the minimum {}", field.min));
    }
    if end > field.max {
        return Err(format!("{end} is above the maximum {}", field.max));
    }
    if start > end {
        return Err(format!("the range starts at {start}, after its end {end}"));
    }
    // `*/7` in the day of week means 0 and 7, both Sunday: step over 0-6 only.
    let end = if star && field.max == 7 { 6 } else { end };
    let bits = (start..=end)
        .step_by(step as usize)
        .fold(0u64, |bits, v| bits | (1 << v));
    Ok((bits, star))
}

/// A number or one of the field's names.
fn value(text: &str, field: &Field) -> Result<u32, String> {
    if text.is_empty() {
        return Err("a value is missing".into());
    }
    if let Ok(n) = text.parse::<u32>() {
        return Ok(n);
    }
    field
        .names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
        .map(|i| i as u32 + field.min)
        .ok_or_else(|| match field.names {
            [] => format!("{text:?} is not a number"),
            _ => format!(
                "{text:?} is not a number or a name ({})",
                field.names.join(", ")
            ),
        })
}
