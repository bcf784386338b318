//! What the engine knows about an address, as plain domain types.
//!
//! These types are decoded from MMDB records (they implement `Deserialize` for that) but are
//! deliberately not `Serialize`: each front end converts them into its own wire shape.
//! Names stay full locale maps, so every dialect can pick or pass through what it needs.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::OnceLock;

use ipnet::IpNet;
use serde::Deserialize;

/// Locale code -> name, e.g. `"pt-BR" -> "Estados Unidos"`. Ordered, so output is stable.
pub type Names = BTreeMap<Box<str>, Box<str>>;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Continent {
    pub code: Option<Box<str>>,
    pub geoname_id: Option<u32>,
    #[serde(default)]
    pub names: Names,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Country {
    pub geoname_id: Option<u32>,
    pub iso_code: Option<Box<str>>,
    #[serde(default)]
    pub names: Names,
    #[serde(default)]
    pub is_in_european_union: bool,
    pub confidence: Option<u16>,
    /// Only on `represented_country`: currently always `"military"`.
    #[serde(rename = "type")]
    pub representation: Option<Box<str>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct City {
    pub geoname_id: Option<u32>,
    #[serde(default)]
    pub names: Names,
    pub confidence: Option<u16>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Location {
    pub accuracy_radius: Option<u16>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub metro_code: Option<u16>,
    pub time_zone: Option<Box<str>>,
    pub average_income: Option<u32>,
    pub population_density: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Postal {
    pub code: Option<Box<str>>,
    pub confidence: Option<u16>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Subdivision {
    pub geoname_id: Option<u32>,
    pub iso_code: Option<Box<str>>,
    #[serde(default)]
    pub names: Names,
    pub confidence: Option<u16>,
}

/// Network-level facts. One type for the `traits` map of City/Enterprise databases and for
/// the whole record of ASN, ISP, Connection-Type and Domain databases: they share field names.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct NetworkTraits {
    pub autonomous_system_number: Option<u32>,
    pub autonomous_system_organization: Option<Box<str>>,
    pub isp: Option<Box<str>>,
    pub organization: Option<Box<str>>,
    pub connection_type: Option<Box<str>>,
    pub domain: Option<Box<str>>,
    pub mobile_country_code: Option<Box<str>>,
    pub mobile_network_code: Option<Box<str>>,
    pub user_type: Option<Box<str>>,
    #[serde(default)]
    pub is_anycast: bool,
    #[serde(default)]
    pub is_legitimate_proxy: bool,
    pub static_ip_score: Option<f64>,
}

impl NetworkTraits {
    /// Fill every field that is unset here from `other` (earlier sources win).
    pub fn fill_from(&mut self, other: &NetworkTraits) {
        macro_rules! fill {
            ($($f:ident),*) => { $( if self.$f.is_none() { self.$f.clone_from(&other.$f); } )* };
        }
        fill!(
            autonomous_system_number,
            autonomous_system_organization,
            isp,
            organization,
            connection_type,
            domain,
            mobile_country_code,
            mobile_network_code,
            user_type,
            static_ip_score
        );
        self.is_anycast |= other.is_anycast;
        self.is_legitimate_proxy |= other.is_legitimate_proxy;
    }

    pub fn is_empty(&self) -> bool {
        *self == NetworkTraits::default()
    }
}

/// A record of a City, Country or Enterprise database: where the address is.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PlaceRecord {
    pub continent: Option<Continent>,
    pub country: Option<Country>,
    pub registered_country: Option<Country>,
    pub represented_country: Option<Country>,
    pub city: Option<City>,
    pub location: Option<Location>,
    pub postal: Option<Postal>,
    #[serde(default)]
    pub subdivisions: Vec<Subdivision>,
    #[serde(default)]
    pub traits: NetworkTraits,
}

/// A record of an Anonymous-IP or Anonymous-Plus database.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct AnonymityRecord {
    #[serde(default)]
    pub is_anonymous: bool,
    #[serde(default)]
    pub is_anonymous_vpn: bool,
    #[serde(default)]
    pub is_hosting_provider: bool,
    #[serde(default)]
    pub is_public_proxy: bool,
    #[serde(default)]
    pub is_residential_proxy: bool,
    #[serde(default)]
    pub is_tor_exit_node: bool,
    /// Anonymous-Plus only.
    pub anonymizer_confidence: Option<u16>,
    pub network_last_seen: Option<Box<str>>,
    pub provider_name: Option<Box<str>>,
}

impl AnonymityRecord {
    pub fn is_empty(&self) -> bool {
        *self == AnonymityRecord::default()
    }
}

/// How many render memo slots a record carries.
pub const MEMO_SLOTS: usize = 8;

/// Identifies one rendering of a record (a dialect and variant), so it is computed once.
/// Front ends declare their slots as constants; the engine never looks inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoSlot(pub usize);

/// A decoded record plus memoised renderings of it.
///
/// Many addresses share one record, so each front end renders a record once per slot; the
/// hot path then only concatenates bytes.
#[derive(Debug)]
pub struct Record<T> {
    pub data: T,
    memo: [OnceLock<Box<[u8]>>; MEMO_SLOTS],
}

impl<T> Record<T> {
    pub fn new(data: T) -> Self {
        Record {
            data,
            memo: Default::default(),
        }
    }

    /// The bytes `render` makes from this record for `slot`, rendered at most once.
    pub fn memo(&self, slot: MemoSlot, render: impl FnOnce(&T) -> Vec<u8>) -> &[u8] {
        self.memo[slot.0].get_or_init(|| render(&self.data).into_boxed_slice())
    }
}

/// The merged answer for one address across every configured database. Records are
/// borrowed from the `GeoSet` that answered, so a request holds its snapshot while it renders.
#[derive(Debug, Clone, Copy)]
pub struct GeoAnswer<'a> {
    /// The address asked about, canonical form.
    pub ip: IpAddr,
    /// The largest network around `ip` over which every lookup gives the same answer: the
    /// narrowest of the networks of all lookups, misses included.
    pub network: IpNet,
    /// From the City, Country or Enterprise database (Enterprise, then City preferred).
    pub place: Option<&'a Record<PlaceRecord>>,
    /// Merged from the ISP, ASN, Connection-Type and Domain databases (earlier ones win),
    /// then the traits a City/Enterprise record carries.
    pub network_traits: Option<&'a Record<NetworkTraits>>,
    /// From an Anonymous-Plus or Anonymous-IP database.
    pub anonymity: Option<&'a Record<AnonymityRecord>>,
}

impl GeoAnswer<'_> {
    /// Whether any database knew anything about the address.
    pub fn is_empty(&self) -> bool {
        self.place.is_none() && self.network_traits.is_none() && self.anonymity.is_none()
    }
}
