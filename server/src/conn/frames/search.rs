//! `search` (finding messages) and `window` (the history around one).

use app::protocol::{
    Conv, ErrorCode, SearchHit, SearchOrder, ServerFrame, MAX_HISTORY_PAGE, MAX_SEARCH_PAGE,
    WINDOW_SIDE,
};

use super::{Handler, Outcome, Refusal, DEFAULT_HISTORY_PAGE};
use crate::authz;
use crate::search::highlight::{excerpt, marks};
use crate::search::{self, Query};
use crate::store::{Order, Search, StoredMessage};

/// Results a `search` page carries when the client names no limit.
const DEFAULT_SEARCH_PAGE: u32 = 20;

impl Handler {
    pub(super) async fn search(
        &mut self,
        text: String,
        order: SearchOrder,
        cursor: Option<i64>,
        limit: Option<u32>,
        tz: i32,
    ) -> Outcome {
        if !self.state.config.search_index {
            return Err(Refusal::new(
                ErrorCode::NotPermitted,
                "search is turned off on this server",
            ));
        }
        if !self.search_bucket.try_take() {
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                "too many searches at once; wait a moment",
            ));
        }
        let query = search::parse(&text, tz)
            .map_err(|why| Refusal::new(ErrorCode::InvalidQuery, why.to_string()))?;
        let memberships = self.state.store.memberships(self.me.id).await?;
        let readable = authz::searchable(&memberships, query.within.as_ref());
        let sender_id = match &query.from {
            None => None,
            Some(handle) => match self.state.store.find_user(handle).await? {
                Some((user, _)) => Some(user.id),
                // Nobody by that name wrote anything.
                None => return self.answer(text, &query, &readable, Vec::new(), None),
            },
        };
        let convs: Vec<i64> = readable.iter().map(|(id, _)| *id).collect();
        let page = self
            .state
            .store
            .search(&Search {
                query: &query,
                convs: &convs,
                sender_id,
                order: match order {
                    SearchOrder::Newest => Order::Newest,
                    SearchOrder::Relevance => Order::Relevance,
                },
                cursor,
                limit: limit
                    .unwrap_or(DEFAULT_SEARCH_PAGE)
                    .clamp(1, MAX_SEARCH_PAGE),
            })
            .await?;
        self.answer(text, &query, &readable, page.found, page.next)
    }

    fn answer(
        &self,
        text: String,
        query: &Query,
        readable: &[(i64, Conv)],
        found: Vec<crate::store::Found>,
        cursor: Option<i64>,
    ) -> Outcome {
        let hits = found
            .into_iter()
            .filter_map(|f| {
                let conv = readable.iter().find(|(id, _)| *id == f.conv_id)?.1.clone();
                let (excerpt, marks) = excerpt(&f.body, &marks(&f.body, query));
                Some(SearchHit {
                    conv,
                    id: f.id,
                    seq: f.seq,
                    display: self.state.hub.displays.of(&f.sender_name),
                    sender: f.sender_name,
                    ts: f.ts,
                    excerpt,
                    marks,
                })
            })
            .collect();
        self.reply(ServerFrame::SearchResults {
            query: text,
            hits,
            cursor,
        });
        Ok(())
    }

    pub(super) async fn window(
        &mut self,
        conv: Conv,
        around: Option<i64>,
        before: Option<i64>,
        after: Option<i64>,
        limit: Option<u32>,
    ) -> Outcome {
        let target = self.target(&conv, false).await?;
        let store = &self.state.store;
        let limit = limit
            .unwrap_or(DEFAULT_HISTORY_PAGE)
            .clamp(1, MAX_HISTORY_PAGE);
        let (messages, has_older, has_newer): (Vec<StoredMessage>, bool, bool) =
            match (around, before, after) {
                (Some(seq), None, None) => {
                    let mut older = store
                        .history_before(target.conv_id, seq.saturating_add(1), WINDOW_SIDE + 2)
                        .await?;
                    let has_older = older.len() > WINDOW_SIDE as usize + 1;
                    if has_older {
                        older.remove(0);
                    }
                    let mut newer = store
                        .history_after(target.conv_id, seq, WINDOW_SIDE + 1)
                        .await?;
                    let has_newer = newer.len() > WINDOW_SIDE as usize;
                    newer.truncate(WINDOW_SIDE as usize);
                    older.extend(newer);
                    (older, has_older, has_newer)
                }
                (None, Some(seq), None) => {
                    let mut page = store.history_before(target.conv_id, seq, limit + 1).await?;
                    let has_older = page.len() > limit as usize;
                    if has_older {
                        page.remove(0);
                    }
                    (page, has_older, true)
                }
                (None, None, Some(seq)) => {
                    let mut page = store.history_after(target.conv_id, seq, limit + 1).await?;
                    let has_newer = page.len() > limit as usize;
                    page.truncate(limit as usize);
                    (page, seq > 0, has_newer)
                }
                _ => {
                    return Err(Refusal::new(
                        ErrorCode::InvalidFrame,
                        "a window takes exactly one of `around`, `before` and `after`",
                    ))
                }
            };
        let messages = self.wire_page(&target.wire, &messages);
        self.reply(ServerFrame::Window {
            conv: target.wire,
            messages,
            has_older,
            has_newer,
        });
        Ok(())
    }
}
