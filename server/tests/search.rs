//! Full-text search and the history around a result, on SQLite and (with
//! `PARLEY_TEST_DATABASE=postgres`) PostgreSQL.

mod common;

use app::protocol::{SearchHit, SearchOrder};
use common::*;

fn search(query: &str) -> ClientFrame {
    ClientFrame::Search {
        query: query.into(),
        order: SearchOrder::Newest,
        cursor: None,
        limit: None,
        tz: 0,
    }
}

/// Send a search and wait for its results: (hits, next cursor).
async fn results(client: &mut Client, frame: ClientFrame) -> (Vec<SearchHit>, Option<i64>) {
    client.send(&frame).await;
    match client
        .recv_until(|f| matches!(f, ServerFrame::SearchResults { .. }))
        .await
    {
        ServerFrame::SearchResults { hits, cursor, .. } => (hits, cursor),
        _ => unreachable!(),
    }
}

fn marked(hit: &SearchHit) -> Vec<&str> {
    hit.marks
        .iter()
        .map(|&(s, e)| &hit.excerpt[s as usize..e as usize])
        .collect()
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
