use super::*;
use crate::transport::ConnId;

fn src(port: u16) -> Source {
    Source::udp(
        SocketAddr::from(([192, 0, 2, 1], port)),
        SocketAddr::from(([127, 0, 0, 1], 5060)),
    )
}

fn contact(uri: &str, q: Option<u16>, expires: Option<u32>) -> ContactRequest {
    ContactRequest {
        uri: uri.to_owned(),
        q: q.map(Q),
        expires,
    }
}

fn reg<'a>(
    aor: &'a str,
    call_id: &'a str,
    cseq: u32,
    expires: Option<u32>,
    contacts: ContactSet,
) -> Update<'a> {
    Update {
        aor,
        call_id,
        cseq,
        expires,
        contacts,
        source: src(40000),
    }
}

fn config() -> RegistrarConfig {
    RegistrarConfig {
        min_expires: 60,
        max_expires: 3600,
        default_expires: 600,
        max_contacts: 3,
        qualify_interval: Some(Duration::from_secs(30)),
        max_missed_qualifies: 3,
    }
}

fn drain(b: &mut Bindings) -> Vec<RegistrarEvent> {
    std::iter::from_fn(|| b.poll_event()).collect()
}

#[test]
fn q_values_parse_and_print() {
    assert_eq!(Q::parse("0.5"), Some(Q(500)));
    assert_eq!(Q::parse("0.125"), Some(Q(125)));
    assert_eq!(Q::parse("1"), Some(Q(1000)));
    assert_eq!(Q::parse("1.000"), Some(Q(1000)));
    assert_eq!(Q::parse("1.5"), None);
    assert_eq!(Q::parse("0.1234"), None);
    assert_eq!(Q::parse("x"), None);
    assert_eq!(Q(500).to_string(), "0.500");
}

#[test]
fn several_contacts_sorted_by_q_and_expiring_on_time() {
    let t0 = Instant::now();
    let mut b = Bindings::new(config());
    let got = b
        .update(
            t0,
            reg(
                "1001",
                "c1",
                1,
                Some(120),
                ContactSet::List(vec![
                    contact("sip:a@10.0.0.1", Some(100), None),
                    contact("sip:b@10.0.0.2", Some(900), Some(300)),
                ]),
            ),
        )
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].contact, "sip:b@10.0.0.2");
    assert_eq!(got[0].expires_in, 300);
    assert_eq!(got[1].expires_in, 120);
    b.handle_timeout(t0 + Duration::from_secs(121));
    let left = b.bindings(t0 + Duration::from_secs(121), "1001");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].contact, "sip:b@10.0.0.2");
    assert!(drain(&mut b).iter().any(
        |e| matches!(e, RegistrarEvent::Expired { contact, .. } if contact == "sip:a@10.0.0.1")
    ));
}

#[test]
fn too_brief_is_refused_and_long_is_shortened() {
    let t0 = Instant::now();
    let mut b = Bindings::new(config());
    let err = b
        .update(
            t0,
            reg(
                "1001",
                "c1",
                1,
                Some(30),
                ContactSet::List(vec![contact("sip:a@h", None, None)]),
            ),
        )
        .unwrap_err();
    assert_eq!(err, UpdateError::IntervalTooBrief { min_expires: 60 });
    assert!(b.is_empty());
    let got = b
        .update(
            t0,
            reg(
                "1001",
                "c1",
                2,
                Some(100_000),
                ContactSet::List(vec![contact("sip:a@h", None, None)]),
            ),
        )
        .unwrap();
    assert_eq!(got[0].expires_in, 3600);
    // No interval at all: the default.
    let got = b
        .update(
            t0,
            reg(
                "1002",
                "c2",
                1,
                None,
                ContactSet::List(vec![contact("sip:x@h", None, None)]),
            ),
        )
        .unwrap();
    assert_eq!(got[0].expires_in, 600);
}

#[test]
fn refresh_keeps_one_binding_and_zero_removes_it() {
    let t0 = Instant::now();
    let mut b = Bindings::new(config());
    let list = |e| ContactSet::List(vec![contact("sip:a@h", None, e)]);
    b.update(t0, reg("1001", "c1", 1, Some(120), list(None)))
        .unwrap();
    let got = b
        .update(t0, reg("1001", "c1", 2, Some(600), list(None)))
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].expires_in, 600);
    let got = b
        .update(t0, reg("1001", "c1", 3, Some(600), list(Some(0))))
        .unwrap();
    assert!(got.is_empty());
    assert!(b.is_empty());
    // One Bound for the first registration, none for the refresh, one Unbound.
    let ab = |c: &str| ("1001".to_owned(), c.to_owned());
    let ev: Vec<_> = drain(&mut b)
        .into_iter()
        .map(|e| match e {
            RegistrarEvent::Bound { aor, contact } => ("bound", (aor, contact)),
            RegistrarEvent::Unbound { aor, contact } => ("unbound", (aor, contact)),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        ev,
        vec![("bound", ab("sip:a@h")), ("unbound", ab("sip:a@h"))]
    );
}

#[test]
fn same_call_id_with_old_cseq_is_refused() {
    let t0 = Instant::now();
    let mut b = Bindings::new(config());
    let list = || ContactSet::List(vec![contact("sip:a@h", None, None)]);
    b.update(t0, reg("1001", "c1", 5, Some(120), list()))
        .unwrap();
    assert_eq!(
        b.update(t0, reg("1001", "c1", 5, Some(300), list()))
            .unwrap_err(),
        UpdateError::OutOfOrder { cseq: 5 }
    );
    // Another Call-ID (the phone restarted) may replace it whatever its CSeq.
    b.update(t0, reg("1001", "c2", 1, Some(300), list()))
        .unwrap();
}

#[test]
fn wildcard_needs_expires_zero_and_removes_all() {
    let t0 = Instant::now();
    let mut b = Bindings::new(config());
    b.update(
        t0,
        reg(
            "1001",
            "c1",
            1,
            Some(120),
            ContactSet::List(vec![
                contact("sip:a@h", None, None),
                contact("sip:b@h", None, None),
            ]),
        ),
    )
    .unwrap();
    assert_eq!(
        b.update(t0, reg("1001", "c1", 2, Some(60), ContactSet::Wildcard))
            .unwrap_err(),
        UpdateError::InvalidWildcard
    );
    assert_eq!(b.len(), 2);
    let got = b
        .update(t0, reg("1001", "c1", 3, Some(0), ContactSet::Wildcard))
        .unwrap();
    assert!(got.is_empty());
    assert!(b.is_empty());
}

#[test]
fn query_returns_bindings_without_changing_them() {
    let t0 = Instant::now();
    let mut b = Bindings::new(config());
    b.update(
        t0,
        reg(
            "1001",
            "c1",
            1,
            Some(120),
            ContactSet::List(vec![contact("sip:a@h", None, None)]),
        ),
    )
    .unwrap();
    let got = b
        .update(
            t0 + Duration::from_secs(20),
            reg("1001", "q", 1, None, ContactSet::Query),
        )
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].expires_in, 100);
}

#[test]
fn beyond_max_contacts_the_least_recently_refreshed_goes() {
    let t0 = Instant::now();
    let mut b = Bindings::new(config());
    for (i, uri) in ["sip:a@h", "sip:b@h", "sip:c@h"].iter().enumerate() {
        let t = t0 + Duration::from_secs(i as u64);
        b.update(
            t,
            reg(
                "1001",
                "c",
                i as u32 + 1,
                Some(300),
                ContactSet::List(vec![contact(uri, None, None)]),
            ),
        )
        .unwrap();
    }
    drain(&mut b);
    let t = t0 + Duration::from_secs(10);
    let got = b
        .update(
            t,
            reg(
                "1001",
                "c",
                10,
                Some(300),
                ContactSet::List(vec![contact("sip:d@h", None, None)]),
            ),
        )
        .unwrap();
    assert_eq!(got.len(), 3);
    assert!(!got.iter().any(|g| g.contact == "sip:a@h"));
    assert!(drain(&mut b).contains(&RegistrarEvent::Evicted {
        aor: "1001".into(),
        contact: "sip:a@h".into()
    }));
    let four = (0..4)
        .map(|i| contact(&format!("sip:{i}@h"), None, None))
        .collect();
    assert_eq!(
        b.update(t, reg("1001", "c", 11, Some(300), ContactSet::List(four)))
            .unwrap_err(),
        UpdateError::TooManyContacts { max: 3 }
    );
}

#[test]
fn qualify_probes_the_source_and_drops_after_three_misses() {
    let t0 = Instant::now();
    let mut b = Bindings::new(config());
    let mut u = reg(
        "1001",
        "c1",
        1,
        Some(3600),
        ContactSet::List(vec![contact("sip:a@10.0.0.1", None, None)]),
    );
    u.source = Source::tcp(
        SocketAddr::from(([198, 51, 100, 7], 61000)),
        SocketAddr::from(([127, 0, 0, 1], 5060)),
        ConnId(9),
    );
    b.update(t0, u).unwrap();
    assert_eq!(
        drain(&mut b),
        vec![RegistrarEvent::Bound {
            aor: "1001".into(),
            contact: "sip:a@10.0.0.1".into()
        }]
    );
    assert_eq!(b.poll_timeout(), Some(t0));
    b.handle_timeout(t0);
    let ev = drain(&mut b);
    let [
        RegistrarEvent::Qualify {
            id,
            source,
            contact,
            ..
        },
    ] = ev.as_slice()
    else {
        panic!("expected one probe, got {ev:?}");
    };
    assert_eq!(source.remote, SocketAddr::from(([198, 51, 100, 7], 61000)));
    assert_eq!(source.conn, Some(ConnId(9)));
    assert_eq!(contact, "sip:a@10.0.0.1");
    assert_eq!(
        b.qualified(t0, *id),
        Some(("1001".into(), "sip:a@10.0.0.1".into()))
    );
    assert!(b.bindings(t0, "1001")[0].reachable);
    // Answered probes keep it; then three unanswered ones in a row drop it.
    let mut t = t0;
    for round in 0..4 {
        t += Duration::from_secs(30);
        assert_eq!(b.poll_timeout(), Some(t));
        b.handle_timeout(t);
        let ev = drain(&mut b);
        if round < 3 {
            assert!(
                matches!(ev.as_slice(), [RegistrarEvent::Qualify { .. }]),
                "{ev:?}"
            );
        } else {
            assert!(
                matches!(ev.as_slice(), [RegistrarEvent::Unreachable { .. }]),
                "{ev:?}"
            );
        }
    }
    assert!(b.is_empty());
}

#[test]
fn closed_connection_is_forgotten() {
    let t0 = Instant::now();
    let mut b = Bindings::new(config());
    let mut u = reg(
        "1001",
        "c1",
        1,
        Some(3600),
        ContactSet::List(vec![contact("sip:a@h", None, None)]),
    );
    u.source = Source::tcp(
        SocketAddr::from(([198, 51, 100, 7], 61000)),
        SocketAddr::from(([127, 0, 0, 1], 5060)),
        ConnId(9),
    );
    b.update(t0, u).unwrap();
    b.connection_closed(ConnId(9));
    assert_eq!(b.bindings(t0, "1001")[0].source.conn, None);
}

#[test]
fn snapshot_restores_with_elapsed_time() {
    let t0 = Instant::now();
    let mut b = Bindings::new(config());
    b.update(
        t0,
        reg(
            "1001",
            "c1",
            7,
            Some(300),
            ContactSet::List(vec![
                contact("sip:a@h", Some(500), None),
                contact("sip:b@h", None, Some(100)),
            ]),
        ),
    )
    .unwrap();
    let snap = b.snapshot(t0 + Duration::from_secs(50));
    let json = serde_json::to_string(&snap).unwrap();
    let back: Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snap);
    let t1 = Instant::now() + Duration::from_secs(1000);
    let mut r = Bindings::new(config());
    r.restore(t1, back, Duration::from_secs(60));
    let got = r.bindings(t1, "1001");
    // b had 50 s left at the snapshot, so 60 s later it is gone; a keeps 250 - 60 s.
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].contact, "sip:a@h");
    assert_eq!(got[0].expires_in, 190);
    assert_eq!(got[0].q, Some(Q(500)));
    // The restored binding keeps its Call-ID/CSeq ordering.
    let err = r
        .update(
            t1,
            reg(
                "1001",
                "c1",
                7,
                Some(300),
                ContactSet::List(vec![contact("sip:a@h", None, None)]),
            ),
        )
        .unwrap_err();
    assert_eq!(err, UpdateError::OutOfOrder { cseq: 7 });
}

#[test]
fn contacts_compare_as_uris_not_as_text() {
    // RFC 3261 §19.1.4 examples and the cases a phone produces on re-registration.
    assert!(same_uri(
        "sip:1001@PBX.example;transport=UDP",
        "sip:1001@pbx.example;transport=udp"
    ));
    assert!(same_uri(
        "sip:1001@10.0.0.1:5070;ob",
        "sip:1001@10.0.0.1:5070"
    ));
    assert!(!same_uri("sip:1001@10.0.0.1", "sip:1001@10.0.0.1:5060"));
    assert!(!same_uri(
        "sip:1001@10.0.0.1;transport=tcp",
        "sip:1001@10.0.0.1"
    ));
    assert!(!same_uri("sip:ALICE@10.0.0.1", "sip:alice@10.0.0.1"));
    assert!(!same_uri(
        "sip:1001@10.0.0.1;foo=a",
        "sip:1001@10.0.0.1;foo=b"
    ));
    assert!(!same_uri("sips:1001@10.0.0.1", "sip:1001@10.0.0.1"));
}

#[test]
fn a_refresh_written_differently_updates_the_same_binding() {
    let t0 = Instant::now();
    let mut b = Bindings::new(config());
    let one = |uri: &str| ContactSet::List(vec![contact(uri, None, None)]);
    b.update(
        t0,
        reg(
            "1001",
            "c1",
            1,
            Some(120),
            one("sip:1001@Phone.example;transport=UDP"),
        ),
    )
    .expect("first registration");
    let got = b
        .update(
            t0,
            reg(
                "1001",
                "c1",
                2,
                Some(120),
                one("sip:1001@phone.example;transport=udp"),
            ),
        )
        .expect("refresh");
    assert_eq!(
        got.len(),
        1,
        "the refresh must not add a second binding: {got:?}"
    );
    // Unregistering in yet another spelling removes it.
    let left = b
        .update(
            t0,
            reg(
                "1001",
                "c1",
                3,
                Some(0),
                one("sip:1001@PHONE.EXAMPLE;transport=Udp"),
            ),
        )
        .expect("unregister");
    assert!(left.is_empty(), "{left:?}");
}
