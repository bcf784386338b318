//! The address page (`/ui/ip/{address|prefix|host}`): location on the map, network and
//! ASN, anonymity, the registry's range, routes, holder and abuse contact, commands to
//! copy; reverse DNS and WHOIS run as tasks (`/ui/task`), their page refreshing until done.

use std::fmt::Write;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use ipintel_core::accounts::Service;
use ipintel_core::engine::{Answers, Cost, LookupPolicy, MissingPolicy, ReservedPolicy};
use ipintel_core::jobs::JobKind;
use ipintel_core::registry::key::Family;
use ipintel_core::registry::ranges::Span;
use ipintel_core::registry::sets::RouteSearch;
use ipintel_core::ErrorKind;
use serde::Deserialize;

use super::html::{self, esc, row, Page};
use super::{map, meter_of, Console, SignedIn, Stop};
use crate::state::AppState;

/// Every address answers, reserved and unknown ones plainly labelled (as `/v1/ip`).
const POLICY: LookupPolicy = LookupPolicy {
    reserved: ReservedPolicy::Answer,
    missing: MissingPolicy::Answer,
    cost: Cost::PerAnswer,
    places: ipintel_core::geo::PlaceForm::Decoded,
};

/// What the databases say of one address, owned (the snapshot is let go before rendering).
#[derive(Default)]
struct Facts {
    ip: String,
    network: String,
    reserved: Option<&'static str>,
    local: Option<String>,
    missing: bool,
    location: Vec<(&'static str, String)>,
    point: Option<(f64, f64, Option<u16>)>,
    network_rows: Vec<(&'static str, String)>,
    asn: Option<u32>,
    anonymity: Option<Vec<&'static str>>,
}

fn facts(answers: Answers<'_>) -> Facts {
    let Some(entry) = answers.located.first() else {
        return Facts::default();
    };
    let a = &entry.answer;
    let mut f = Facts {
        ip: entry.ip.to_string(),
        network: a.network.to_string(),
        reserved: entry.reserved,
        local: entry.local.map(|l| format!("{} ({})", l.network, l.name)),
        missing: entry.is_missing(),
        ..Facts::default()
    };
    let name = |names: &ipintel_core::geo::record::Names| names.get("en").map(str::to_string);
    if let Some(place) = &a.place {
        let p = &place.data;
        let mut push = |label, value: Option<String>| {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                f.location.push((label, v));
            }
        };
        if let Some(c) = &p.country {
            push(
                "Country",
                Some(format!(
                    "{} ({})",
                    name(&c.names).unwrap_or_default(),
                    c.iso_code.as_deref().unwrap_or("?")
                )),
            );
        }
        let regions: Vec<String> = p
            .subdivisions
            .iter()
            .filter_map(|s| name(&s.names))
            .collect();
        push("Region", Some(regions.join(", ")));
        push("City", p.city.as_ref().and_then(|c| name(&c.names)));
        push(
            "Postal code",
            p.postal
                .as_ref()
                .and_then(|c| c.code.as_deref().map(str::to_string)),
        );
        if let Some(l) = &p.location {
            if let (Some(lat), Some(lon)) = (l.latitude, l.longitude) {
                f.point = Some((lat, lon, l.accuracy_radius));
                push(
                    "Coordinates",
                    Some(format!(
                        "{lat:.4}, {lon:.4}{}",
                        l.accuracy_radius
                            .map(|r| format!(" (within {r} km)"))
                            .unwrap_or_default()
                    )),
                );
            }
            push("Time zone", l.time_zone.as_deref().map(str::to_string));
        }
        push(
            "Continent",
            p.continent.as_ref().and_then(|c| name(&c.names)),
        );
        if let Some(c) = &p.registered_country {
            push(
                "Registered in",
                c.iso_code
                    .as_deref()
                    .map(|iso| format!("{} ({iso})", name(&c.names).unwrap_or_default())),
            );
        }
    }
    if let Some(traits) = &a.network_traits {
        let t = &traits.data;
        f.asn = t.autonomous_system_number;
        let mut push = |label, value: Option<&str>| {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                f.network_rows.push((label, v.to_string()));
            }
        };
        push(
            "AS organisation",
            t.autonomous_system_organization.as_deref(),
        );
        push("ISP", t.isp.as_deref());
        push("Organisation", t.organization.as_deref());
        push("Connection type", t.connection_type.as_deref());
        push("User type", t.user_type.as_deref());
        push("Domain", t.domain.as_deref());
        if t.is_anycast {
            push("Anycast", Some("yes"));
        }
    }
    if let Some(anon) = &a.anonymity {
        let d = &anon.data;
        let flags = [
            (d.is_anonymous, "anonymous"),
            (d.is_anonymous_vpn, "VPN"),
            (d.is_hosting_provider, "hosting provider"),
            (d.is_public_proxy, "public proxy"),
            (d.is_residential_proxy, "residential proxy"),
            (d.is_tor_exit_node, "Tor exit node"),
        ];
        f.anonymity = Some(
            flags
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, n)| *n)
                .collect(),
        );
    }
    f
}

/// What the page was asked about, read.
enum Subject {
    Address(IpAddr),
    Prefix(ipnet::IpNet),
    Host(String),
}

fn subject(text: &str) -> Result<Subject, Stop> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(Subject::Address(ip));
    }
    if let Ok(net) = text.parse::<ipnet::IpNet>() {
        return Ok(Subject::Prefix(net.trunc()));
    }
    let host_like = !text.is_empty()
        && text.len() <= 253
        && text.contains('.')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if host_like {
        return Ok(Subject::Host(
            text.trim_end_matches('.').to_ascii_lowercase(),
        ));
    }
    let shown: String = text.chars().take(80).collect();
    Err(Stop::Page(
        ErrorKind::InvalidInput,
        format!("{shown:?} is not an IP address, a prefix or a host name"),
    ))
}

pub async fn page(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    Path(q): Path<String>,
    headers: HeaderMap,
    SignedIn(session): SignedIn,
) -> Response {
    match render(&state, &console, &headers, &session, &q).await {
        Ok(page) => html::respond(StatusCode::OK, page.render(Some(&session))),
        Err(stop) => stop.into_response(Some(&session)),
    }
}

async fn render(
    state: &AppState,
    console: &Console,
    headers: &HeaderMap,
    session: &super::Session,
    q: &str,
) -> Result<Page, Stop> {
    let (ip, note) = match subject(q)? {
        Subject::Address(ip) => (ip, None),
        Subject::Prefix(net) => (
            net.network(),
            Some(format!(
                "Showing the first address of the prefix {}.",
                esc(&net.to_string())
            )),
        ),
        Subject::Host(name) => {
            let addresses = resolve(state, &name).await?;
            let links: Vec<String> = addresses
                .iter()
                .map(|a| format!("<a href=\"/ui/ip/{a}\">{a}</a>"))
                .collect();
            (
                addresses[0],
                Some(format!("{} resolves to {}.", esc(&name), links.join(", "))),
            )
        }
    };
    let facts = if session.is_operator() {
        state
            .engine
            .lookup_unmetered(&[ip], POLICY, facts)
            .map_err(|e| Stop::Page(e.kind(), e.to_string()))?
    } else {
        let meter = meter_of(state, console, headers, session, Service::City).await?;
        state
            .engine
            .lookup(&meter, &[ip], POLICY, facts)
            .await
            .map_err(|e| Stop::Page(e.kind(), e.to_string()))?
    };
    let mut page = Page::new(facts.ip.clone());
    let mut body = String::new();
    if let Some(note) = note {
        let _ = write!(body, "<p class=\"note\">{note}</p>");
    }
    if let Some(label) = facts.reserved {
        let _ = write!(
            body,
            "<p class=\"notice\" role=\"status\">This address is in a reserved range ({}): it is not routed on the public Internet, and no database places it.</p>",
            esc(label)
        );
    } else if facts.missing {
        body.push_str("<p class=\"notice\" role=\"status\">Not found: no loaded database knows this address.</p>");
    }
    if let Some((lat, lon, radius)) = facts.point {
        map_figure(&mut body, lat, lon, radius);
    }
    section(&mut body, "Location", &facts.location);
    let mut network = vec![("Network", esc(&facts.network))];
    if let Some(asn) = facts.asn {
        network.insert(
            1,
            (
                "AS number",
                format!("<a href=\"/ui/as/AS{asn}\">AS{asn}</a>"),
            ),
        );
    }
    network.extend(facts.network_rows.iter().map(|(l, v)| (*l, esc(v))));
    if let Some(local) = &facts.local {
        network.push(("Local network", esc(local)));
    }
    if !facts.missing || facts.local.is_some() {
        section_html(&mut body, "Network", &network);
    }
    if let Some(flags) = &facts.anonymity {
        let text = if flags.is_empty() {
            "no anonymity flag set".to_string()
        } else {
            flags.join(", ")
        };
        section_html(&mut body, "Anonymity", &[("Flags", esc(&text))]);
    }
    registry_section(state, &mut body, ip);
    tasks_section(&mut body, session, ip);
    commands_section(state, headers, &mut body, ip, facts.asn);
    page.push(&body);
    Ok(page)
}

/// A host name's addresses through the configured resolver (`tasks.dns_server`).
async fn resolve(state: &AppState, name: &str) -> Result<Vec<IpAddr>, Stop> {
    let tasks = &state.config.tasks;
    let server = tasks.dns_server().ok_or_else(|| {
        Stop::Page(
            ErrorKind::Unavailable,
            "no DNS server configured (tasks.dns_server) to resolve host names".into(),
        )
    })?;
    let server = crate::net::dns::Server {
        addr: server,
        timeout: Duration::from_secs(tasks.timeout_secs),
    };
    let addresses = crate::net::dns::addresses(server, name)
        .await
        .map_err(|e| {
            Stop::Page(
                ErrorKind::NotFound,
                format!("{name} cannot be resolved: {e}"),
            )
        })?;
    if addresses.is_empty() {
        return Err(Stop::Page(
            ErrorKind::NotFound,
            format!("{name} has no address records"),
        ));
    }
    Ok(addresses)
}

fn map_figure(body: &mut String, lat: f64, lon: f64, radius: Option<u16>) {
    let (x, y) = map::project(lon, lat);
    let ring = radius
        .map(|km| {
            format!(
                "<circle class=\"accuracy\" cx=\"{x:.3}\" cy=\"{y:.3}\" r=\"{:.3}\"/>",
                map::radius_degrees(f64::from(km))
            )
        })
        .unwrap_or_default();
    let _ = write!(
        body,
        "<figure class=\"map\"><svg id=\"map\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"World map with the address at {lat:.4}, {lon:.4}\" data-lat=\"{lat}\" data-lon=\"{lon}\">\
         <image href=\"{world}\" x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\"/>{ring}\
         <circle id=\"marker\" class=\"marker\" cx=\"{x:.3}\" cy=\"{y:.3}\" r=\"1.6\"/></svg>\
         <figcaption>{lat:.4}, {lon:.4}{radius}</figcaption></figure>",
        w = map::WIDTH,
        h = map::HEIGHT,
        world = super::assets::url("world.svg"),
        radius = radius.map(|r| format!(", accuracy radius {r} km")).unwrap_or_default(),
    );
}

fn section(body: &mut String, title: &str, rows: &[(&'static str, String)]) {
    let escaped: Vec<(&str, String)> = rows.iter().map(|(l, v)| (*l, esc(v))).collect();
    section_html(body, title, &escaped);
}

/// A titled list of rows whose values are HTML already; nothing when there is no row.
fn section_html(body: &mut String, title: &str, rows: &[(&str, String)]) {
    if rows.is_empty() {
        return;
    }
    let mut dl = String::new();
    for (label, value) in rows {
        row(&mut dl, label, Some(value.clone()));
    }
    let _ = write!(
        body,
        "<section><h2>{}</h2><dl class=\"facts\">{dl}</dl></section>",
        esc(title)
    );
}

fn registry_section(state: &AppState, body: &mut String, ip: IpAddr) {
    let generation = state.registry.current();
    if !generation.loaded || generation.sources.is_empty() {
        return;
    }
    let registry = &generation.registry;
    let (family, at) = match ip {
        IpAddr::V4(v4) => (Family::V4, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (Family::V6, u128::from(v6)),
    };
    let Some(span) = Span::new(at, at) else {
        return;
    };
    let mut rows: Vec<(&str, String)> = Vec::new();
    let covering = registry.covering(ip);
    if let Some(c) = &covering {
        rows.push((
            "Range",
            format!(
                "{} <span class=\"muted\">({})</span>",
                esc(&c.range),
                esc(&c.source)
            ),
        ));
        if let Some(n) = &c.netname {
            rows.push(("Net name", esc(n)));
        }
        if let Some((id, name)) = &c.org {
            rows.push((
                "Holder",
                format!(
                    "{} <span class=\"muted\">{}</span>",
                    esc(name.as_deref().unwrap_or("")),
                    esc(id)
                ),
            ));
        }
        if let Some(country) = &c.country {
            rows.push(("Country", esc(country)));
        }
        if let Some((role, mailbox)) = &c.abuse {
            rows.push((
                "Abuse contact",
                format!(
                    "<a href=\"mailto:{m}\">{m}</a> <span class=\"muted\">{r}</span>",
                    m = esc(mailbox),
                    r = esc(role)
                ),
            ));
        }
    }
    let geo = registry.geolocation(family, span);
    if let Some((location, _)) = &geo.location {
        rows.push(("Geoloc", esc(location)));
    }
    let routes = registry.route_search(family, span, RouteSearch::AllLess, &[]);
    for id in routes.iter().take(20) {
        let stored = registry.object(*id);
        let origin = stored.object.value("origin").unwrap_or("");
        let prefix = stored.object.first_value();
        let link = origin
            .to_ascii_uppercase()
            .strip_prefix("AS")
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()) && !d.is_empty())
            .map(|d| format!("<a href=\"/ui/as/AS{d}\">AS{d}</a>"))
            .unwrap_or_else(|| esc(origin));
        rows.push((
            "Route",
            format!(
                "{} from {link} <span class=\"muted\">({})</span>",
                esc(prefix),
                esc(&stored.source)
            ),
        ));
    }
    if rows.is_empty() {
        body.push_str("<section><h2>Registry</h2><p>The registry holds no range or route for this address.</p></section>");
        return;
    }
    section_html(body, "Registry", &rows);
    if let Some(c) = covering {
        let stored = registry.object(c.id);
        let view = ipintel_core::registry::view::view(&stored, false, false);
        let mut text = String::new();
        ipintel_core::registry::view::rpsl_text(&view, &mut text);
        let _ = write!(
            body,
            "<details><summary>The {} object</summary><pre class=\"rpsl\">{}</pre></details>",
            esc(stored.template.class),
            esc(&text)
        );
    }
}

fn tasks_section(body: &mut String, session: &super::Session, ip: IpAddr) {
    body.push_str("<section><h2>Reverse DNS and WHOIS</h2>");
    if session.is_operator() {
        body.push_str("<p>Tasks run on a key holder's account: sign in with an API key to run them.</p></section>");
        return;
    }
    let _ = write!(
        body,
        "<p>Each runs as a network task on your account (one credit) and shows its status while it runs.</p><div class=\"inline\">\
         <form method=\"post\" action=\"/ui/task\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"kind\" value=\"dns_lookup\"><input type=\"hidden\" name=\"target\" value=\"{ip}\">\
         <button id=\"run-dns\">Reverse DNS</button></form>\
         <form method=\"post\" action=\"/ui/task\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"kind\" value=\"whois\"><input type=\"hidden\" name=\"target\" value=\"{ip}\">\
         <button id=\"run-whois\">WHOIS</button></form></div></section>",
        csrf = esc(&session.csrf),
    );
}

/// The server's own address as the browser reached it, for commands to copy.
fn base_url(state: &AppState, headers: &HeaderMap) -> (String, String) {
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .unwrap_or("127.0.0.1:8080")
        .to_string();
    let scheme = if state.config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    (format!("{scheme}://{host}"), host)
}

/// The host part of `host[:port]` (brackets kept off an IPv6 literal).
fn host_only(host: &str) -> String {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest).to_string();
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h).to_string()
}

fn commands_section(
    state: &AppState,
    headers: &HeaderMap,
    body: &mut String,
    ip: IpAddr,
    asn: Option<u32>,
) {
    let (base, host) = base_url(state, headers);
    body.push_str("<section><h2>Commands</h2><p class=\"hint\">The raw answer of each API; set <code>KEY</code> to an API key (and <code>ACCOUNT</code> to its account id for MaxMind's).</p>");
    let curl = [
        ("ipintel /v1", format!("curl -H \"Authorization: Bearer $KEY\" {base}/v1/ip/{ip}")),
        ("MaxMind GeoIP2 Insights", format!("curl -u \"$ACCOUNT:$KEY\" {base}/geoip/v2.1/insights/{ip}")),
        ("DB-IP v2", format!("curl {base}/v2/$KEY/{ip}")),
        ("QRadar geolocations", format!("curl -H \"SEC: $KEY\" '{base}/api/services/geolocations?filter=ip_address%3D%22{ip}%22'")),
    ];
    for (i, (label, command)) in curl.iter().enumerate() {
        html::copyable(body, &format!("cmd-{i}"), label, command);
    }
    if let Some(listen) = state.config.whois.listen {
        let whois_host = host_only(&host);
        html::copyable(
            body,
            "cmd-whois",
            "whois (this server's registry)",
            &format!("whois -h {whois_host} -p {} {ip}", listen.port()),
        );
        if let Some(asn) = asn {
            html::copyable(
                body,
                "cmd-bgpq4",
                "bgpq4 (prefixes of the origin AS)",
                &format!(
                    "bgpq4 -h {whois_host}:{} -4 -l AS{asn}-IN AS{asn}",
                    listen.port()
                ),
            );
        }
    }
    body.push_str("</section>");
}

#[derive(Deserialize)]
struct TaskForm {
    csrf: Option<String>,
    kind: String,
    target: String,
}

/// `POST /ui/task`: run reverse DNS or WHOIS for an address on the signed-in account.
pub async fn submit_task(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    request: axum::extract::Request,
) -> Response {
    let result = async {
        let (headers, body): (HeaderMap, Bytes) =
            super::read_body(request, super::FORM_LIMIT).await?;
        let form: TaskForm = super::form(&body, super::FORM_LIMIT)?;
        let session =
            super::session::check_post(&console.sessions, &headers, form.csrf.as_deref())?;
        let kind = match form.kind.as_str() {
            "dns_lookup" => JobKind::DnsLookup,
            "whois" => JobKind::Whois,
            other => {
                return Err(Stop::Page(
                    ErrorKind::InvalidInput,
                    format!("{other:?} is not a task the console runs (dns_lookup, whois)"),
                ))
            }
        };
        let ip: IpAddr = form.target.trim().parse().map_err(|_| {
            Stop::Page(
                ErrorKind::InvalidInput,
                "the target is not an IP address".into(),
            )
        })?;
        let meter = meter_of(&state, &console, &headers, &session, Service::Tasks).await?;
        let job = state
            .engine
            .submit_task(&meter, kind, &ip.to_string())
            .await
            .map_err(|e| Stop::Page(e.kind(), e.to_string()))?;
        state.jobs_wakeup.notify_one();
        Ok::<_, Stop>(job.id)
    }
    .await;
    match result {
        Ok(id) => super::redirect(&format!("/ui/task/{id}")),
        Err(stop) => stop.into_response(None),
    }
}

/// `GET /ui/task/{id}`: a task's status, refreshing every second until it is final.
pub async fn task_page(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    SignedIn(session): SignedIn,
) -> Response {
    let result = async {
        let meter = meter_of(&state, &console, &headers, &session, Service::Tasks).await?;
        let not_found = || Stop::Page(ErrorKind::NotFound, format!("no task {id} on your account"));
        let number: u64 = id.parse().map_err(|_| not_found())?;
        let job = state
            .engine
            .job(&meter, None, number)
            .await
            .map_err(|e| Stop::Page(e.kind(), e.to_string()))?
            .filter(|j| j.kind != JobKind::Bulk)
            .ok_or_else(not_found)?;
        let title = match job.kind {
            JobKind::DnsLookup => "Reverse DNS",
            JobKind::Whois => "WHOIS",
            JobKind::Dig => "dig",
            JobKind::PortScan => "Port scan",
            JobKind::Bulk => "Bulk",
        };
        let mut page = Page::new(format!("{title} of {}", job.target));
        let done = job.status.is_final();
        if !done {
            page.refresh = Some((1, false));
        }
        let mut body = String::new();
        let _ = write!(
            body,
            "<p>Task {id}: <strong id=\"task-status\" data-status=\"{status}\">{status}</strong>{running}</p>",
            id = job.id,
            status = esc(job.status.as_str()),
            running = if done { "" } else { " <span class=\"muted\">(this page refreshes until it is done)</span>" },
        );
        if let Some(message) = &job.message {
            let _ = write!(body, "<pre id=\"task-message\" class=\"rpsl\">{}</pre>", esc(message));
        }
        if let Some(result) = job.result.as_deref().and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok()) {
            let pretty = serde_json::to_string_pretty(&result).unwrap_or_default();
            let _ = write!(body, "<details open><summary>Result</summary><pre id=\"task-result\">{}</pre></details>", esc(&pretty));
        }
        let _ = write!(
            body,
            "<p><a href=\"/ui/ip/{ip}\">Back to {ip}</a></p>",
            ip = esc(&job.target)
        );
        page.push(&body);
        Ok::<_, Stop>(page)
    }
    .await;
    match result {
        Ok(page) => html::respond(StatusCode::OK, page.render(Some(&session))),
        Err(stop) => stop.into_response(Some(&session)),
    }
}
