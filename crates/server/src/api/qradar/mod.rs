//! QRadar `/api/services/geolocations` (seed 000, spec section 5).

pub mod filter;
