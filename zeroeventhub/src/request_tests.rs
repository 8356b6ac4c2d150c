use super::*;

fn parse(query: &str) -> Result<FeedRequest, RequestError> {
    FeedRequest::parse(query, 4)
}

fn error(query: &str) -> (String, String) {
    let error = parse(query).unwrap_err();
    (error.parameter().to_owned(), error.to_string())
}

/// The cases of `tests/fixtures/bad_requests.txt`: (query, parameter,
/// text of the message), for a feed of 3 partitions.
fn bad_requests() -> Vec<(&'static str, &'static str, &'static str)> {
    include_str!("../tests/fixtures/bad_requests.txt")
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let mut fields = line.split('\t');
            let mut next = || fields.next().expect("query, parameter and message");
            (next(), next(), next())
        })
        .collect()
}

#[test]
fn bad_requests_are_refused_naming_the_parameter() {
    let cases = bad_requests();
    assert!(
        cases.len() > 30,
        "the fixture is read: {} cases",
        cases.len()
    );
    for (query, parameter, message) in cases {
        let error = FeedRequest::parse(query, 3).expect_err(query);
        assert_eq!(error.parameter(), parameter, "{query}: {error}");
        assert!(
            error.to_string().contains(message),
            "{query}: {error:?} should say {message:?}"
        );
        assert_eq!(error.status(), http::StatusCode::BAD_REQUEST);
    }
}

#[test]
fn request_minimal_parses() {
    let request = parse("n=4&cursor2=_last").unwrap();
    assert_eq!(request, FeedRequest::new(4, vec![Cursor::last(2)]));
}

#[test]
fn request_unknown_parameters_are_ignored() {
    let request = parse("x=1&n=4&cursor=abc&cursorx=1&cursor0=_first&timeout=").unwrap();
    assert_eq!(request.cursors, [Cursor::first(0)]);
}

#[test]
fn request_cursors_are_percent_decoded_and_sorted() {
    let request = parse("n=4&cursor3=a%20b%2Bc&cursor1=x+y").unwrap();
    assert_eq!(
        request.cursors,
        [
            Cursor::new(1, "x y").unwrap(),
            Cursor::new(3, "a b+c").unwrap()
        ]
    );
}

#[test]
fn request_page_size_hint() {
    assert_eq!(
        parse("n=4&cursor0=_first&pagesizehint=0")
            .unwrap()
            .page_size_hint,
        None
    );
    assert_eq!(
        parse("n=4&cursor0=_first&pagesizehint=4294967295")
            .unwrap()
            .page_size_hint,
        Some(u32::MAX)
    );
}

#[test]
fn request_headers() {
    let headers = |value: &str| parse(&format!("n=4&cursor0=_first&headers={value}"));
    assert_eq!(
        headers("a,b,").unwrap().headers,
        HeaderSelection::names(["a", "b"])
    );
    assert_eq!(headers("_all").unwrap().headers, HeaderSelection::All);
    assert_eq!(headers("_all,").unwrap().headers, HeaderSelection::All);
    assert_eq!(headers("").unwrap().headers, HeaderSelection::None);
    assert_eq!(headers(",").unwrap().headers, HeaderSelection::None);
}

#[test]
fn request_round_trips_through_query_string() {
    let requests = [
        FeedRequest::new(4, vec![Cursor::first(0)]),
        FeedRequest {
            partition_count: 4,
            cursors: vec![
                Cursor::new(1, "a b&c=d+e%f~").unwrap(),
                Cursor::last(2),
                Cursor::new(3, "1000240213123").unwrap(),
            ],
            page_size_hint: Some(1000),
            headers: HeaderSelection::names(["ce_id", "ce_type"]),
            wait: Some(20),
            event_types: EventTypeFilter::skip(["Heartbeat", "ping"]),
        },
        FeedRequest {
            headers: HeaderSelection::All,
            ..FeedRequest::new(4, vec![Cursor::first(3)])
        },
    ];
    for request in requests {
        let query = request.to_query_string().unwrap();
        assert_eq!(parse(&query).unwrap(), request, "{query}");
    }
}

#[test]
fn wait_zero_answers_at_once_like_no_wait() {
    assert_eq!(parse("n=4&cursor0=_first&wait=0").unwrap().wait, None);
    assert_eq!(parse("n=4&cursor0=_first&wait=60").unwrap().wait, Some(60));
    let request = FeedRequest {
        wait: Some(0),
        ..FeedRequest::new(4, vec![Cursor::first(0)])
    };
    assert_eq!(request.to_query_string().unwrap(), "n=4&cursor0=_first");
}

#[test]
fn request_building_validates_like_parsing() {
    let request = |cursors| FeedRequest::new(2, cursors);
    assert_eq!(
        request(vec![]).to_query_string(),
        Err(RequestError::NoCursor)
    );
    assert_eq!(
        request(vec![Cursor::first(2)])
            .to_query_string()
            .unwrap_err()
            .parameter(),
        "cursor2"
    );
    assert_eq!(
        request(vec![Cursor::first(1), Cursor::last(1)])
            .to_query_string()
            .unwrap_err()
            .parameter(),
        "cursor1"
    );
    let with_headers = |names: &[&str]| FeedRequest {
        headers: HeaderSelection::names(names.iter().copied()),
        ..request(vec![Cursor::first(0)])
    };
    assert!(with_headers(&["a,b"]).to_query_string().is_err());
    assert!(with_headers(&["_all"]).to_query_string().is_err());
    assert!(with_headers(&[]).to_query_string().is_ok());
}

#[test]
fn integers_have_one_rule_digits_without_sign_or_leading_zero() {
    assert_eq!(decimal("0"), Some(0));
    assert_eq!(decimal("1042"), Some(1042));
    for refused in [
        "",
        "+4",
        "-1",
        "04",
        "00",
        " 4",
        "4 ",
        "4.0",
        "0x4",
        "99999999999999999999",
    ] {
        assert_eq!(decimal(refused), None, "{refused:?}");
    }
}

/// Regression (found by fuzzing): `n=+4` and `n=04` were accepted while
/// `pagesizehint=+5` was refused, and `cursor04` was read as `cursor4`.
#[test]
fn request_error_quotes_a_long_value_only_in_part() {
    let long = "9".repeat(100_000);
    let message = error(&format!("n={long}&cursor0=_first")).1;
    assert!(message.len() < 300, "{} bytes", message.len());
    assert!(
        message.contains(&format!("\"{}...\"", &long[..crate::excerpt::VALUE_CHARS])),
        "{message}"
    );
    let message = error(&format!("n=4&cursor0=_first&pagesizehint=x{long}")).1;
    assert!(message.len() < 300, "{} bytes", message.len());
}

/// Regression (found by fuzzing): the names were de-duplicated by a linear
/// search each, so 16,000 names cost half a second a request.
#[test]
fn request_headers_are_a_set_each_name_once() {
    let names: Vec<String> = (0..16_000).map(|i| format!("h{i}")).collect();
    let query = format!("n=4&cursor0=_first&headers={},h7,h7", names.join(","));
    let HeaderSelection::Names(parsed) = parse(&query).unwrap().headers else {
        panic!("expected names")
    };
    assert_eq!(parsed.len(), names.len());
    assert!(parsed.contains("h15999"));
}

#[test]
fn event_type_filters_are_a_version_1_extension() {
    let only = parse("n=4&cursor0=_first&event-types=OrderPlaced%3BOrderPaid").unwrap();
    assert_eq!(
        only.event_types,
        EventTypeFilter::only(["orderplaced", "orderpaid"])
    );
    let raw = parse("n=4&cursor0=_first&skip-event-types=a;B").unwrap();
    assert_eq!(raw.event_types, EventTypeFilter::skip(["a", "b"]));
    let both = parse("n=4&cursor0=_first&event-types=a&skip-event-types=b").unwrap_err();
    assert_eq!(both.parameter(), "event-types");
    assert_eq!(both.status(), http::StatusCode::BAD_REQUEST);
    let repeated = parse("n=4&cursor0=_first&event-types=a&event-types=b").unwrap_err();
    assert_eq!(repeated.parameter(), "event-types");
}
