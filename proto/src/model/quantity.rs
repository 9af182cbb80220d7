//! Resource quantities ("500m", "128Mi", "1e3") as exact integers.
//!
//! k8s-openapi keeps a `Quantity` as the string the user wrote. Validation has to compare
//! requests with limits and the agent has to write cgroup limits, so this parses the
//! grammar the API server accepts into milli-units, in integer arithmetic (no floats, so
//! "0.1" CPU is exactly 100m). Like the API server, precision below 1m is rounded up.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Why a quantity string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The text does not follow `<sign><number><suffix>`.
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    Malformed,
    /// The value does not fit in 128-bit milli-units.
    #[error("quantity is too large")]
    TooLarge,
}

/// The scale a suffix applies: a power of ten or a power of 1024.
enum Scale {
    Decimal(i32),
    Binary(u32),
}

/// Parses a quantity into milli-units: "1" is 1000, "250m" is 250, "1Ki" is 1_024_000.
pub fn parse_quantity(text: &str) -> Result<i128, QuantityError> {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let number_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_len);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return Err(QuantityError::Malformed);
    }
    let scale = parse_suffix(suffix)?;

    // value = digits / 10^fraction_len * scale, kept as an exact fraction until the end.
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    if digits.len() > 36 {
        return Err(QuantityError::TooLarge);
    }
    let mantissa: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| QuantityError::Malformed)?
    };
    let fraction_len = i32::try_from(fraction.len()).map_err(|_| QuantityError::TooLarge)?;
    let milli = match scale {
        Scale::Decimal(exponent) => scale_decimal(mantissa, exponent + 3 - fraction_len)?,
        Scale::Binary(power) => {
            let numerator = mantissa
                .checked_mul(1_i128 << (10 * power))
                .and_then(|n| n.checked_mul(1000))
                .ok_or(QuantityError::TooLarge)?;
            scale_decimal(numerator, -fraction_len)?
        }
    };
    Ok(if negative { -milli } else { milli })
}

/// `mantissa * 10^exponent`, rounding a fractional result up to the next integer.
fn scale_decimal(mantissa: i128, exponent: i32) -> Result<i128, QuantityError> {
    if mantissa == 0 {
        return Ok(0);
    }
    if exponent >= 0 {
        let factor = 10_i128
            .checked_pow(exponent.unsigned_abs())
            .ok_or(QuantityError::TooLarge)?;
        return mantissa.checked_mul(factor).ok_or(QuantityError::TooLarge);
    }
    match 10_i128.checked_pow(exponent.unsigned_abs()) {
        Some(divisor) => Ok((mantissa + divisor - 1) / divisor),
        // Smaller than anything representable: the smallest unit, rounded up.
        None => Ok(1),
    }
}

fn parse_suffix(suffix: &str) -> Result<Scale, QuantityError> {
    let scale = match suffix {
        "" => Scale::Decimal(0),
        "n" => Scale::Decimal(-9),
        "u" => Scale::Decimal(-6),
        "m" => Scale::Decimal(-3),
        "k" => Scale::Decimal(3),
        "M" => Scale::Decimal(6),
        "G" => Scale::Decimal(9),
        "T" => Scale::Decimal(12),
        "P" => Scale::Decimal(15),
        "E" => Scale::Decimal(18),
        "Ki" => Scale::Binary(1),
        "Mi" => Scale::Binary(2),
        "Gi" => Scale::Binary(3),
        "Ti" => Scale::Binary(4),
        "Pi" => Scale::Binary(5),
        "Ei" => Scale::Binary(6),
        _ => {
            let exponent = suffix
                .strip_prefix(['e', 'E'])
                .ok_or(QuantityError::Malformed)?;
            let unsigned = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                return Err(QuantityError::Malformed);
            }
            Scale::Decimal(exponent.parse().map_err(|_| QuantityError::TooLarge)?)
        }
    };
    Ok(scale)
}

/// A memory quantity in bytes, rounded up; `None` if malformed, negative or too large.
pub fn to_bytes(quantity: &Quantity) -> Option<u64> {
    let milli = parse_quantity(&quantity.0).ok()?;
    u64::try_from((milli + 999).div_euclid(1000)).ok()
}

/// A CPU quantity in millicores ("1" is 1000, "250m" is 250); `None` if malformed,
/// negative or too large.
pub fn to_millicores(quantity: &Quantity) -> Option<u64> {
    u64::try_from(parse_quantity(&quantity.0).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Quantity {
        Quantity(text.to_string())
    }

    #[test]
    fn decimal_si_suffixes() {
        assert_eq!(parse_quantity("1"), Ok(1000));
        assert_eq!(parse_quantity("500m"), Ok(500));
        assert_eq!(parse_quantity("2k"), Ok(2_000_000));
        assert_eq!(parse_quantity("1M"), Ok(1_000_000_000));
        assert_eq!(parse_quantity("1G"), Ok(1_000_000_000_000));
        assert_eq!(parse_quantity("1T"), Ok(1_000_000_000_000_000));
    }

    #[test]
    fn binary_suffixes() {
        assert_eq!(parse_quantity("1Ki"), Ok(1_024_000));
        assert_eq!(to_bytes(&q("128Mi")), Some(128 * 1024 * 1024));
        assert_eq!(to_bytes(&q("1Gi")), Some(1 << 30));
        assert_eq!(to_bytes(&q("0.5Gi")), Some(1 << 29));
        assert_eq!(to_bytes(&q("1Ti")), Some(1 << 40));
    }

    #[test]
    fn fractions_and_exponents() {
        assert_eq!(to_millicores(&q("0.1")), Some(100));
        assert_eq!(to_millicores(&q("1.5")), Some(1500));
        assert_eq!(to_millicores(&q(".5")), Some(500));
        assert_eq!(to_bytes(&q("1e3")), Some(1000));
        assert_eq!(to_bytes(&q("1E6")), Some(1_000_000));
        assert_eq!(to_millicores(&q("5e-1")), Some(500));
        assert_eq!(to_bytes(&q("+12")), Some(12));
    }

    #[test]
    fn sub_milli_precision_rounds_up() {
        assert_eq!(parse_quantity("0.1m"), Ok(1));
        assert_eq!(parse_quantity("1n"), Ok(1));
        assert_eq!(parse_quantity("0"), Ok(0));
        assert_eq!(to_bytes(&q("1m")), Some(1));
    }

    #[test]
    fn negative_quantities_parse_but_do_not_convert() {
        assert_eq!(parse_quantity("-1"), Ok(-1000));
        assert_eq!(to_bytes(&q("-1")), None);
        assert_eq!(to_millicores(&q("-100m")), None);
    }

    #[test]
    fn malformed_quantities_are_refused() {
        for bad in [
            "", "abc", "1.2.3", "1Mb", "m", "1e", "1e+", "--1", "1 Gi", ".",
        ] {
            assert_eq!(
                parse_quantity(bad),
                Err(QuantityError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(to_bytes(&q("lots")), None);
    }

    #[test]
    fn huge_quantities_are_refused() {
        assert_eq!(parse_quantity("1e40"), Err(QuantityError::TooLarge));
        assert_eq!(to_bytes(&q("100Ei")), None);
        assert_eq!(parse_quantity("1Ei"), Ok((1_i128 << 60) * 1000));
    }
}
