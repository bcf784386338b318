//! The bulk projection of the merged record: the few fields a bulk result shows, decoded
//! afresh from the databases for each address.
//!
//! A 100,000-term request touches tens of thousands of records once each; decoding only
//! these fields, instead of filling the decode tables the single-lookup APIs cache whole
//! records in, keeps the server's memory flat while it works. The merge rules are the
//! engine's: network databases in precedence order, earlier ones winning field by field.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

use super::{GeoError, GeoSet};

/// What a bulk result shows about one address. Absent fields are unknown.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub country_iso: Option<String>,
    /// The first subdivision's English name.
    pub region: Option<String>,
    pub city: Option<String>,
    pub city_geoname_id: Option<u32>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub postal_code: Option<String>,
    pub time_zone: Option<String>,
    pub asn: Option<u32>,
    pub as_organization: Option<String>,
    /// The network of the record that gave the AS number.
    pub as_route: Option<IpNet>,
    pub isp: Option<String>,
    pub organization: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct PlaceFields {
    country: Option<IsoCode>,
    city: Option<CityFields>,
    location: Option<LocationFields>,
    postal: Option<PostalFields>,
    #[serde(default)]
    subdivisions: Vec<NamedFields>,
}

#[derive(Debug, Default, Deserialize)]
struct IsoCode {
    iso_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct English {
    en: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct NamedFields {
    names: Option<English>,
}

#[derive(Debug, Default, Deserialize)]
struct CityFields {
    geoname_id: Option<u32>,
    names: Option<English>,
}

#[derive(Debug, Default, Deserialize)]
struct LocationFields {
    latitude: Option<f64>,
    longitude: Option<f64>,
    time_zone: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct PostalFields {
    code: Option<String>,
}

/// The AS fields of an ISP or ASN record.
#[derive(Debug, Default, Deserialize)]
struct NetworkFields {
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<String>,
    isp: Option<String>,
    organization: Option<String>,
}

fn english(names: Option<English>) -> Option<String> {
    names.and_then(|n| n.en)
}

impl GeoSet {
    /// The bulk projection of what every database says about `ip`.
    pub fn summary(&self, ip: IpAddr) -> Result<Summary, GeoError> {
        let mut summary = Summary::default();
        if let Some(db) = self.place_db() {
            if let Some((place, _)) = db.decode_with_network::<PlaceFields>(ip)? {
                summary.country_iso = place.country.and_then(|c| c.iso_code);
                summary.region = place
                    .subdivisions
                    .into_iter()
                    .next()
                    .and_then(|s| english(s.names));
                if let Some(city) = place.city {
                    summary.city_geoname_id = city.geoname_id;
                    summary.city = english(city.names);
                }
                if let Some(location) = place.location {
                    summary.latitude = location.latitude;
                    summary.longitude = location.longitude;
                    summary.time_zone = location.time_zone;
                }
                summary.postal_code = place.postal.and_then(|p| p.code);
            }
        }
        for db in self.network_dbs() {
            let Some((found, net)) = db.decode_with_network::<NetworkFields>(ip)? else {
                continue;
            };
            if summary.asn.is_none() && found.autonomous_system_number.is_some() {
                summary.asn = found.autonomous_system_number;
                summary.as_route = net;
            }
            summary.as_organization = summary
                .as_organization
                .or(found.autonomous_system_organization);
            summary.isp = summary.isp.or(found.isp);
            summary.organization = summary.organization.or(found.organization);
        }
        Ok(summary)
    }
}
