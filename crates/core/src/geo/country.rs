//! Facts derived from a country code and a time zone, from maintained data sets rather than
//! hand-typed tables: `keshvar` (the `countries` data set: calling codes, currencies, spoken
//! languages, EU membership) and `jiff`'s bundled IANA time-zone database.

use std::time::SystemTime;

/// What ipintel knows about a country beyond the GeoIP record.
#[derive(Debug, Clone, PartialEq)]
pub struct CountryFacts {
    /// International calling code, e.g. `"44"`.
    pub phone_prefix: String,
    /// ISO 4217 code, e.g. `"GBP"`.
    pub currency_code: String,
    /// ISO 4217 name, e.g. `"Pound sterling"`; `None` for a currency the ISO table in use
    /// does not know yet (the Caribbean guilder, XCG, of Curaçao and Sint Maarten).
    pub currency_name: Option<String>,
    /// ISO 639-1 codes of the languages spoken there.
    pub languages: Vec<&'static str>,
    pub eu_member: bool,
}

/// Facts for an ISO 3166-1 alpha-2 code; `None` for codes the data set does not know
/// (including MaxMind's `EU`/`AP` pseudo-countries).
pub fn country_facts(alpha2: &str) -> Option<CountryFacts> {
    let country = keshvar::Country::try_from(alpha2.to_ascii_uppercase().as_str()).ok()?;
    let currency = country.currency_code().to_string();
    Some(CountryFacts {
        phone_prefix: country.country_code().to_string(),
        // Not keshvar's `to_iso_currency()`: it panics for currencies iso_currency lacks.
        currency_name: iso_currency::Currency::from_code(&currency).map(|c| c.name().to_owned()),
        currency_code: currency,
        languages: country
            .maybe_spoken_language_list()
            .or_else(|| country.maybe_official_language_list())
            .map(<[&str]>::to_vec)
            .unwrap_or_default(),
        eu_member: country.eu_member(),
    })
}

/// A time zone's offset from UTC at `at`, in hours (fractional for zones like Asia/Kolkata).
pub fn utc_offset_hours(time_zone: &str, at: SystemTime) -> Option<f64> {
    let zone = jiff::tz::TimeZone::get(time_zone).ok()?;
    let timestamp = jiff::Timestamp::try_from(at).ok()?;
    Some(f64::from(zone.to_offset(timestamp).seconds()) / 3600.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_for_known_countries() {
        let de = country_facts("de").unwrap();
        assert_eq!(
            (
                de.phone_prefix.as_str(),
                de.currency_code.as_str(),
                de.eu_member
            ),
            ("49", "EUR", true)
        );
        assert!(de.languages.contains(&"de"));
        let gb = country_facts("GB").unwrap();
        assert_eq!(
            (gb.currency_name.as_deref(), gb.eu_member),
            (Some("Pound sterling"), false)
        );
        // r9: every code keshvar knows gives facts without panicking (Curaçao's XCG did).
        let cw = country_facts("CW").unwrap();
        assert_eq!((cw.currency_code.as_str(), cw.currency_name), ("XCG", None));
        for a in b'A'..=b'Z' {
            for b in b'A'..=b'Z' {
                let code = [a, b];
                let _ = country_facts(std::str::from_utf8(&code).unwrap());
            }
        }
        assert!(country_facts("ZZ").is_none());
        assert!(country_facts("").is_none());
    }

    #[test]
    fn offsets_from_the_tz_database() {
        let january = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600); // 2026-01-01
        assert_eq!(utc_offset_hours("Asia/Kolkata", january), Some(5.5));
        assert_eq!(utc_offset_hours("America/Los_Angeles", january), Some(-8.0));
        assert_eq!(utc_offset_hours("Not/AZone", january), None);
    }
}
