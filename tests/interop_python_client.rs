//! Interoperability with the reference Python implementation (`zeroeventhub`
//! on PyPI): its client (`consume.py`) against our producer, and against
//! both producers side by side; and the harness's JSON comparison itself.
//!
//! The Python side lives in `tests/python/` (`producer.py` runs the
//! reference FastAPI handler under uvicorn, `consume.py` drives the
//! reference client). Python is found through `ZEH_PYTHON` (which must then
//! work: CI sets it), or else `target/py-venv/bin/python`; without either,
//! every test here says it is skipped and passes. `ZEH_SKIP_PYTHON=1`
//! forces the skip. `bash .ci/run` (or `python3 -m venv target/py-venv &&
//! target/py-venv/bin/pip install -r tests/python/requirements.txt`)
//! prepares the interpreter. The harness is in `support/python.rs`.

mod support;

use serde_json::Value;
use support::python::{
    ConsumeCase, PythonProducer, RustProducer,
    fixture::{BIG_INTEGER, Fixture, assert_json_lines_eq, json_eq},
    python_or_skip, run_consume,
};

// ---------------------------------------------------------------------------
// The reference (Python) client reading our producer.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn python_client_reads_the_rust_producer() {
    let Some(python) = python_or_skip("python_client_reads_the_rust_producer") else {
        return;
    };
    let fixture = Fixture::load();
    let producer = RustProducer::start(&fixture).await;

    for case in ConsumeCase::all() {
        let output = run_consume(&python, producer.url(), &case).await;
        let received = output.expect_success();
        assert_json_lines_eq(&received, &case.expected(&fixture), &case.to_string());
    }

    // Our producer copies data byte for byte; the reference client reads
    // the big integer as a Python int and prints it back exactly.
    let output = run_consume(&python, producer.url(), &ConsumeCase::default()).await;
    assert!(
        output.stdout.contains(&format!("\"data\":{BIG_INTEGER}}}")),
        "{BIG_INTEGER} not printed exactly:\n{}",
        output.stdout
    );
}

#[tokio::test]
async fn python_client_sees_the_same_lines_from_both_producers() {
    let Some(python) = python_or_skip("python_client_sees_the_same_lines_from_both_producers")
    else {
        return;
    };
    let fixture = Fixture::load();
    let ours = RustProducer::start(&fixture).await;
    let theirs = PythonProducer::start(&python).await;

    for case in ConsumeCase::all() {
        let from_ours = run_consume(&python, ours.url(), &case)
            .await
            .expect_success();
        let from_theirs = run_consume(&python, theirs.url(), &case)
            .await
            .expect_success();
        assert!(!from_theirs.is_empty(), "{case}: no output at all");
        let context = format!("{case}: Rust producer vs Python producer");
        assert_json_lines_eq(&from_ours, &from_theirs, &context);
    }
}

#[tokio::test]
async fn python_client_fails_on_a_bad_cursor_like_with_the_python_producer() {
    let Some(python) =
        python_or_skip("python_client_fails_on_a_bad_cursor_like_with_the_python_producer")
    else {
        return;
    };
    let fixture = Fixture::load();
    let ours = RustProducer::start(&fixture).await;
    let theirs = PythonProducer::start(&python).await;

    for bad in ["99", "x", "-1"] {
        let case = ConsumeCase {
            cursors: vec![(0, "_first".to_owned()), (2, bad.to_owned())],
            ..ConsumeCase::default()
        };
        for (producer, url) in [("Rust", ours.url()), ("Python", theirs.url())] {
            let output = run_consume(&python, url, &case).await;
            assert_eq!(
                output.code,
                Some(1),
                "{case} against the {producer} producer: exit status; stdout:\n{}\nstderr:\n{}",
                output.stdout,
                output.stderr
            );
            assert!(
                output.stderr.contains("HTTP 400") && output.stderr.contains("cursor2"),
                "{case} against the {producer} producer: stderr {:?}",
                output.stderr
            );
            assert!(
                output.stdout.trim().is_empty(),
                "{case} against the {producer} producer: printed {:?}",
                output.stdout
            );
        }
    }
}

/// The harness itself, without Python: the comparison must tell an
/// integer from the float nearest to it.
#[test]
fn json_comparison_is_exact_for_integers() {
    let parse = |text: &str| -> Value { serde_json::from_str(text).unwrap() };
    assert!(json_eq(&parse(BIG_INTEGER), &parse(BIG_INTEGER)));
    assert!(!json_eq(&parse(BIG_INTEGER), &parse("9007199254740992.0")));
    assert!(!json_eq(&parse(BIG_INTEGER), &parse("9007199254740992")));
    assert!(!json_eq(&parse("1"), &parse("1.0")));
    assert!(json_eq(&parse("1.0e10"), &parse("10000000000.0")));
    assert!(json_eq(&parse("-2.5E-3"), &parse("-0.0025")));
    assert!(json_eq(
        &parse(r#"{"a":[1,{"b":"\u00e9"}]}"#),
        &parse(r#"{"a":[1,{"b":"é"}]}"#)
    ));
    assert!(!json_eq(&parse(r#"{"a":1}"#), &parse(r#"{"a":1,"b":2}"#)));
    assert!(!json_eq(&parse("[1,2]"), &parse("[2,1]")));
}
