//! What the engine knows about an address, as plain domain types.
//!
//! These types are decoded from MMDB records (they implement `Deserialize` for that) but are
//! deliberately not `Serialize`: each front end converts them into its own wire shape.
//! Names stay full locale maps, so every dialect can pick or pass through what it needs.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use ipnet::IpNet;
use serde::Deserialize;

use super::memo::{MemoBudget, RecordKey};

/// Locale code -> name, e.g. `"pt-BR" -> "Estados Unidos"`, ordered by locale so output is
/// stable.
///
/// Held in two allocations however many locales there are: every key and value end to end in
/// one string, and where each ends. A City record carries five of these maps of eight locales;
/// as `BTreeMap`s of boxed strings they took ~17 allocations each, which made a record ~3 KB
/// of heap (so the cache held a third as many) and most of a cache miss's decoding time.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Names {
    text: Box<str>,
    /// For entry `i`: its key ends at `ends[2i]`, its value at `ends[2i + 1]`.
    ends: Box<[u32]>,
}

impl Names {
    pub fn get(&self, locale: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == locale).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        let text = &*self.text;
        self.ends.chunks_exact(2).enumerate().map(move |(i, e)| {
            let start = if i == 0 {
                0
            } else {
                self.ends[2 * i - 1] as usize
            };
            let (key_end, value_end) = (e[0] as usize, e[1] as usize);
            (&text[start..key_end], &text[key_end..value_end])
        })
    }

    pub fn len(&self) -> usize {
        self.ends.len() / 2
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Heap bytes requested: the text and the offsets (the cache adds allocator rounding).
    pub(crate) fn heap_parts(&self) -> [usize; 2] {
        [self.text.len(), self.ends.len() * 4]
    }

    /// From entries in any order; a locale given twice keeps its last name, as a map would.
    fn from_entries(
        text: &str,
        mut entries: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
    ) -> Names {
        entries.sort_by(|a, b| text[a.0.clone()].cmp(&text[b.0.clone()]));
        entries.reverse();
        entries.dedup_by(|later, kept| text[later.0.clone()] == text[kept.0.clone()]);
        entries.reverse();
        let mut out = String::with_capacity(text.len());
        let mut ends = Vec::with_capacity(entries.len() * 2);
        for (key, value) in entries {
            out.push_str(&text[key]);
            ends.push(out.len() as u32);
            out.push_str(&text[value]);
            ends.push(out.len() as u32);
        }
        Names {
            text: out.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }
}

impl std::fmt::Debug for Names {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Names {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Names {
        let mut text = String::new();
        let mut entries = Vec::new();
        for (k, v) in iter {
            let key = text.len()..text.len() + k.as_ref().len();
            text.push_str(k.as_ref());
            let value = text.len()..text.len() + v.as_ref().len();
            text.push_str(v.as_ref());
            entries.push((key, value));
        }
        Names::from_entries(&text, entries)
    }
}

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Names, D::Error> {
        de.deserialize_map(NamesVisitor)
    }
}

struct NamesVisitor;

impl<'de> serde::de::Visitor<'de> for NamesVisitor {
    type Value = Names;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of locale codes to names")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Names, A::Error> {
        // Keys and values are appended straight from the decoder's buffer: no string is
        // allocated per entry.
        let mut text = String::new();
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8).min(32));
        loop {
            let key_start = text.len();
            if map.next_key_seed(AppendStr(&mut text))?.is_none() {
                break;
            }
            let key_end = text.len();
            map.next_value_seed(AppendStr(&mut text))?;
            entries.push((key_start..key_end, key_end..text.len()));
        }
        if u32::try_from(text.len()).is_err() {
            return Err(serde::de::Error::custom("names map larger than 4 GiB"));
        }
        Ok(Names::from_entries(&text, entries))
    }
}

/// Deserializes a string by appending it to a buffer.
struct AppendStr<'b>(&'b mut String);

impl<'de> serde::de::DeserializeSeed<'de> for AppendStr<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for AppendStr<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.0.push_str(v);
        Ok(())
    }
}

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

/// Identifies one rendering of a record (a dialect and variant), so it is computed once
/// while the record is cached. Front ends declare their slots as constants; the engine never
/// looks inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoSlot(pub u8);

/// How many render memo slots a record carries.
pub const MEMO_SLOTS: usize = 8;

/// A decoded record, shared by every address it answers for, with its renderings.
///
/// Renderings live in the record (one pointer away on the hot path) and are counted
/// against the cache's rendering budget while they exist; past the budget a rendering is
/// made for the request and not kept.
#[derive(Debug)]
pub struct Record<T> {
    /// Where it came from.
    pub key: RecordKey,
    /// Estimated heap bytes of `data`, for the cache budget.
    pub(crate) weight: u64,
    pub data: T,
    memo: [OnceLock<Box<[u8]>>; MEMO_SLOTS],
    rendered: Arc<MemoBudget>,
}

impl<T> Record<T> {
    pub(crate) fn new(key: RecordKey, data: T, weight: u64, rendered: Arc<MemoBudget>) -> Self {
        Record {
            key,
            weight,
            data,
            memo: Default::default(),
            rendered,
        }
    }

    /// The bytes `render` makes from this record for `slot`: kept in the record, rendered
    /// at most once, while the rendering budget allows; made afresh otherwise.
    pub fn memo(&self, slot: MemoSlot, render: impl FnOnce(&T) -> Vec<u8>) -> Cow<'_, [u8]> {
        let cell = &self.memo[slot.0 as usize];
        if let Some(bytes) = cell.get() {
            return Cow::Borrowed(bytes);
        }
        let bytes = render(&self.data);
        if !self
            .rendered
            .reserve(super::memo::rendering_bytes(bytes.len()))
        {
            return Cow::Owned(bytes);
        }
        let mut fresh = Some(bytes.into_boxed_slice());
        let kept = cell.get_or_init(|| fresh.take().expect("set once"));
        if let Some(lost) = fresh {
            // Another thread rendered it first; give back what this one reserved.
            self.rendered
                .release(super::memo::rendering_bytes(lost.len()));
        }
        Cow::Borrowed(kept)
    }
}

impl<T> Drop for Record<T> {
    fn drop(&mut self) {
        let held: u64 = self
            .memo
            .iter()
            .filter_map(|m| m.get())
            .map(|b| super::memo::rendering_bytes(b.len()))
            .sum();
        self.rendered.release(held);
    }
}

/// How a dialect takes place records.
#[derive(Clone, Copy)]
pub enum PlaceForm {
    /// Decoded into `PlaceRecord`, for dialects whose shapes differ from the record's.
    Decoded,
    /// Rendered straight from the database's bytes by the dialect's own function, for a
    /// dialect whose wire shape is the record's (MaxMind): no decoding, and the cache holds
    /// only the rendering.
    Rendered(PlaceRenderer),
}

impl std::fmt::Debug for PlaceForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlaceForm::Decoded => f.write_str("Decoded"),
            PlaceForm::Rendered(r) => write!(f, "Rendered({})", r.form),
        }
    }
}

/// A dialect's renderer of place records from the database's bytes.
#[derive(Clone, Copy)]
pub struct PlaceRenderer {
    /// Tells this rendering from the dialect's others in the cache (each dialect form its
    /// own number).
    pub form: u8,
    /// Append the rendering of a record to `out`; `shared` keeps renderings of the values
    /// records share.
    pub render: for<'a> fn(
        record: super::raw::Node<'a>,
        out: &mut super::Sink,
        shared: &super::SharedRenderings,
    ) -> Result<(), super::raw::Error>,
}

/// A place record as one dialect form renders it, and the traits of its own that are merged
/// into the network traits.
#[derive(Debug)]
pub struct RenderedPlace {
    pub key: RecordKey,
    pub rendering: super::Rendering,
    pub(crate) traits: Option<Box<NetworkTraits>>,
    pub(crate) weight: u64,
}

/// The merged answer for one address across every configured database. Records are shared
/// (`Arc`) with the cache of the `GeoSet` that answered, which renders them through `memo`.
#[derive(Clone)]
pub struct GeoAnswer<'a> {
    /// The address asked about, canonical form.
    pub ip: IpAddr,
    /// The largest network around `ip` over which every lookup gives the same answer: the
    /// narrowest of the networks of all lookups, misses included.
    pub network: IpNet,
    /// From the City, Country or Enterprise database (Enterprise, then City preferred),
    /// for a lookup that asked for `PlaceForm::Decoded`.
    pub place: Option<Arc<Record<PlaceRecord>>>,
    /// The same record rendered, for a lookup that asked for `PlaceForm::Rendered`.
    pub rendered_place: Option<Arc<RenderedPlace>>,
    /// Merged from the ISP, ASN, Connection-Type and Domain databases (earlier ones win),
    /// then the traits a City/Enterprise record carries.
    pub network_traits: Option<Arc<Record<NetworkTraits>>>,
    /// From an Anonymous-Plus or Anonymous-IP database.
    pub anonymity: Option<Arc<Record<AnonymityRecord>>>,
    /// Ties the answer to the snapshot that made it.
    pub(crate) set: std::marker::PhantomData<&'a ()>,
}

impl std::fmt::Debug for GeoAnswer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoAnswer")
            .field("ip", &self.ip)
            .field("network", &self.network)
            .field("place", &self.place.as_ref().map(|r| r.key))
            .field(
                "rendered_place",
                &self.rendered_place.as_ref().map(|r| r.key),
            )
            .field(
                "network_traits",
                &self.network_traits.as_ref().map(|r| r.key),
            )
            .field("anonymity", &self.anonymity.as_ref().map(|r| r.key))
            .finish()
    }
}

impl GeoAnswer<'_> {
    /// Whether any database knew anything about the address.
    pub fn is_empty(&self) -> bool {
        self.place.is_none()
            && self.rendered_place.is_none()
            && self.network_traits.is_none()
            && self.anonymity.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::Names;

    #[test]
    fn names_decode_in_locale_order_and_keep_the_last_duplicate() {
        let names: Names = serde_json::from_str(
            r#"{"zh-CN":"柏林","en":"Berlin","de":"Berlin","ru":"Берлин","en":"Berlin, DE"}"#,
        )
        .unwrap();
        let entries: Vec<(&str, &str)> = names.iter().collect();
        assert_eq!(
            entries,
            [
                ("de", "Berlin"),
                ("en", "Berlin, DE"),
                ("ru", "Берлин"),
                ("zh-CN", "柏林")
            ]
        );
        assert_eq!(names.len(), 4);
        assert_eq!(names.get("ru"), Some("Берлин"));
        assert_eq!(names.get("fr"), None);
        assert_eq!(names, entries.into_iter().collect::<Names>());
    }

    #[test]
    fn empty_names_and_empty_strings() {
        let empty: Names = serde_json::from_str("{}").unwrap();
        assert!(empty.is_empty() && empty.iter().next().is_none());
        assert_eq!(empty, Names::default());
        let blank: Names = serde_json::from_str(r#"{"":"","en":""}"#).unwrap();
        assert_eq!(blank.iter().collect::<Vec<_>>(), [("", ""), ("en", "")]);
        assert_eq!(blank.get("en"), Some(""));
        assert!(serde_json::from_str::<Names>(r#"{"en": 5}"#).is_err());
        assert!(serde_json::from_str::<Names>(r#"["en"]"#).is_err());
    }
}
