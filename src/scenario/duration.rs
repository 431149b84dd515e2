//! Durations as the scenario reference writes them: whole numbers with a unit (`ms`, `s`, `m`,
//! `h`, `d`), one or several (`1m30s`), nothing else. `humantime` alone also takes `5 minutes`,
//! `2weeks` or `1y`, which the reference never promised and a reader could misjudge; those are
//! refused with the position of the value.

use serde::de::{Error, Unexpected};
use serde::{Deserialize, Deserializer, Serializer};
use std::time::Duration;

/// `30s`, `500ms`, `1m30s`, `2h`, `1d`; `None` for anything else.
pub fn parse(text: &str) -> Option<Duration> {
    let mut rest = text;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let ms: u64 = match &rest[..unit] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        rest = &rest[unit..];
        total = total.checked_add(Duration::from_millis(n.checked_mul(ms)?))?;
    }
    Some(total)
}

/// The text `parse` reads back: `1d2h`, `90s`, `500ms`.
pub fn format(d: Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    if ms > 0 {
        out.push_str(&format!("{ms}ms"));
    }
    out
}

/// For a command-line flag: the same durations as a scenario, with the flag's own error.
pub fn flag(text: &str) -> Result<Duration, String> {
    parse(text).ok_or_else(|| {
        format!("expected a duration such as 30s, 90m, 26h or 7d (whole numbers with ms, s, m, h or d), found {text:?}")
    })
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).ok_or_else(|| D::Error::invalid_value(Unexpected::Str(&text), &"a duration"))
}

pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*d))
}

pub mod option {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| {
                parse(&text)
                    .ok_or_else(|| D::Error::invalid_value(Unexpected::Str(&text), &"a duration"))
            })
            .transpose()
    }

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&format(*d)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;
    use std::time::Duration;

    #[test]
    fn whole_numbers_with_short_units_only() {
        let ms = |v: u64| Some(Duration::from_millis(v));
        assert_eq!(parse("30s"), ms(30_000));
        assert_eq!(parse("500ms"), ms(500));
        assert_eq!(parse("1m30s"), ms(90_000));
        assert_eq!(parse("2h"), ms(7_200_000));
        assert_eq!(parse("1d"), ms(86_400_000));
        for bad in [
            "5 minutes",
            "1 day",
            "2weeks",
            "1y",
            "30",
            "",
            "1.5s",
            "s",
            "3 parsecs",
            "1m 30s",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(parse("99999999999999999999h"), None);
        for ms in [
            1,
            500,
            1_000,
            90_000,
            86_400_000,
            93_784_005,
            7 * 86_400_000,
        ] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse(&super::format(d)), Some(d), "{}", super::format(d));
        }
        assert_eq!(super::format(Duration::from_secs(26 * 3600)), "1d2h");
    }
}
