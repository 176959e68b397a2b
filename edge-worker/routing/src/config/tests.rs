use super::*;

const MINIMAL: &str = r#"{"regions":[{"id":"us-east","origin":"http://127.0.0.1:9101"}]}"#;

fn err(json: &str) -> ConfigError {
    match EdgeConfig::parse(json) {
        Ok(_) => panic!("accepted: {json}"),
        Err(e) => e,
    }
}

fn with(extra: &str) -> String {
    format!(
        r#"{{"regions":[{{"id":"us-east","origin":"http://127.0.0.1:9101","tags":["us"]}},{{"id":"eu-west","origin":"http://127.0.0.1:9103","lat":53.3,"lon":-6.3,"tags":["eu"]}}],{extra}}}"#
    )
}

#[test]
fn minimal_config_gets_defaults() {
    let c = EdgeConfig::parse(MINIMAL).unwrap();
    assert_eq!(c.regions().len(), 1);
    assert_eq!(c.policy, Policy::Latency);
    assert_eq!(c.timeouts, TimeoutConfig::default());
    assert_eq!(c.health.path, "/readyz");
    assert_eq!(c.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
    // The protocol's long-poll has its own timeout rule; other /v1/ paths are adaptive.
    let watch = c.route_for("/v1/watch").unwrap();
    assert_eq!(watch.try_timeout, Some(Duration::from_secs(35)));
    assert!(!watch.observe_latency);
    assert_eq!(watch.idempotent, Some(true));
    let sync = c.route_for("/v1/sync").unwrap();
    assert_eq!(sync.try_timeout, None);
    assert!(c.route_for("/index.html").is_none());
    assert!(c.route_for("/v1").is_none());
}

#[test]
fn errors_name_the_field() {
    let cases: &[(&str, &str)] = &[
        ("", "."),
        ("{", "."),
        ("[]", "."),
        ("{}", "."),
        (r#"{"regions":[]}"#, "regions"),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"},{"id":"b","origin":"ftp://h"}]}"#,
            "regions[1].origin",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"},{"id":"a","origin":"http://g"}]}"#,
            "regions[1].id",
        ),
        (
            r#"{"regions":[{"id":"bad id","origin":"http://h"}]}"#,
            "regions[0].id",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h","lat":10}]}"#,
            "regions[0].lon",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h","lat":100,"lon":0}]}"#,
            "regions[0].lat",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h","tags":["e u"]}]}"#,
            "regions[0].tags[0]",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h","weight":-1}]}"#,
            "regions[0].weight",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h","orign":"x"}]}"#,
            "regions[0].orign",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"}],"policy":"fastest"}"#,
            "policy",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"}],"timeouts":{"try_min_ms":500,"try_max_ms":100}}"#,
            "timeouts.try_max_ms",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"}],"timeouts":{"timout_ms":5}}"#,
            "timeouts.timout_ms",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"}],"health":{"path":"readyz"}}"#,
            "health.path",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"}],"health":{"expected_status":[]}}"#,
            "health.expected_status",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"}],"retries":{"max_attempts":0}}"#,
            "retries.max_attempts",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"}],"retries":{"on_status":[404]}}"#,
            "retries.on_status",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"}],"policy":"geo"}"#,
            "geo",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"}],"geo":{"countries":{"DE":"a"}}}"#,
            "geo",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"}],"policy":"geo","geo":{"countries":{"DE":"b"}}}"#,
            "geo.countries.DE",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"}],"policy":"geo","geo":{"continents":{"XX":"a"}}}"#,
            "geo.continents.XX",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"}],"policy":"proximity"}"#,
            "regions",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h","weight":0}],"policy":"weighted"}"#,
            "regions",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"}],"residency":{"countries":{"DE":"eu"}}}"#,
            "residency.countries.DE",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"}],"residency":{"header":"x-edge-tag"}}"#,
            "residency.header",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"}],"affinity":{"cookie":"a b"}}"#,
            "affinity.cookie",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"}],"routes":[{"prefix":"v1"}]}"#,
            "routes[0].prefix",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"}],"routes":[{"prefix":"/_edge/x"}]}"#,
            "routes[0].prefix",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"}],"routes":[{"prefix":"/a"},{"prefix":"/a"}]}"#,
            "routes[1].prefix",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"}],"routes":[{"prefix":"/a","try_timeout_ms":0}]}"#,
            "routes[0].try_timeout_ms",
        ),
        (
            r#"{"regions":[{"id":"a","origin":"http://h"}],"max_body_bytes":1000000000}"#,
            "max_body_bytes",
        ),
    ];
    let mismatches: Vec<String> = cases
        .iter()
        .filter_map(|(json, field)| {
            let e = err(json);
            assert!(
                e.to_string().contains(field) && !e.message().is_empty(),
                "{e}"
            );
            (e.field() != *field).then(|| format!("{json}\n  expected `{field}`, got: {e}"))
        })
        .collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn full_config_round_trips_every_section() {
    let json = with(
        r#""policy":"geo","geo":{"countries":{"de":["eu-west","us-east"]},"continents":{"NA":"us-east"}},
        "residency":{"header":"X-Data-Residency","countries":{"DE":"EU"},"continents":{"EU":"eu"}},
        "affinity":{"cookie":"pin","max_age_s":60},
        "latency":{"decay_ms":1000},
        "health":{"path":"/healthz","interval_ms":500,"timeout_ms":200,"expected_status":[200,204],"unhealthy_threshold":1,
                  "consecutive_failures":2,"ejection_base_ms":100,"ejection_max_ms":1000,"ejection_memory_ms":5000},
        "timeouts":{"try_min_ms":20,"try_max_ms":2000,"try_initial_ms":300,"deviation_factor":3,"deadline_ms":4000},
        "retries":{"max_attempts":4,"budget_percent":50,"budget_min_per_s":3,"on_status":[502,503]},
        "hedging":{"enabled":true,"deviation_factor":1.5,"min_delay_ms":5,"max_delay_ms":50},
        "routes":[{"prefix":"/api/"},{"prefix":"/api/poll","try_timeout_ms":60000,"observe_latency":false,"hedge":false}],
        "max_body_bytes":1024,
        "share":{"enabled":false,"interval_ms":100}"#,
    );
    let c = EdgeConfig::parse(&json).unwrap();
    let Policy::Geo(map) = &c.policy else {
        panic!("{:?}", c.policy)
    };
    assert_eq!(
        map.countries.values().next().unwrap(),
        &vec![RegionIdx(1), RegionIdx(0)]
    );
    let residency = c.residency.as_ref().unwrap();
    assert_eq!(residency.header, "x-data-residency");
    assert_eq!(residency.countries.values().next().unwrap().as_str(), "eu");
    assert_eq!(
        c.affinity.as_ref().unwrap().max_age,
        Duration::from_secs(60)
    );
    assert_eq!(c.retries.max_attempts, 4);
    assert!(c.hedging.enabled);
    // Longest prefix wins whatever the listed order.
    assert_eq!(
        c.route_for("/api/poll/x").unwrap().try_timeout,
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        c.route_for("/api/poll/x").unwrap().deadline,
        Duration::from_secs(60)
    );
    assert_eq!(c.route_for("/api/other").unwrap().try_timeout, None);
    assert!(c.route_for("/v1/sync").is_none());
    assert_eq!(c.region(RegionIdx(1)).location.unwrap().lat(), 53.3);
    assert!(!c.share.enabled);
}

#[test]
fn oversized_config_is_refused_without_parsing() {
    let huge = format!(
        "{{\"regions\":[],\"pad\":\"{}\"}}",
        "x".repeat(MAX_CONFIG_BYTES)
    );
    assert_eq!(err(&huge).field(), ".");
}
