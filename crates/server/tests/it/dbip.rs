//! The DB-IP v2 dialect: tiers, batches, localisation, quota arithmetic, errors.

use crate::support::{create_key, request, wait_for_keys, TestServer};

async fn get(
    server: &TestServer,
    path: &str,
    headers: &[(&str, &str)],
) -> crate::support::Response {
    request(server.addr, "GET", path, headers).await
}

struct Keys {
    free: String,
    lite: String,
    pro: String,
}

async fn keys(server: &TestServer) -> Keys {
    let free = create_key(server, &["--plan", "free"]).await.1;
    let lite = create_key(server, &["--plan", "lite", "--daily-quota", "100"])
        .await
        .1;
    let pro = create_key(server, &["--plan", "pro"]).await.1;
    wait_for_keys(server, 4).await;
    Keys { free, lite, pro }
}

#[tokio::test]
async fn fields_depend_on_the_tier() {
    let server = TestServer::start().await;
    let k = keys(&server).await;

    let r = get(&server, &format!("/v2/{}/81.2.69.165", k.free), &[]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let j = r.json();
    assert_eq!(j["ipAddress"], "81.2.69.165");
    assert_eq!(j["continentCode"], "EU");
    assert_eq!(j["countryCode"], "GB");
    assert_eq!(j["countryName"], "United Kingdom");
    assert_eq!(j["stateProvCode"], "ENG");
    assert_eq!(j["stateProv"], "England");
    assert_eq!(j["city"], "London");
    for absent in [
        "currencyCode",
        "latitude",
        "district",
        "asNumber",
        "isp",
        "gmtOffset",
    ] {
        assert!(j.get(absent).is_none(), "free tier has no {absent}");
    }

    let j = get(&server, &format!("/v2/{}/81.2.69.165", k.lite), &[])
        .await
        .json();
    assert_eq!(j["currencyCode"], "GBP");
    assert_eq!(j["currencyName"], "Pound sterling");
    assert_eq!(j["phonePrefix"], "44");
    assert!(j["languages"].as_array().unwrap().contains(&"en".into()));
    assert_eq!(j["isEuMember"], false);
    assert_eq!(j["district"], "West Berkshire");
    assert_eq!(j["geonameId"], 2643743);
    assert_eq!(j["zipCode"], "EC2V");
    assert_eq!(j["latitude"], 51.5142);
    assert_eq!(j["timeZone"], "Europe/London");
    let offset = j["gmtOffset"].as_f64().expect("gmtOffset");
    assert!(offset == 0.0 || offset == 1.0, "{offset}");
    assert!(j.get("asNumber").is_none(), "lite has no network data");

    let j = get(&server, &format!("/v2/{}/81.2.69.165", k.pro), &[])
        .await
        .json();
    assert_eq!(j["asNumber"], 20712);
    assert_eq!(j["asName"], "Andrews & Arnold Ltd");
    assert_eq!(j["isp"], "Andrews & Arnold Ltd");
    assert_eq!(j["organization"], "STONEHAM");
    assert_eq!(j["linkType"], "Cable/DSL");
    assert_eq!(
        j["isProxy"], true,
        "the Anonymous-IP fixture flags this network"
    );
    assert_eq!(j["proxyType"], "tor");
    assert_eq!(j["threatLevel"], "high");
    let j = get(&server, &format!("/v2/{}/89.160.20.115", k.pro), &[])
        .await
        .json();
    assert_eq!(j["isEuMember"], true);
    assert_eq!(j["isProxy"], false);
    assert_eq!(j["threatLevel"], "low");
    server.stop().await;
}

#[tokio::test]
async fn localisation_follows_accept_language() {
    let server = TestServer::start().await;
    let k = keys(&server).await;
    let path = format!("/v2/{}/81.2.69.165", k.lite);
    let j = get(
        &server,
        &path,
        &[("Accept-Language", "fr-FR,fr;q=0.9,en;q=0.5")],
    )
    .await
    .json();
    assert_eq!(
        (
            j["city"].as_str(),
            j["countryName"].as_str(),
            j["stateProv"].as_str()
        ),
        (Some("Londres"), Some("Royaume-Uni"), Some("Angleterre"))
    );
    assert_eq!(j["continentName"], "Europe");
    let j = get(&server, &path, &[("Accept-Language", "ru-RU")])
        .await
        .json();
    assert_eq!(
        (j["city"].as_str(), j["countryName"].as_str()),
        (Some("Лондон"), Some("Великобритания"))
    );
    assert_eq!(j["stateProv"], "England", "no Russian name: English");
    let j = get(&server, &path, &[("Accept-Language", "ja, de;q=0.8")])
        .await
        .json();
    assert_eq!(j["city"], "ロンドン");
    let j = get(&server, &path, &[("Accept-Language", "tlh, de;q=0.8")])
        .await
        .json();
    assert_eq!(j["countryName"], "Vereinigtes Königreich");
    // Free keys are not localised.
    let j = get(
        &server,
        &format!("/v2/{}/81.2.69.165", k.free),
        &[("Accept-Language", "fr")],
    )
    .await
    .json();
    assert_eq!(j["city"], "London");
    // A malformed header is an error in DB-IP's shape.
    let r = get(&server, &path, &[("Accept-Language", "fr;q=7")]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["errorCode"], "INVALID_REQUEST");
    server.stop().await;
}

#[tokio::test]
async fn batches_limits_and_quota_arithmetic() {
    let server = TestServer::start().await;
    let k = keys(&server).await;
    let r = get(
        &server,
        &format!("/v2/{}/81.2.69.165,2001:218::1,10.0.0.1", k.lite),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    let j = r.json();
    let keys: Vec<&String> = j.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3);
    assert_eq!(j["81.2.69.165"]["city"], "London");
    assert_eq!(j["2001:218::1"]["countryCode"], "JP");
    assert_eq!(j["10.0.0.1"]["countryCode"], "ZZ");
    let body = String::from_utf8(r.body.clone()).unwrap();
    assert!(
        body.find("81.2.69.165").unwrap() < body.find("2001:218::1").unwrap(),
        "request order is kept"
    );

    let info = |key: String| {
        let server = &server;
        async move { get(server, &format!("/v2/{key}"), &[]).await.json() }
    };
    let j = info(k.lite.clone()).await;
    assert_eq!(j["queriesPerDay"], 100);
    assert_eq!(j["queriesLeft"], 97, "a batch of three costs three");
    assert_eq!(j["status"], "active");
    assert_eq!(j["apiKey"], k.lite.as_str());

    // Ten distinct addresses cost nine; duplicates are answered and charged once.
    let ten: Vec<String> = (160..170).map(|n| format!("81.2.69.{n}")).collect();
    let mut list = ten.join(",");
    list.push_str(",81.2.69.160");
    let r = get(&server, &format!("/v2/{}/{list}", k.lite), &[]).await;
    assert_eq!(r.json().as_object().unwrap().len(), 10);
    assert_eq!(info(k.lite.clone()).await["queriesLeft"], 88);
    // Fifty cost forty-five.
    let fifty: Vec<String> = (100..150).map(|n| format!("81.2.69.{n}")).collect();
    get(&server, &format!("/v2/{}/{}", k.lite, fifty.join(",")), &[]).await;
    assert_eq!(info(k.lite.clone()).await["queriesLeft"], 43);

    // Free keys batch at most 32.
    let many: Vec<String> = (1..=33).map(|n| format!("81.2.69.{n}")).collect();
    let r = get(&server, &format!("/v2/{}/{}", k.free, many.join(",")), &[]).await;
    assert_eq!(
        (r.status, r.json()["errorCode"].as_str()),
        (400, Some("TOO_MANY_ADDRESSES"))
    );
    let r = get(
        &server,
        &format!("/v2/{}/{}", k.free, many[..32].join(",")),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    // One bad item fails the whole request, naming it, and costs nothing.
    let before = info(k.free.clone()).await["queriesLeft"].clone();
    for bad in [
        "81.2.69.1,bogus",
        "81.2.69.1,,81.2.69.2",
        "81.2.69.1,",
        "%ZZ",
    ] {
        let r = get(&server, &format!("/v2/{}/{bad}", k.free), &[]).await;
        assert_eq!(
            (r.status, r.json()["errorCode"].as_str()),
            (400, Some("INVALID_ADDRESS")),
            "{bad}"
        );
    }
    assert_eq!(info(k.free.clone()).await["queriesLeft"], before);
    server.stop().await;
}

#[tokio::test]
async fn reserved_self_and_errors() {
    let server = TestServer::start().await;
    let k = keys(&server).await;
    let j = get(&server, &format!("/v2/{}/192.168.1.1", k.pro), &[])
        .await
        .json();
    assert_eq!(j["countryCode"], "ZZ");
    assert_eq!(j["isp"], "Private network");
    assert_eq!(j["usageType"], "reserved");
    assert_eq!(j["organization"], "Rfc 1918");
    let j = get(&server, &format!("/v2/{}/self", k.free), &[])
        .await
        .json();
    assert_eq!(j["ipAddress"], "127.0.0.1");
    assert_eq!(j["countryCode"], "ZZ");
    assert!(j.get("isp").is_none(), "free tier: no network fields");
    // In no geo database: no location fields; the Anonymous-IP database (loaded) does not
    // list it either, so it is no proxy.
    let j = get(&server, &format!("/v2/{}/1.2.3.4", k.pro), &[])
        .await
        .json();
    assert_eq!(j["ipAddress"], "1.2.3.4");
    for absent in ["countryCode", "city", "asNumber"] {
        assert!(j.get(absent).is_none(), "{absent}");
    }
    assert_eq!(j["isProxy"], false);

    for (path, status, code) in [
        ("/v2/ipk_nope/81.2.69.165".to_owned(), 401, "INVALID_KEY"),
        ("/v2/".to_owned(), 401, "INVALID_KEY"),
        ("/v2//81.2.69.165".to_owned(), 401, "INVALID_KEY"),
        (
            format!("/v2/{}/81.2.69.165/x", k.pro),
            400,
            "INVALID_ADDRESS",
        ),
    ] {
        let r = get(&server, &path, &[]).await;
        assert_eq!(
            (r.status, r.json()["errorCode"].as_str()),
            (status, Some(code)),
            "{path}"
        );
        assert!(r.json()["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    // A key whose daily quota is spent.
    let (_, tiny) = create_key(&server, &["--plan", "lite", "--daily-quota", "2"]).await;
    wait_for_keys(&server, 5).await;
    let r = get(&server, &format!("/v2/{tiny}/81.2.69.1,81.2.69.2"), &[]).await;
    assert_eq!(r.status, 200);
    let r = get(&server, &format!("/v2/{tiny}/81.2.69.3"), &[]).await;
    assert_eq!(
        (r.status, r.json()["errorCode"].as_str()),
        (402, Some("OVER_QUERY_LIMIT"))
    );
    // DB-IP keys work on the DB-IP API only as their plan allows: MaxMind's Basic auth needs
    // the account id too, so the same key is refused there without it.
    let r = request(server.addr, "GET", "/geoip/v2.1/city/81.2.69.165", &[]).await;
    assert_eq!(r.status, 401);
    server.stop().await;
}
