//! The world map: Natural Earth's 1:110m land outline (the npm package `world-atlas`,
//! `land-110m.json`, shipped in the binary with its licence) drawn as one SVG path in the
//! equirectangular projection, and where a point falls on it. Nothing is fetched: the
//! console works on an isolated network.
//!
//! The projection is the plainest one that needs no library in the browser:
//! x = longitude + 180, y = 90 - latitude, on a 360 x 180 view box. Tests check a marker's position
//! against the coordinates with the same two formulas.

use std::fmt::Write;

use serde::Deserialize;

/// The map's view box: degrees.
pub const WIDTH: f64 = 360.0;
pub const HEIGHT: f64 = 180.0;

/// Where a longitude and latitude fall on the map.
pub fn project(longitude: f64, latitude: f64) -> (f64, f64) {
    (
        (longitude + 180.0).clamp(0.0, WIDTH),
        (90.0 - latitude).clamp(0.0, HEIGHT),
    )
}

/// A radius in kilometres as degrees of latitude on the map (at least half a degree, so a
/// precise answer still shows a ring).
pub fn radius_degrees(km: f64) -> f64 {
    (km / 111.32).max(0.5)
}

#[derive(Deserialize)]
struct Topology {
    transform: Transform,
    arcs: Vec<Vec<[f64; 2]>>,
    objects: Objects,
}

#[derive(Deserialize)]
struct Transform {
    scale: [f64; 2],
    translate: [f64; 2],
}

#[derive(Deserialize)]
struct Objects {
    land: Collection,
}

#[derive(Deserialize)]
struct Collection {
    geometries: Vec<Geometry>,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum Geometry {
    Polygon { arcs: Vec<Vec<i64>> },
    MultiPolygon { arcs: Vec<Vec<Vec<i64>>> },
}

/// The land outline as one path's `d`, in the view box's coordinates.
pub fn land_path() -> String {
    let topology: Topology =
        serde_json::from_slice(include_bytes!("../../assets/console/land-110m.json"))
            .expect("the shipped land outline is valid TopoJSON");
    // Arcs are delta-encoded, quantised positions: decode each once.
    let arcs: Vec<Vec<(f64, f64)>> = topology
        .arcs
        .iter()
        .map(|arc| {
            let (mut x, mut y) = (0.0, 0.0);
            arc.iter()
                .map(|[dx, dy]| {
                    x += dx;
                    y += dy;
                    let lon = x * topology.transform.scale[0] + topology.transform.translate[0];
                    let lat = y * topology.transform.scale[1] + topology.transform.translate[1];
                    project(lon, lat)
                })
                .collect()
        })
        .collect();
    let mut rings: Vec<&Vec<i64>> = Vec::new();
    for geometry in &topology.objects.land.geometries {
        match geometry {
            Geometry::Polygon { arcs } => rings.extend(arcs),
            Geometry::MultiPolygon { arcs } => rings.extend(arcs.iter().flatten()),
        }
    }
    let mut d = String::new();
    for ring in rings {
        let mut first = true;
        let mut last_x = 0.0f64;
        for &index in ring {
            // A negative index is the one's complement of an arc walked backwards.
            let (arc, reversed) = if index < 0 {
                (&arcs[!index as usize], true)
            } else {
                (&arcs[index as usize], false)
            };
            let points: Box<dyn Iterator<Item = &(f64, f64)>> = if reversed {
                Box::new(arc.iter().rev())
            } else {
                Box::new(arc.iter())
            };
            // Consecutive arcs share their joining point.
            for (i, (x, y)) in points.enumerate() {
                if i == 0 && !first {
                    continue;
                }
                // The outline is drawn for a sphere: a ring that crosses the antimeridian
                // (Chukotka, Fiji, Antarctica) jumps across the map. It goes on as a new
                // subpath at the other edge, whose implicit closing runs along that edge.
                let jump = !first && (x - last_x).abs() > WIDTH / 2.0;
                let _ = write!(
                    d,
                    "{}{:.1} {:.1}",
                    if first || jump { "M" } else { "L" },
                    x,
                    y
                );
                first = false;
                last_x = *x;
            }
        }
        d.push('Z');
    }
    d
}

/// The outline as a stand-alone SVG image; its colours follow the system's dark mode.
pub fn world_svg() -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\">\
         <style>path{{fill:#cfd8e3;stroke:#9aa9bb;stroke-width:.15}}\
         @media (prefers-color-scheme: dark){{path{{fill:#2e3a48;stroke:#4b5b6e}}}}</style>\
         <path d=\"{}\"/></svg>",
        land_path()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outline_decodes_and_stays_in_the_view_box() {
        let d = land_path();
        assert!(d.starts_with('M') && d.ends_with('Z'));
        // Natural Earth's 110m land has well over a hundred rings.
        assert!(d.matches('M').count() > 100, "{}", d.matches('M').count());
        // No line runs across the map: rings are cut where they cross the antimeridian.
        let mut last = None;
        for step in d.split(['M', 'L', 'Z']).filter(|s| !s.is_empty()) {
            let x: f64 = step.split(' ').next().unwrap().parse().unwrap();
            if let Some(prev) = last {
                let jump: f64 = x - prev;
                assert!(
                    jump.abs() <= WIDTH / 2.0 || d.contains(&format!("M{step}")),
                    "{step}"
                );
            }
            last = Some(x);
        }
        for number in d
            .split(|c: char| c.is_ascii_alphabetic() || c == ' ')
            .filter(|s| !s.is_empty())
        {
            let v: f64 = number.parse().unwrap();
            assert!((0.0..=WIDTH).contains(&v), "{v}");
        }
    }

    #[test]
    fn points_project_onto_the_plate_carree() {
        assert_eq!(project(0.0, 0.0), (180.0, 90.0));
        assert_eq!(project(-180.0, 90.0), (0.0, 0.0));
        assert_eq!(project(13.4, 52.5), (193.4, 37.5));
        assert_eq!(radius_degrees(1.0), 0.5);
        assert!((radius_degrees(1000.0) - 8.98).abs() < 0.01);
    }
}
