//! Property-based fuzzing of frame decoding and of the server's handling of
//! any sequence of frames. Bounded: `PROPTEST_CASES` (default 48 here) cases.
//! No input may panic the decoder, hang a connection, or take the server down.

mod common;

use std::sync::OnceLock;

use app::protocol::decode_client;
use common::*;
use proptest::prelude::*;

fn name() -> BoxedStrategy<String> {
    prop_oneof![
        "[a-z]{1,6}",
        Just("lobby".to_string()),
        Just("bob".to_string()),
        Just("carol".to_string()),
        ".{0,40}",
        "[A-Za-z0-9_-]{30,40}",
    ]
    .boxed()
}

fn conv() -> BoxedStrategy<Conv> {
    prop_oneof![
        name().prop_map(Conv::Room),
        name().prop_map(Conv::Dm),
        name().prop_map(Conv::Guest),
    ]
    .boxed()
}

fn frame() -> BoxedStrategy<ClientFrame> {
    prop_oneof![
        (
            any::<u32>(),
            prop::collection::vec((conv(), any::<i64>()), 0..4)
        )
            .prop_map(|(version, c)| {
                ClientFrame::Hello {
                    version,
                    cursors: c
                        .into_iter()
                        .map(|(conv, seq)| Cursor { conv, seq })
                        .collect(),
                }
            }),
        (".{0,70}", conv(), ".{0,200}", any::<Option<i64>>()).prop_map(
            |(client_id, conv, body, reply_to)| ClientFrame::Send {
                client_id,
                conv,
                body,
                reply_to,
            }
        ),
        (".{0,70}", conv(), any::<i64>(), ".{0,200}").prop_map(|(client_id, conv, seq, body)| {
            ClientFrame::Edit {
                client_id,
                conv,
                seq,
                body,
            }
        }),
        (".{0,70}", conv(), any::<i64>()).prop_map(|(client_id, conv, seq)| {
            ClientFrame::Delete {
                client_id,
                conv,
                seq,
            }
        }),
        (".{0,70}", conv(), any::<i64>(), ".{0,12}", any::<bool>()).prop_map(
            |(client_id, conv, seq, emoji, on)| if on {
                ClientFrame::React {
                    client_id,
                    conv,
                    seq,
                    emoji,
                }
            } else {
                ClientFrame::Unreact {
                    client_id,
                    conv,
                    seq,
                    emoji,
                }
            }
        ),
        (conv(), any::<i64>()).prop_map(|(conv, seq)| ClientFrame::EditHistory { conv, seq }),
        (conv(), any::<Option<i64>>(), any::<Option<u32>>()).prop_map(|(conv, before, limit)| {
            ClientFrame::History {
                conv,
                before,
                limit,
            }
        }),
        name().prop_map(ClientFrame::create_room),
        name().prop_map(|room| ClientFrame::JoinRoom { room }),
        name().prop_map(|room| ClientFrame::LeaveRoom { room }),
        Just(ClientFrame::ListRooms {}),
        (conv(), any::<i64>()).prop_map(|(conv, seq)| ClientFrame::Read { conv, seq }),
        conv().prop_map(|conv| ClientFrame::Typing { conv }),
        any::<u64>().prop_map(|nonce| ClientFrame::Ping { nonce }),
    ]
    .boxed()
}

/// A text frame: a valid frame, a mangled one, or noise.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        frame().prop_map(|f| encode(&f)),
        (frame(), any::<prop::sample::Index>(), ".{0,3}").prop_map(|(f, at, junk)| {
            let mut s = encode(&f);
            let i = at.index(s.len() + 1);
            let i = (0..=i).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
            s.insert_str(i, &junk);
            s
        }),
        ".{0,100}",
        r#"\{"type":"[a-z_]{0,12}"(,"[a-z_]{1,9}":(1|"x"|null|\[\]|\{\}))*\}"#,
    ]
    .boxed()
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(48),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn decoding_never_panics(input in text()) {
        let _ = decode_client(&input);
    }

    #[test]
    fn valid_frames_decode_to_themselves(f in frame()) {
        prop_assert_eq!(decode_client(&encode(&f)), Ok(f));
    }
}

/// One server and runtime for every case (starting one per case is slow).
fn shared() -> &'static (tokio::runtime::Runtime, TestServer, Session) {
    static SHARED: OnceLock<(tokio::runtime::Runtime, TestServer, Session)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (server, session) = runtime.block_on(async {
            let server = TestServer::start().await;
            server.sign_in("bob", "pw violet kettle 4821").await;
            let session = server.sign_in("fuzzer", "pw violet kettle 4821").await;
            (server, session)
        });
        (runtime, server, session)
    })
}

/// Any sequence of text frames leaves the connection answering pings and
/// the server healthy. Runs on a thread with a roomy stack: debug builds of
/// the server's futures are deep.
#[test]
fn any_frame_sequence_keeps_the_connection_and_server_alive() {
    let worker = std::thread::Builder::new()
        .stack_size(64 * 1024 * 1024)
        .spawn(move || {
            let strategy = (prop::collection::vec(text(), 1..16), any::<bool>());
            let mut runner = proptest::test_runner::TestRunner::new(config());
            runner.run(&strategy, |(texts, greet_first)| {
                check_sequence(&texts, greet_first)
            })
        })
        .expect("fuzz thread starts");
    match worker.join() {
        Ok(Ok(())) => {}
        Ok(Err(failure)) => panic!("{failure}"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn check_sequence(texts: &[String], greet_first: bool) -> Result<(), TestCaseError> {
    let (runtime, server, session) = shared();
    runtime.block_on(async {
        let mut client = server.connect(session).await;
        if greet_first {
            client.hello(vec![]).await;
        }
        for text in texts {
            client.send_text(text).await;
        }
        if !greet_first {
            // Whatever came before, a hello must still work (or say why not).
            client
                .send(&ClientFrame::Hello {
                    version: PROTOCOL_VERSION,
                    cursors: vec![],
                })
                .await;
        }
        // The connection still answers: the pong arrives after every answer
        // to what was sent.
        let nonce = 0xF022;
        client.send(&ClientFrame::Ping { nonce }).await;
        loop {
            match client.recv_event().await {
                Event::Frame(ServerFrame::Pong { nonce: n }) if n == nonce => break,
                Event::Frame(_) => {}
                Event::Closed(close) => {
                    // Only a bad hello version may close the connection.
                    prop_assert_eq!(close.map(|c| c.0), Some(4000));
                    break;
                }
            }
        }
        prop_assert_eq!(server.get("/healthz").await.status(), 200);
        client.close().await;
        Ok(())
    })
}
