//! Full-text search and the history around a result, on SQLite and (with
//! `PARLEY_TEST_DATABASE=postgres`) PostgreSQL.
//!
//! A connection may make five searches at once (then one a second): a test
//! that searches more goes through a [`Searcher`], which opens a fresh
//! connection every five searches instead of waiting. Databases from
//! before the search index are built by applying the migrations before it
//! (0001 to 0005) and writing rows as that release did.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use app::protocol::{RoomAction, SearchHit, SearchOrder, MAX_SEARCH_PAGE, WINDOW_SIDE};
use common::db::{on_postgres, TestDb};
use common::*;
use sqlx::Connection;

/// Everyone's password here (long enough for the password policy).
const PASSWORD: &str = "password-1 violet kettle 4821";
/// Searches a connection may make in a row before it is rate limited.
const SEARCH_BURST: u32 = 5;

fn search(query: &str) -> ClientFrame {
    ClientFrame::Search {
        query: query.into(),
        order: SearchOrder::Newest,
        cursor: None,
        limit: None,
        tz: 0,
    }
}

fn search_page(
    query: &str,
    order: SearchOrder,
    cursor: Option<i64>,
    limit: Option<u32>,
) -> ClientFrame {
    ClientFrame::Search {
        query: query.into(),
        order,
        cursor,
        limit,
        tz: 0,
    }
}

/// A search by someone whose clock is `tz` minutes east of UTC.
fn search_in_zone(query: &str, tz: i32) -> ClientFrame {
    ClientFrame::Search {
        query: query.into(),
        order: SearchOrder::Newest,
        cursor: None,
        limit: None,
        tz,
    }
}

/// Send a search and wait for its results: (hits, next cursor). An error
/// frame instead fails the test.
async fn results(client: &mut Client, frame: ClientFrame) -> (Vec<SearchHit>, Option<i64>) {
    client.send(&frame).await;
    match client
        .recv_until(|f| {
            matches!(
                f,
                ServerFrame::SearchResults { .. } | ServerFrame::Error { .. }
            )
        })
        .await
    {
        ServerFrame::SearchResults { hits, cursor, .. } => (hits, cursor),
        other => panic!("{}: {frame:?} was answered with {other:?}", client.user),
    }
}

fn marked(hit: &SearchHit) -> Vec<&str> {
    hit.marks
        .iter()
        .map(|&(s, e)| &hit.excerpt[s as usize..e as usize])
        .collect()
}

fn ids(hits: &[SearchHit]) -> Vec<i64> {
    hits.iter().map(|h| h.id).collect()
}

/// Searches by one user, on connections of their own: a fresh one every
/// [`SEARCH_BURST`] searches, so that none is rate limited.
struct Searcher<'a> {
    server: &'a TestServer,
    session: Session,
    client: Option<Client>,
    used: u32,
}

impl<'a> Searcher<'a> {
    fn new(server: &'a TestServer, session: &Session) -> Self {
        Searcher {
            server,
            session: session.clone(),
            client: None,
            used: 0,
        }
    }

    /// One page of results: (hits, next cursor).
    async fn page(&mut self, frame: ClientFrame) -> (Vec<SearchHit>, Option<i64>) {
        if self.client.is_none() || self.used == SEARCH_BURST {
            if let Some(old) = self.client.take() {
                old.close().await;
            }
            let (client, _) = self.server.join(&self.session).await;
            self.client = Some(client);
            self.used = 0;
        }
        self.used += 1;
        let client = self.client.as_mut().expect("connected");
        results(client, frame).await
    }

    /// The first page of a search, newest first, in UTC.
    async fn hits(&mut self, query: &str) -> Vec<SearchHit> {
        self.page(search(query)).await.0
    }

    /// Does a search by someone `tz` minutes east of UTC find anything?
    async fn finds(&mut self, query: &str, tz: i32) -> bool {
        !self.page(search_in_zone(query, tz)).await.0.is_empty()
    }

    /// The ids of the first page of a search, newest first.
    async fn ids(&mut self, query: &str) -> Vec<i64> {
        ids(&self.hits(query).await)
    }

    /// Every page of a search (`limit` a page), with the cursor each page
    /// gave.
    async fn all_pages(
        &mut self,
        query: &str,
        order: SearchOrder,
        limit: u32,
    ) -> Vec<(Vec<SearchHit>, Option<i64>)> {
        let mut pages = Vec::new();
        let mut cursor = None;
        loop {
            let (hits, next) = self
                .page(search_page(query, order, cursor, Some(limit)))
                .await;
            pages.push((hits, next));
            match next {
                Some(next) => cursor = Some(next),
                None => return pages,
            }
            assert!(pages.len() < 100, "paging does not end: {pages:?}");
        }
    }
}

/// A client id never used before in this test binary.
fn fresh_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("t-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Skip frames until the ack of `client_id`; an error about it fails the
/// test.
async fn await_ack(client: &mut Client, client_id: &str) -> Acked {
    loop {
        match client.recv().await {
            ServerFrame::Ack {
                client_id: acked,
                id,
                conv,
                seq,
                ts,
            } if acked == client_id => {
                return Acked {
                    client_id: acked,
                    id,
                    conv,
                    seq,
                    ts,
                }
            }
            ServerFrame::Error {
                code,
                message,
                client_id: Some(refused),
                ..
            } if refused == client_id => {
                panic!("{}: {client_id} refused: {code:?} {message}", client.user)
            }
            _ => {}
        }
    }
}

/// Send a message and wait for its ack, whatever else arrives meanwhile
/// (others' messages, system lines).
async fn say(client: &mut Client, conv: Conv, body: &str) -> Acked {
    let client_id = fresh_id();
    client.send_msg(&client_id, conv, body).await;
    await_ack(client, &client_id).await
}

fn edit(conv: Conv, seq: i64, body: &str) -> ClientFrame {
    ClientFrame::Edit {
        client_id: fresh_id(),
        conv,
        seq,
        body: body.into(),
    }
}

fn delete(conv: Conv, seq: i64) -> ClientFrame {
    ClientFrame::Delete {
        client_id: fresh_id(),
        conv,
        seq,
    }
}

/// Send an edit or delete and wait for its ack.
async fn change(client: &mut Client, frame: ClientFrame) -> Acked {
    let client_id = client_id_of(&frame).expect("a client id").to_string();
    client.send(&frame).await;
    await_ack(client, &client_id).await
}

fn window(
    conv: Conv,
    around: Option<i64>,
    before: Option<i64>,
    after: Option<i64>,
    limit: Option<u32>,
) -> ClientFrame {
    ClientFrame::Window {
        conv,
        around,
        before,
        after,
        limit,
    }
}

/// A window's answer: (messages, has_older, has_newer). An error frame
/// instead fails the test.
async fn window_of(client: &mut Client, frame: ClientFrame) -> (Vec<Message>, bool, bool) {
    client.send(&frame).await;
    match client
        .recv_until(|f| matches!(f, ServerFrame::Window { .. } | ServerFrame::Error { .. }))
        .await
    {
        ServerFrame::Window {
            messages,
            has_older,
            has_newer,
            ..
        } => (messages, has_older, has_newer),
        other => panic!("{}: {frame:?} was answered with {other:?}", client.user),
    }
}

/// The error a window is refused with; a window answer fails the test.
async fn window_refused(client: &mut Client, frame: ClientFrame) -> ErrorCode {
    client.send(&frame).await;
    match client
        .recv_until(|f| matches!(f, ServerFrame::Window { .. } | ServerFrame::Error { .. }))
        .await
    {
        ServerFrame::Error { code, .. } => code,
        other => panic!("{}: {frame:?} was answered with {other:?}", client.user),
    }
}

fn seqs(messages: &[Message]) -> Vec<i64> {
    messages.iter().map(|m| m.seq).collect()
}

/// The calendar day of `ms` (since the epoch) at `tz_minutes` east of UTC.
fn day_of(ms: i64, tz_minutes: i32) -> time::Date {
    let local = ms + i64::from(tz_minutes) * 60_000;
    time::OffsetDateTime::from_unix_timestamp(local.div_euclid(1000))
        .expect("a timestamp of today")
        .date()
}

/// `YYYY-MM-DD`.
fn ymd(day: time::Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// `消息` is found inside `离线消息盒子`, and `WebSocket长连接` inside mixed
/// text, with the matching parts marked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chinese_is_found_inside_longer_runs() {
    let server = TestServer::start().await;
    let (_, mut ming, _) = server.user("ming").await;
    let first = ming
        .post("m-1", lobby(), "服务器的离线消息盒子很好用")
        .await;
    ming.post("m-2", lobby(), "我们用WebSocket长连接推送").await;
    ming.post("m-3", lobby(), "nothing to see").await;

    let (hits, next) = results(&mut ming, search("消息")).await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].seq, first.seq);
    assert_eq!(marked(&hits[0]), ["消息"]);
    assert_eq!(next, None);

    let (hits, _) = results(&mut ming, search("websocket长连接")).await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(marked(&hits[0]), ["WebSocket长连接"]);
}

/// `from:user` and `from:@user` keep one sender's messages; `in:#room`,
/// `in:room` and `in:@peer` keep one conversation, named as the searcher
/// sees it (a direct conversation by the other person). A filter alone is
/// a search too, and `from:` a name nobody has finds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_and_in_filters_narrow_to_a_sender_or_a_conversation() {
    let server = TestServer::start().await;
    let (ming_s, mut ming, _) = server.user("ming").await;
    let (bob_s, mut bob, _) = server.user("bob").await;
    let (_, mut carol, _) = server.user("carol").await;
    ming.create("dev", "", false).await;
    bob.join_room("dev").await;

    let lobby_bob = say(&mut bob, lobby(), "deploy the websocket server").await;
    let lobby_carol = say(&mut carol, lobby(), "what we deploy on Friday").await;
    let dev_ming = say(&mut ming, room("dev"), "deploy pipeline is broken").await;
    let dev_bob = say(&mut bob, room("dev"), "the server deploy is done").await;
    let dm_ming = say(&mut ming, dm("bob"), "deploy the secret plan tonight").await;
    let chat = say(&mut carol, lobby(), "lunch anyone?").await;

    let mut as_bob = Searcher::new(&server, &bob_s);
    let all = as_bob.hits("deploy").await;
    assert_eq!(
        ids(&all),
        [
            dm_ming.id,
            dev_bob.id,
            dev_ming.id,
            lobby_carol.id,
            lobby_bob.id
        ],
        "newest first: {all:?}"
    );
    // Each hit says where it is as bob sees it, who sent it, and its seq.
    let place: Vec<(Conv, &str, i64)> = all
        .iter()
        .map(|h| (h.conv.clone(), h.sender.as_str(), h.seq))
        .collect();
    assert_eq!(
        place,
        [
            (dm("ming"), "ming", dm_ming.seq),
            (room("dev"), "bob", dev_bob.seq),
            (room("dev"), "ming", dev_ming.seq),
            (lobby(), "carol", lobby_carol.seq),
            (lobby(), "bob", lobby_bob.seq),
        ]
    );
    assert!(all.iter().all(|h| marked(h) == ["deploy"]), "{all:?}");

    // from:
    let by_ming = [dm_ming.id, dev_ming.id];
    assert_eq!(as_bob.ids("deploy from:ming").await, by_ming);
    assert_eq!(as_bob.ids("from:@MING deploy").await, by_ming);
    assert_eq!(as_bob.ids("from:ming").await, by_ming, "a filter alone");
    assert_eq!(
        as_bob.ids("from:carol").await,
        [chat.id, lobby_carol.id],
        "everything carol wrote where bob is"
    );
    assert_eq!(as_bob.ids("deploy from:nobody").await, Vec::<i64>::new());

    // in: a room, by its name with or without `#`, in any case.
    let in_dev = [dev_bob.id, dev_ming.id];
    assert_eq!(as_bob.ids("deploy in:#dev").await, in_dev);
    assert_eq!(as_bob.ids("in:dev deploy").await, in_dev);
    assert_eq!(as_bob.ids("deploy in:#DEV").await, in_dev);
    assert_eq!(
        as_bob.ids("deploy in:lobby").await,
        [lobby_carol.id, lobby_bob.id]
    );
    assert_eq!(as_bob.ids("in:#dev from:ming").await, [dev_ming.id]);

    // in:@peer: the direct conversation with them, from either side.
    let direct = as_bob.hits("deploy in:@ming").await;
    assert_eq!(ids(&direct), [dm_ming.id]);
    assert_eq!(direct[0].conv, dm("ming"));
    assert_eq!(as_bob.ids("in:@ming").await, [dm_ming.id]);
    assert_eq!(as_bob.ids("deploy in:@carol").await, Vec::<i64>::new());
    let mut as_ming = Searcher::new(&server, &ming_s);
    let direct = as_ming.hits("deploy in:@bob").await;
    assert_eq!(ids(&direct), [dm_ming.id]);
    assert_eq!(direct[0].conv, dm("bob"));
}

/// A quoted phrase needs its words next to each other and in order, where
/// the same words unquoted are found in any order; `word*` finds the words
/// that start so (and a word without `*` only itself); case and accents
/// are folded, and the marks cover the text as written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phrases_prefixes_case_and_accents() {
    let server = TestServer::start().await;
    let (ming_s, mut ming, _) = server.user("ming").await;
    let in_order = say(&mut ming, lobby(), "Long polling works behind proxies").await;
    let reversed = say(&mut ming, lobby(), "polling for long hours").await;
    let apart = say(&mut ming, lobby(), "a long day of polling").await;
    let socket = say(&mut ming, lobby(), "we moved to WebSockets").await;
    let serve = say(&mut ming, lobby(), "the server serves").await;
    let cafe = say(&mut ming, lobby(), "Meet at the Café Noir?").await;
    let cafe_decomposed = say(&mut ming, lobby(), "NAI\u{308}VE cafe\u{301} owners").await;

    let mut s = Searcher::new(&server, &ming_s);
    let phrase = s.hits("\"long polling\"").await;
    assert_eq!(ids(&phrase), [in_order.id]);
    assert_eq!(marked(&phrase[0]), ["Long polling"]);
    assert_eq!(s.ids("\"polling long\"").await, Vec::<i64>::new());
    assert_eq!(
        s.ids("long polling").await,
        [apart.id, reversed.id, in_order.id],
        "words: any order, anywhere"
    );
    assert_eq!(s.ids("\"polling for long\"").await, [reversed.id]);
    assert_eq!(s.ids("\"long polling\" proxies").await, [in_order.id]);
    assert_eq!(s.ids("\"long polling\" hours").await, Vec::<i64>::new());

    // Prefixes.
    let prefixed = s.hits("websock*").await;
    assert_eq!(ids(&prefixed), [socket.id]);
    assert_eq!(marked(&prefixed[0]), ["WebSockets"]);
    assert_eq!(s.ids("websock").await, Vec::<i64>::new());
    assert_eq!(s.ids("serv*").await, [serve.id]);
    assert_eq!(s.ids("\"long poll*\"").await, [in_order.id]);
    assert_eq!(s.ids("poll*").await, [apart.id, reversed.id, in_order.id]);

    // Case and accents.
    let folded = s.hits("cafe").await;
    assert_eq!(ids(&folded), [cafe_decomposed.id, cafe.id]);
    assert_eq!(marked(&folded[1]), ["Café"]);
    assert_eq!(marked(&folded[0]), ["cafe\u{301}"]);
    assert_eq!(s.ids("CAFÉ noir").await, [cafe.id]);
    assert_eq!(s.ids("naïve").await, [cafe_decomposed.id]);
    assert_eq!(s.ids("LONG POLLING PROXIES").await, [in_order.id]);
}

/// `before:` and `after:` are calendar days of the searcher, whose zone
/// the search names: `after:D` starts at the end of D and `before:D` stops
/// at its start, both at the searcher's midnight, not UTC's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dates_are_days_of_the_searchers_time_zone() {
    let server = TestServer::start().await;
    let (ming_s, mut ming, _) = server.user("ming").await;
    let sent = say(&mut ming, lobby(), "sunrise meeting notes").await;

    // A zone where the message was sent on another day than in UTC: at
    // 23:00 the day before (or, late in the UTC day, 01:00 the day after).
    let utc_minute = i32::try_from(sent.ts.rem_euclid(86_400_000) / 60_000).unwrap();
    let tz = if utc_minute <= 22 * 60 {
        -(utc_minute + 60)
    } else {
        24 * 60 - utc_minute + 60
    };
    let utc_day = day_of(sent.ts, 0);
    let local_day = day_of(sent.ts, tz);
    assert_ne!(utc_day, local_day, "the zone {tz} moves the day");
    let yesterday = local_day.previous_day().unwrap();
    let tomorrow = local_day.next_day().unwrap();

    let mut s = Searcher::new(&server, &ming_s);
    // The searcher's day: found after yesterday and before tomorrow, not
    // before today nor after today.
    assert!(
        s.finds(&format!("sunrise after:{}", ymd(yesterday)), tz)
            .await
    );
    assert!(
        s.finds(&format!("sunrise before:{}", ymd(tomorrow)), tz)
            .await
    );
    assert!(
        !s.finds(&format!("sunrise before:{}", ymd(local_day)), tz)
            .await
    );
    assert!(
        !s.finds(&format!("sunrise after:{}", ymd(local_day)), tz)
            .await
    );
    let that_day = |day: time::Date| {
        format!(
            "sunrise after:{} before:{}",
            ymd(day.previous_day().unwrap()),
            ymd(day.next_day().unwrap())
        )
    };
    assert!(s.finds(&that_day(local_day), tz).await);
    // The same day in UTC is another one: the zone decides.
    assert!(!s.finds(&that_day(local_day), 0).await);
    assert!(s.finds(&that_day(utc_day), 0).await);
    assert!(!s.finds(&that_day(utc_day), tz).await);
    // Dates also narrow a search by sender alone.
    assert!(
        s.finds(&format!("from:ming after:{}", ymd(yesterday)), tz)
            .await
    );
    assert!(
        !s.finds(&format!("from:ming before:{}", ymd(local_day)), tz)
            .await
    );
}

/// 55 matching messages come newest first in pages of 20, 20 and 15 whose
/// cursors chain and end with none, without a repeat; by relevance, the
/// pages cover the same 55 once each, the better matches (the word three
/// times) first. A limit above MAX_SEARCH_PAGE gives that many, a limit
/// of 0 one, and no limit 20.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_come_in_pages_newest_first_or_by_relevance() {
    let server = TestServer::start().await;
    let (ming_s, mut ming, _) = server.user("ming").await;
    let mut strong = Vec::new();
    let mut weak = Vec::new();
    for i in 0..55 {
        // The same length, the word three times or once.
        if i % 4 == 0 {
            let a = say(&mut ming, lobby(), &format!("needle needle needle {i}")).await;
            strong.push(a.id);
        } else {
            let a = say(&mut ming, lobby(), &format!("needle hay straw {i}")).await;
            weak.push(a.id);
        }
        if i % 10 == 0 {
            say(&mut ming, lobby(), &format!("only hay here {i}")).await;
        }
    }
    let mut matching: Vec<i64> = strong.iter().chain(&weak).copied().collect();
    matching.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(matching.len(), 55);

    let mut s = Searcher::new(&server, &ming_s);
    let pages = s.all_pages("needle", SearchOrder::Newest, 20).await;
    let sizes: Vec<usize> = pages.iter().map(|(hits, _)| hits.len()).collect();
    assert_eq!(sizes, [20, 20, 15]);
    let cursors: Vec<Option<i64>> = pages.iter().map(|(_, c)| *c).collect();
    assert!(cursors[0].is_some() && cursors[1].is_some(), "{cursors:?}");
    assert_eq!(cursors[2], None);
    let newest: Vec<i64> = pages.iter().flat_map(|(hits, _)| ids(hits)).collect();
    assert!(
        newest.windows(2).all(|w| w[0] > w[1]),
        "strictly newest first across pages: {newest:?}"
    );
    assert_eq!(newest, matching, "every match once");

    let pages = s.all_pages("needle", SearchOrder::Relevance, 20).await;
    let sizes: Vec<usize> = pages.iter().map(|(hits, _)| hits.len()).collect();
    assert_eq!(sizes, [20, 20, 15]);
    assert_eq!(pages[2].1, None);
    let ranked: Vec<i64> = pages.iter().flat_map(|(hits, _)| ids(hits)).collect();
    let distinct: HashSet<i64> = ranked.iter().copied().collect();
    assert_eq!(distinct.len(), 55, "no repeats: {ranked:?}");
    assert_eq!(
        distinct,
        matching.iter().copied().collect::<HashSet<_>>(),
        "the same results"
    );
    let mut best_first: Vec<i64> = strong.iter().rev().copied().collect();
    best_first.extend(weak.iter().rev());
    assert_eq!(
        ranked, best_first,
        "three times the word first, ties newest first"
    );

    // Limits.
    let (hits, next) = s
        .page(search_page("needle", SearchOrder::Newest, None, Some(1000)))
        .await;
    assert_eq!(hits.len(), MAX_SEARCH_PAGE as usize, "clamped");
    assert_eq!(ids(&hits), matching[..MAX_SEARCH_PAGE as usize]);
    let (rest, last) = s
        .page(search_page("needle", SearchOrder::Newest, next, Some(1000)))
        .await;
    assert_eq!(ids(&rest), matching[MAX_SEARCH_PAGE as usize..]);
    assert_eq!(last, None);
    let (one, next) = s
        .page(search_page("needle", SearchOrder::Relevance, None, Some(0)))
        .await;
    assert_eq!(ids(&one), [best_first[0]]);
    assert_eq!(next, Some(1));
    let (default, next) = s.page(search("needle")).await;
    assert_eq!(ids(&default), matching[..20]);
    assert!(next.is_some());
}

/// A search looks only into the conversations the searcher is in now: not
/// a private room of others, not a direct conversation between two other
/// people, not a public room never joined, and not a room they left or
/// were kicked from (found while they were in it, and again once back).
/// Naming such a room with `in:` finds nothing, exactly as a room that
/// does not exist: no error tells them it is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_reaches_only_conversations_the_searcher_is_in_now() {
    let server = TestServer::start().await;
    let (alice_s, mut alice, _) = server.user("alice").await;
    let (bob_s, mut bob, _) = server.user("bob").await;
    let (carol_s, mut carol, _) = server.user("carol").await;
    carol.create("vault", "", true).await;
    bob.create("hall", "", false).await;
    bob.create("open", "", false).await;
    alice.join_room("hall").await;

    let vault = say(&mut carol, room("vault"), "zebra plans in the vault").await;
    let whisper = say(&mut bob, dm("carol"), "zebra between bob and carol").await;
    let open = say(&mut bob, room("open"), "zebra in the open room").await;
    let hall = say(&mut bob, room("hall"), "zebra in the hall").await;
    let public = say(&mut carol, lobby(), "zebra for everyone").await;

    // Each message is in the index: its members find it.
    let mut as_bob = Searcher::new(&server, &bob_s);
    assert_eq!(
        as_bob.ids("zebra").await,
        [public.id, hall.id, open.id, whisper.id]
    );
    let mut as_carol = Searcher::new(&server, &carol_s);
    assert_eq!(
        as_carol.ids("zebra").await,
        [public.id, whisper.id, vault.id]
    );

    let mut as_alice = Searcher::new(&server, &alice_s);
    assert_eq!(as_alice.ids("zebra").await, [public.id, hall.id]);
    let none = Vec::<i64>::new();
    for query in [
        "zebra in:#vault",
        "zebra in:#open",
        "zebra in:@carol",
        "zebra in:@bob",
        "vault",
        "from:carol in:vault",
        "between",
    ] {
        assert_eq!(as_alice.ids(query).await, none, "{query}");
    }
    assert_eq!(as_alice.ids("from:bob").await, [hall.id]);

    // Left: not found any more, even by naming the room.
    alice
        .send(&ClientFrame::LeaveRoom {
            room: "hall".into(),
        })
        .await;
    alice
        .recv_until(|f| matches!(f, ServerFrame::Left { room, .. } if room == "hall"))
        .await;
    assert_eq!(as_alice.ids("zebra").await, [public.id]);
    assert_eq!(as_alice.ids("from:bob").await, none);
    let hidden = as_alice.page(search("zebra in:#hall")).await;
    let missing = as_alice.page(search("zebra in:#nosuchroom")).await;
    let private = as_alice.page(search("zebra in:#vault")).await;
    assert_eq!(hidden, (vec![], None));
    assert_eq!(hidden, missing, "a room left looks like no room");
    assert_eq!(private, missing, "a private room looks like no room");

    // Back in: found again; kicked: gone again.
    alice.join_room("hall").await;
    assert_eq!(as_alice.ids("zebra").await, [public.id, hall.id]);
    bob.must(
        "kick-alice",
        "hall",
        RoomAction::Kick {
            user: "alice".into(),
        },
    )
    .await;
    alice
        .recv_until(|f| matches!(f, ServerFrame::Left { room, .. } if room == "hall"))
        .await;
    assert_eq!(as_alice.ids("zebra").await, [public.id]);
}

/// An edited message is found by its new text and no longer by its old
/// one (also when the new text has no words at all); a deleted message is
/// never found, by words or by a filter alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_reindex_a_message_and_deletes_remove_it() {
    let server = TestServer::start().await;
    let (_, mut ming, _) = server.user("ming").await;
    let (bob_s, _bob, _) = server.user("bob").await;
    let report = say(&mut ming, lobby(), "the quarterly report is ready").await;
    let draft = say(&mut ming, lobby(), "another report draft").await;
    let index = say(&mut ming, lobby(), "report archive index").await;

    // Another member searches: the index is the conversation's.
    let mut s = Searcher::new(&server, &bob_s);
    assert_eq!(s.ids("report").await, [index.id, draft.id, report.id]);

    change(
        &mut ming,
        edit(lobby(), report.seq, "the annual summary is ready"),
    )
    .await;
    assert_eq!(s.ids("quarterly").await, Vec::<i64>::new());
    let annual = s.hits("annual").await;
    assert_eq!(ids(&annual), [report.id]);
    assert_eq!(annual[0].excerpt, "the annual summary is ready");
    assert_eq!(annual[0].seq, report.seq, "found under its own seq");
    assert_eq!(s.ids("report").await, [index.id, draft.id]);

    change(&mut ming, delete(lobby(), draft.seq)).await;
    assert_eq!(s.ids("report").await, [index.id]);
    assert_eq!(s.ids("draft").await, Vec::<i64>::new());
    assert_eq!(s.ids("from:ming").await, [index.id, report.id]);
    assert_eq!(s.ids("from:ming in:lobby").await, [index.id, report.id]);

    // A new text without words leaves nothing to find.
    change(&mut ming, edit(lobby(), index.seq, "🎉 🎉")).await;
    assert_eq!(s.ids("report").await, Vec::<i64>::new());
    assert_eq!(s.ids("archive").await, Vec::<i64>::new());

    // A second edit replaces the first.
    change(&mut ming, edit(lobby(), report.seq, "final numbers")).await;
    assert_eq!(s.ids("annual").await, Vec::<i64>::new());
    assert_eq!(s.ids("final numbers").await, [report.id]);
    // Deleting an edited message removes it too.
    change(&mut ming, delete(lobby(), report.seq)).await;
    assert_eq!(s.ids("final").await, Vec::<i64>::new());
    assert_eq!(s.ids("from:ming").await, [index.id]);
}

/// An empty query, one of punctuation only, one too long, a bad date, an
/// `in:` naming nothing and too many words are each refused with
/// `invalid_query`, and the connection goes on: a search and a ping after
/// it are answered. The longest query allowed is run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_are_refused_and_the_connection_goes_on() {
    let server = TestServer::start().await;
    let (ming_s, mut ming, _) = server.user("ming").await;
    let hello = say(&mut ming, lobby(), "hello search world").await;

    let thirteen_words = (0..13).map(|i| format!("w{i}")).collect::<Vec<_>>();
    let bad: Vec<(String, &str)> = vec![
        (String::new(), "type something"),
        ("   ".into(), "type something"),
        ("?! ...".into(), "type something"),
        ("a".repeat(257), "256"),
        ("hello before:2026-13-01".into(), "2026-13-01"),
        ("hello after:yesterday".into(), "yesterday"),
        ("hello in:#".into(), "in:#"),
        (thirteen_words.join(" "), "12"),
    ];
    for (query, says) in bad {
        let (mut client, _) = server.join(&ming_s).await;
        client.send(&search(&query)).await;
        let refused = client.expect_error(ErrorCode::InvalidQuery).await;
        assert!(
            refused.message.contains(says),
            "{query:?}: {}",
            refused.message
        );
        let (hits, _) = results(&mut client, search("hello")).await;
        assert_eq!(ids(&hits), [hello.id], "after {query:?}");
        client.assert_quiet().await;
        client.close().await;
    }

    // 256 characters are allowed (words are cut at 48 characters, so
    // this one finds nothing, but it runs).
    let longest = format!("hello {}", "x".repeat(250));
    assert_eq!(longest.chars().count(), 256);
    let (hits, next) = results(&mut ming, search(&longest)).await;
    assert_eq!((hits, next), (vec![], None));
    let twelve = thirteen_words[..12].join(" ");
    let (hits, _) = results(&mut ming, search(&twelve)).await;
    assert!(hits.is_empty());
    ming.assert_quiet().await;
}

/// Searches have a bucket of their own: five in a row are answered, those
/// right after are refused with `rate_limited`; the refusals do not count
/// as abuse (the server closes a connection after two frames over the
/// general limit here), and the connection keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_beyond_the_burst_are_rate_limited_and_the_connection_stays_open() {
    let server = TestServer::start_with(|c| c.rate_abuse_limit = 2).await;
    let (_, mut ming, _) = server.user("ming").await;
    let probe = say(&mut ming, lobby(), "ratelimit probe").await;

    const SENT: usize = 12;
    for _ in 0..SENT {
        ming.send(&search("probe")).await;
    }
    let mut answers = Vec::new();
    while answers.len() < SENT {
        match ming.recv().await {
            ServerFrame::SearchResults { hits, .. } => answers.push(Ok(ids(&hits))),
            ServerFrame::Error { code, .. } => answers.push(Err(code)),
            _ => {}
        }
    }
    for answer in &answers[..SEARCH_BURST as usize] {
        assert_eq!(answer, &Ok(vec![probe.id]), "{answers:?}");
    }
    let limited = answers
        .iter()
        .filter(|a| **a == Err(ErrorCode::RateLimited))
        .count();
    assert_eq!(
        answers[SEARCH_BURST as usize],
        Err(ErrorCode::RateLimited),
        "{answers:?}"
    );
    // One search a second comes back: allow for a slow machine.
    assert!(limited >= SENT - SEARCH_BURST as usize - 2, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Ok(_) | Err(ErrorCode::RateLimited))),
        "{answers:?}"
    );

    ming.assert_quiet().await;
    let after = say(&mut ming, lobby(), "still here").await;
    assert!(after.id > probe.id);
}

/// The window around a message: the message with WINDOW_SIDE (25) on each
/// side, and whether more lie beyond; pages just before and just after a
/// seq; the ends of the conversation; and the link from a search hit to
/// its place in the conversation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_shows_the_history_around_a_message() {
    let server = TestServer::start().await;
    let (_, mut ming, _) = server.user("ming").await;
    ming.create("story", "", false).await;
    let story = || room("story");
    let mut sent = Vec::new();
    for i in 1..=80 {
        sent.push(say(&mut ming, story(), &format!("line {i} of the story")).await);
    }
    let seq = |n: usize| sent[n - 1].seq; // of the nth message
    let side = WINDOW_SIDE as usize;
    assert_eq!(side, 25);
    let run = |from: usize, to: usize| (from..=to).map(seq).collect::<Vec<_>>();

    // Around the 40th: the 15th to the 65th, the 40th in the middle.
    let (messages, has_older, has_newer) =
        window_of(&mut ming, window(story(), Some(seq(40)), None, None, None)).await;
    assert_eq!(messages.len(), 2 * side + 1);
    assert_eq!(seqs(&messages), run(40 - side, 40 + side));
    assert_eq!(messages[side].id, sent[39].id);
    assert_eq!(messages[side].body, "line 40 of the story");
    assert!(messages.iter().all(|m| m.conv == story()));
    assert!(has_older && has_newer);

    // Older, from the window's first message: ten at a time.
    let (older, has_older, has_newer) = window_of(
        &mut ming,
        window(story(), None, Some(seq(15)), None, Some(10)),
    )
    .await;
    assert_eq!(seqs(&older), run(5, 14));
    assert!(has_older && has_newer);
    let (oldest, has_older, _) = window_of(
        &mut ming,
        window(story(), None, Some(seq(5)), None, Some(10)),
    )
    .await;
    // The first four messages, after the room's own lines (its creation).
    assert_eq!(seqs(&oldest).last(), Some(&seq(4)));
    assert_eq!(oldest.first().map(|m| m.seq), Some(1));
    let bodies: Vec<&str> = oldest
        .iter()
        .filter(|m| m.event.is_none())
        .map(|m| m.body.as_str())
        .collect();
    assert_eq!(
        bodies,
        (1..=4)
            .map(|i| format!("line {i} of the story"))
            .collect::<Vec<_>>()
    );
    assert!(!has_older, "nothing before the first line");

    // Newer, from the window's last message.
    let (newer, has_older, has_newer) = window_of(
        &mut ming,
        window(story(), None, None, Some(seq(65)), Some(10)),
    )
    .await;
    assert_eq!(seqs(&newer), run(66, 75));
    assert!(has_older && has_newer);
    let (newest, _, has_newer) = window_of(
        &mut ming,
        window(story(), None, None, Some(seq(75)), Some(10)),
    )
    .await;
    assert_eq!(seqs(&newest), run(76, 80));
    assert!(!has_newer, "nothing after the last line");

    // Near the start and at the end.
    let (start, has_older, has_newer) =
        window_of(&mut ming, window(story(), Some(seq(3)), None, None, None)).await;
    assert_eq!(start.first().map(|m| m.seq), Some(1));
    assert_eq!(start.last().map(|m| m.seq), Some(seq(3 + side)));
    assert!(!has_older && has_newer);
    let (end, has_older, has_newer) =
        window_of(&mut ming, window(story(), Some(seq(80)), None, None, None)).await;
    assert_eq!(seqs(&end), run(80 - side, 80));
    assert!(has_older && !has_newer);

    // From a search hit to its place.
    let (hits, _) = results(&mut ming, search("\"line 57\"")).await;
    assert_eq!(ids(&hits), [sent[56].id]);
    let (around, _, _) = window_of(
        &mut ming,
        window(hits[0].conv.clone(), Some(hits[0].seq), None, None, None),
    )
    .await;
    assert_eq!(around[side].id, hits[0].id);
    assert_eq!(around[side].body, "line 57 of the story");
}

/// A window is refused on a room one is not in (`not_member` for a public
/// room, `unknown_room` for a private one, as for a room that does not
/// exist) and unless it names exactly one of `around`, `before` and
/// `after` (`invalid_frame`); the connection goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_is_refused_outside_ones_conversations_or_when_ill_formed() {
    let server = TestServer::start().await;
    let (_, mut ming, _) = server.user("ming").await;
    let (_, mut bob, _) = server.user("bob").await;
    bob.create("public", "", false).await;
    bob.create("secret", "", true).await;
    bob.create("left", "", false).await;
    ming.join_room("left").await;
    say(&mut bob, room("public"), "a public line").await;
    say(&mut bob, room("secret"), "a secret line").await;
    say(&mut bob, room("left"), "a line from before").await;
    ming.send(&ClientFrame::LeaveRoom {
        room: "left".into(),
    })
    .await;
    ming.recv_until(|f| matches!(f, ServerFrame::Left { .. }))
        .await;

    let around_1 = |name: &str| window(room(name), Some(1), None, None, None);
    assert_eq!(
        window_refused(&mut ming, around_1("public")).await,
        ErrorCode::NotMember
    );
    assert_eq!(
        window_refused(&mut ming, around_1("left")).await,
        ErrorCode::NotMember
    );
    assert_eq!(
        window_refused(&mut ming, around_1("secret")).await,
        ErrorCode::UnknownRoom
    );
    assert_eq!(
        window_refused(&mut ming, around_1("nowhere")).await,
        ErrorCode::UnknownRoom
    );
    for frame in [
        window(lobby(), None, None, None, None),
        window(lobby(), Some(1), Some(2), None, None),
        window(lobby(), Some(1), None, Some(1), None),
        window(lobby(), None, Some(2), Some(1), Some(5)),
        window(lobby(), Some(1), Some(2), Some(1), None),
    ] {
        assert_eq!(
            window_refused(&mut ming, frame.clone()).await,
            ErrorCode::InvalidFrame,
            "{frame:?}"
        );
    }
    // Bob, in all three, gets them.
    for name in ["public", "secret", "left"] {
        let (messages, _, _) = window_of(&mut bob, around_1(name)).await;
        assert!(!messages.is_empty(), "{name}");
    }
    // And the connection goes on.
    ming.assert_quiet().await;
    let mine = say(&mut ming, lobby(), "still here").await;
    let (messages, _, _) =
        window_of(&mut ming, window(lobby(), Some(mine.seq), None, None, None)).await;
    assert_eq!(messages.last().map(|m| m.id), Some(mine.id));
}

// ---- messages stored before the index existed ---------------------------------

/// `?` placeholders as the backend wants them.
fn numbered(sql: &str) -> String {
    if !on_postgres() {
        return sql.to_string();
    }
    let mut n = 0;
    sql.chars()
        .map(|c| {
            if c == '?' {
                n += 1;
                format!("${n}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The rows of a database of the release before search, by id.
struct OldRows {
    lobby: i64,
    direct: i64,
    attic: i64,
    /// Live messages: alice's in the lobby (and `extra` more after it),
    /// bob's edited one, bob's in their direct conversation and in a
    /// room alice is not in.
    scrolls: i64,
    extra: Vec<i64>,
    edited: i64,
    whisper: i64,
    treasure: i64,
    /// Not messages one may find: a deleted message, and the rows of the
    /// edit and of the delete.
    deleted: i64,
    edit_row: i64,
    delete_row: i64,
}

impl OldRows {
    /// What the index should hold once it caught up, ascending.
    fn live(&self) -> Vec<i64> {
        let mut live = vec![self.scrolls, self.edited, self.whisper, self.treasure];
        live.extend(&self.extra);
        live.sort_unstable();
        live
    }
}

async fn old_user(conn: &mut sqlx::AnyConnection, name: &str, hash: &str) -> i64 {
    sqlx::query_scalar(&numbered(
        "INSERT INTO users (name, name_key, password_hash, created_at, display_name)
         VALUES (?, ?, ?, 1, ?) RETURNING id",
    ))
    .bind(name.to_string())
    .bind(name.to_string())
    .bind(hash.to_string())
    .bind(name.to_string())
    .fetch_one(conn)
    .await
    .expect("a user")
}

async fn old_conversation(
    conn: &mut sqlx::AnyConnection,
    key: &str,
    kind: &str,
    room: Option<&str>,
) -> i64 {
    sqlx::query_scalar(&numbered(
        "INSERT INTO conversations (conv_key, kind, room_name, title, created_at)
         VALUES (?, ?, ?, ?, 2) RETURNING id",
    ))
    .bind(key.to_string())
    .bind(kind.to_string())
    .bind(room.map(str::to_string))
    .bind(room.unwrap_or("").to_string())
    .fetch_one(conn)
    .await
    .expect("a conversation")
}

/// A row of `messages` as the schema before search has it.
struct OldMessage {
    conv: i64,
    seq: i64,
    sender: (i64, &'static str),
    body: String,
    kind: i64,
    target: Option<i64>,
    edited_at: Option<i64>,
    deleted_at: Option<i64>,
    rev: i64,
}

async fn old_message(conn: &mut sqlx::AnyConnection, m: OldMessage) -> i64 {
    sqlx::query_scalar(&numbered(
        "INSERT INTO messages (conv_id, seq, sender_id, sender_name, client_id, body,
                               created_at, kind, target, edited_at, deleted_at, rev)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    ))
    .bind(m.conv)
    .bind(m.seq)
    .bind(m.sender.0)
    .bind(m.sender.1.to_string())
    .bind(format!("old-{}-{}", m.conv, m.seq))
    .bind(m.body)
    .bind(1_000_000 + m.seq)
    .bind(m.kind)
    .bind(m.target)
    .bind(m.edited_at)
    .bind(m.deleted_at)
    .bind(m.rev)
    .fetch_one(conn)
    .await
    .expect("an old message")
}

/// A database of every migration before the search index (0001 to 0005),
/// with messages written as that release wrote them: alice and bob (whose
/// password is [`PASSWORD`]) in the lobby, a direct conversation between
/// them, and a room `attic` of bob's alone. `extra` more messages of
/// alice's follow in the lobby.
async fn database_before_search(extra: usize) -> (TestDb, OldRows) {
    let db = TestDb::new().await;
    let backend = if on_postgres() { "postgres" } else { "sqlite" };
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut copied = Vec::new();
    for entry in std::fs::read_dir(&all).expect("the migrations") {
        let name = entry.expect("a migration").file_name();
        let name = name.to_string_lossy().to_string();
        if name.as_str() < "0006" {
            std::fs::copy(all.join(&name), dir.path().join(&name)).expect("copy a migration");
            copied.push(name);
        }
    }
    copied.sort();
    assert_eq!(copied.len(), 5, "0001 to 0005: {copied:?}");
    let migrator = sqlx::migrate::Migrator::new(dir.path())
        .await
        .expect("the migrations read");
    sqlx::any::install_default_drivers();
    let url = if on_postgres() {
        db.url.clone()
    } else {
        format!("{}?mode=rwc", db.url)
    };
    let mut conn = sqlx::AnyConnection::connect(&url).await.expect("connect");
    migrator
        .run(&mut conn)
        .await
        .expect("the schema before search applies");
    let tables: i64 = sqlx::query_scalar(if on_postgres() {
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'message_search'"
    } else {
        "SELECT count(*) FROM sqlite_master WHERE name = 'message_search'"
    })
    .fetch_one(&mut conn)
    .await
    .expect("look for the index");
    assert_eq!(tables, 0, "no index yet");

    let hash = server::auth::hash_password(PASSWORD.into())
        .await
        .expect("hash");
    let alice = old_user(&mut conn, "alice", &hash).await;
    let bob = old_user(&mut conn, "bob", &hash).await;
    let lobby: i64 =
        sqlx::query_scalar("SELECT id FROM conversations WHERE conv_key = 'room:lobby'")
            .fetch_one(&mut conn)
            .await
            .expect("the lobby");
    let key = format!("dm:{}:{}", alice.min(bob), alice.max(bob));
    let direct = old_conversation(&mut conn, &key, "dm", None).await;
    let attic = old_conversation(&mut conn, "room:attic", "room", Some("attic")).await;
    for (conv, member, role) in [
        (lobby, alice, 0_i64),
        (lobby, bob, 0),
        (direct, alice, 0),
        (direct, bob, 0),
        (attic, bob, 2),
    ] {
        sqlx::query(&numbered(
            "INSERT INTO members (conv_id, user_id, read_seq, joined_at, role)
             VALUES (?, ?, 0, 3, ?)",
        ))
        .bind(conv)
        .bind(member)
        .bind(role)
        .execute(&mut conn)
        .await
        .expect("a member");
    }

    let plain = |conv: i64, seq: i64, sender: (i64, &'static str), body: String| OldMessage {
        conv,
        seq,
        sender,
        body,
        kind: 0,
        target: None,
        edited_at: None,
        deleted_at: None,
        rev: 0,
    };
    let (a, b) = ((alice, "alice"), (bob, "bob"));
    let scrolls = old_message(
        &mut conn,
        plain(lobby, 1, a, "Ancient scrolls of wisdom".into()),
    )
    .await;
    let edited = old_message(
        &mut conn,
        OldMessage {
            edited_at: Some(1_000_005),
            rev: 3,
            ..plain(lobby, 2, b, "the ancient archive survived".into())
        },
    )
    .await;
    let edit_row = old_message(
        &mut conn,
        OldMessage {
            kind: 1,
            target: Some(2),
            ..plain(lobby, 3, b, "the ancient archive survived".into())
        },
    )
    .await;
    let deleted = old_message(
        &mut conn,
        OldMessage {
            deleted_at: Some(1_000_006),
            rev: 5,
            ..plain(lobby, 4, a, String::new())
        },
    )
    .await;
    let delete_row = old_message(
        &mut conn,
        OldMessage {
            kind: 2,
            target: Some(4),
            ..plain(lobby, 5, a, String::new())
        },
    )
    .await;
    let mut extras = Vec::new();
    for i in 0..extra {
        let body = format!("ancient relic number {i}");
        extras.push(old_message(&mut conn, plain(lobby, 6 + i as i64, a, body)).await);
    }
    let whisper = old_message(
        &mut conn,
        plain(direct, 1, b, "an ancient secret between us".into()),
    )
    .await;
    let treasure = old_message(
        &mut conn,
        plain(attic, 1, b, "ancient treasure in the attic".into()),
    )
    .await;
    for (conv, last) in [(lobby, 5 + extra as i64), (direct, 1), (attic, 1)] {
        sqlx::query(&numbered(
            "UPDATE conversations SET last_seq = ? WHERE id = ?",
        ))
        .bind(last)
        .bind(conv)
        .execute(&mut conn)
        .await
        .expect("last_seq");
    }
    sqlx::query(&numbered(
        "INSERT INTO message_versions (conv_id, seq, body, created_at) VALUES (?, 2, ?, 4)",
    ))
    .bind(lobby)
    .bind("the ancient library burned".to_string())
    .execute(&mut conn)
    .await
    .expect("the text before the edit");
    conn.close().await.expect("close");
    (
        db,
        OldRows {
            lobby,
            direct,
            attic,
            scrolls,
            extra: extras,
            edited,
            whisper,
            treasure,
            deleted,
            edit_row,
            delete_row,
        },
    )
}

/// The ids of the messages the search index holds, ascending, read
/// straight from the database.
async fn indexed_ids(url: &str) -> Vec<i64> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url)
        .await
        .expect("the test database opens");
    let sql = if on_postgres() {
        "SELECT id FROM message_search ORDER BY id"
    } else {
        "SELECT rowid AS id FROM message_search ORDER BY rowid"
    };
    let ids = sqlx::query_scalar(sql)
        .fetch_all(&mut conn)
        .await
        .expect("read the index");
    conn.close().await.expect("close");
    ids
}

/// A database from before search is upgraded at start and its messages
/// indexed in the background: they are then found by their current text
/// (an edited one by its new text, not its old), only where the searcher
/// is a member, and the deleted message and the rows of changes are not
/// indexed at all. New messages are indexed alongside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_from_before_the_index_are_found_after_the_upgrade() {
    let (db, old) = database_before_search(0).await;
    let url = db.url.clone();
    let server = TestServer::start_on(db, |_| {}).await;
    let alice = server.sign_in("alice", PASSWORD).await;
    let bob = server.sign_in("bob", PASSWORD).await;

    // The catch-up runs in the background, in one transaction for so few
    // messages: wait (searching) until it has.
    let mut as_alice = Searcher::new(&server, &alice);
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let hits = loop {
        let hits = as_alice.hits("ancient").await;
        if !hits.is_empty() || tokio::time::Instant::now() > deadline {
            break hits;
        }
    };
    assert_eq!(ids(&hits), [old.whisper, old.edited, old.scrolls]);
    let places: Vec<(Conv, i64, &str)> = hits
        .iter()
        .map(|h| (h.conv.clone(), h.seq, h.excerpt.as_str()))
        .collect();
    assert_eq!(
        places,
        [
            (dm("bob"), 1, "an ancient secret between us"),
            (lobby(), 2, "the ancient archive survived"),
            (lobby(), 1, "Ancient scrolls of wisdom"),
        ]
    );
    assert_eq!(as_alice.ids("library").await, Vec::<i64>::new());
    assert_eq!(as_alice.ids("archive").await, [old.edited]);
    assert_eq!(as_alice.ids("treasure").await, Vec::<i64>::new());
    let mut as_bob = Searcher::new(&server, &bob);
    assert_eq!(as_bob.ids("treasure in:#attic").await, [old.treasure]);

    let index = indexed_ids(&url).await;
    assert_eq!(index, old.live(), "the live messages, and nothing else");
    for not in [old.deleted, old.edit_row, old.delete_row] {
        assert!(!index.contains(&not), "{not} is not indexed");
    }

    // Old and new together.
    let (mut client, _) = server.join(&alice).await;
    let new = say(&mut client, lobby(), "ancient history, new message").await;
    assert!(new.seq > 5);
    assert_eq!(
        as_alice.ids("ancient").await,
        [new.id, old.whisper, old.edited, old.scrolls]
    );
    assert_eq!(
        as_alice.ids("ancient in:lobby").await,
        [new.id, old.edited, old.scrolls]
    );
}

/// `Store::index_older` catches up a chunk per call, newest messages
/// first, until it says 0; nothing is found before, everything (live)
/// after, and a further call has nothing left to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_messages_are_indexed_a_chunk_at_a_time_newest_first() {
    use server::store::{Order, Search, Store};

    let (db, old) = database_before_search(10).await;
    let store = Store::open(&db.url).await.expect("opens and migrates");
    let query = server::search::parse("ancient", 0).expect("a query");
    let convs = [old.lobby, old.direct, old.attic];
    let search = Search {
        query: &query,
        convs: &convs,
        sender_id: None,
        order: Order::Newest,
        cursor: None,
        limit: 50,
    };
    let found = async |store: &Store| -> Vec<i64> {
        let page = store.search(&search).await.expect("search");
        assert_eq!(page.next, None);
        let mut ids: Vec<i64> = page.found.iter().map(|f| f.id).collect();
        ids.sort_unstable();
        ids
    };
    assert_eq!(
        found(&store).await,
        Vec::<i64>::new(),
        "nothing indexed yet"
    );

    let live = old.live();
    let mut calls = Vec::new();
    loop {
        let left = store.index_older(4).await.expect("a chunk");
        calls.push(left);
        assert!(calls.len() <= live.len() + 10, "no end: {calls:?}");
        let now = found(&store).await;
        // Always the newest ones: a suffix of the live messages.
        assert_eq!(now, live[live.len() - now.len()..], "{calls:?}");
        if left == 0 {
            assert_eq!(now, live, "all of them at the end");
            break;
        }
    }
    assert!(calls.len() > 2, "several chunks: {calls:?}");
    assert!(
        calls.windows(2).all(|w| w[0] > w[1]),
        "it moves down: {calls:?}"
    );
    assert_eq!(store.index_older(4).await.expect("done"), 0);
    store.close().await;
    assert_eq!(indexed_ids(&db.url).await, live);
}

/// A room an admin deletes takes its messages out of search: nothing is
/// found by their words afterwards, also not the messages stored after it
/// (which, on SQLite, may take the deleted messages' ids: the room's FTS5
/// rows must go with it, as PostgreSQL's foreign key takes them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_rooms_words_are_not_found_afterwards() {
    let server = TestServer::start_with(|c| c.admins = vec!["ada".into()]).await;
    let (ada_s, mut ada, _) = server.user("ada").await;
    let (bob_s, mut bob, _) = server.user("bob").await;
    say(&mut bob, lobby(), "hello lobby").await;
    ada.create("vault", "", true).await;
    say(&mut ada, room("vault"), "launchcode alpha").await;
    say(&mut ada, room("vault"), "launchcode bravo").await;
    let mut as_ada = Searcher::new(&server, &ada_s);
    assert_eq!(as_ada.hits("launchcode").await.len(), 2);

    let deleted = server
        .call(
            reqwest::Method::DELETE,
            "/api/admin/rooms/vault",
            Some(&ada_s.cookie),
            None,
        )
        .await;
    assert_eq!(deleted.status(), 204);
    ada.recv_until(|f| matches!(f, ServerFrame::Left { room, .. } if room == "vault"))
        .await;
    for _ in 0..4 {
        say(&mut bob, lobby(), "🎉").await;
    }
    let mut as_bob = Searcher::new(&server, &bob_s);
    for searcher in [&mut as_ada, &mut as_bob] {
        let hits = searcher.hits("launchcode").await;
        assert!(hits.is_empty(), "{hits:?}");
    }
}

/// With `--search-index false` nothing is indexed (new messages, edits;
/// a delete removes nothing but leaves nothing either), and a search is
/// refused with `not_permitted` while the connection goes on. Turned on
/// again, new messages are indexed and found; those stored while it was
/// off are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_index_off_nothing_is_indexed_and_searches_are_refused() {
    let mut server = TestServer::start_with(|c| c.search_index = false).await;
    let (ming_s, mut ming, _) = server.user("ming").await;
    let first = say(&mut ming, lobby(), "quokka sighting at noon").await;
    let second = say(&mut ming, lobby(), "another quokka").await;
    change(
        &mut ming,
        edit(lobby(), first.seq, "quokka sighting at one"),
    )
    .await;
    change(&mut ming, delete(lobby(), second.seq)).await;
    assert_eq!(
        indexed_ids(&server.config.database_url).await,
        Vec::<i64>::new()
    );

    ming.send(&search("quokka")).await;
    let refused = ming.expect_error(ErrorCode::NotPermitted).await;
    assert_eq!(refused.message, "search is turned off on this server");
    let after = say(&mut ming, lobby(), "still talking").await;
    assert!(after.id > first.id, "the connection goes on");
    ming.close().await;

    server.config.search_index = true;
    server.restart().await;
    let (mut ming, _) = server.join(&ming_s).await;
    let later = say(&mut ming, lobby(), "a later quokka").await;
    let mut s = Searcher::new(&server, &ming_s);
    assert_eq!(s.ids("quokka").await, [later.id]);
}
