//! Full-text search at scale: `--messages` (1,000,000 by default) chat
//! messages of mixed English and Chinese, generated from word lists with a
//! seeded random generator, stored through the server's own store
//! (`server::store::Store::commit_batch`, which indexes them in the same
//! transaction) in batches of `--batch`, then searched one query at a time
//! with `Store::search`, each timed from parsing the text to the page.
//!
//! This scenario opens the database itself (SQLite by default, in a new
//! temporary folder; `--database-url postgres://…` for PostgreSQL, a
//! database of its own that it fills): no server process, no sockets. It
//! reports, per kind of query, p50 / p95 / p99 newest first (page of 20,
//! the main case) and by relevance, the index's size per million messages,
//! and checks every page against the matches counted while generating.
//! Target: a one-word query within 50 ms at p95.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use hdrhistogram::Histogram;
use server::search::Query;
use server::store::{Backend, NewMessage, Order, Search, SqliteSync, Store};
use sqlx::Connection as _;

use crate::fleet::Rng;
use crate::stats::{histogram, ms, verdict, Table};

#[derive(Args, Debug, Clone)]
pub struct SearchArgs {
    /// The database: `sqlite://FILE` or `postgres://…` (a database of its
    /// own, empty: the scenario fills it). Default: a new SQLite file in a
    /// temporary folder, removed afterwards.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Messages to store and index.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: usize,
    /// Conversations (rooms) they are spread over; the searcher reads all.
    #[arg(long, default_value_t = 200)]
    pub conversations: usize,
    /// Senders.
    #[arg(long, default_value_t = 1_000)]
    pub senders: usize,
    /// Messages per `commit_batch`.
    #[arg(long, default_value_t = 512)]
    pub batch: usize,
    /// Searches per kind of query and order (at most; see --case-secs).
    #[arg(long, default_value_t = 200)]
    pub searches: usize,
    /// Seconds per kind of query and order, after which it stops early
    /// (at least 20 searches are made).
    #[arg(long, default_value_t = 20.0)]
    pub case_secs: f64,
    /// Results per page.
    #[arg(long, default_value_t = 20)]
    pub page: u32,
    /// Seed of the text generator (the same seed, the same messages).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Keep the temporary SQLite folder (its path is printed).
    #[arg(long)]
    pub keep: bool,
    /// Hard limit on the whole run, in seconds.
    #[arg(long, default_value_t = 3_600)]
    pub max_secs: u64,
}

// ---- the text ----------------------------------------------------------------

/// English chat words, most frequent first (their rank sets their Zipf
/// weight). Two-word entries are set phrases, written as they are.
#[rustfmt::skip]
const ENGLISH: &[&str] = &[
    "i", "you", "the", "to", "it", "is", "a", "and", "that", "we", "ok", "for", "this", "on",
    "in", "my", "yes", "no", "have", "be", "can", "do", "just", "not", "so", "what", "are",
    "with", "but", "will", "was", "me", "your", "all", "get", "there", "if", "at", "know",
    "think", "now", "like", "out", "about", "up", "thanks", "one", "time", "good", "let", "see",
    "how", "go", "need", "should", "would", "lol", "sure", "today", "server", "deploy", "build",
    "test", "fix", "bug", "message", "please", "sorry", "back", "later", "tomorrow", "meeting",
    "release", "review", "merge", "check", "send", "call", "team", "code", "branch", "commit",
    "update", "issue", "chat", "room", "log", "error", "lunch", "coffee", "morning", "tonight",
    "weekend", "done", "works", "broken", "again", "still", "already", "maybe", "probably",
    "really", "also", "then", "here", "where", "when", "why", "who", "which", "some", "more",
    "much", "very", "too", "well", "right", "new", "old", "first", "last", "next", "great",
    "nice", "cool", "yeah", "hey", "hi", "bye", "night", "day", "week", "month", "year",
    "minute", "hour", "soon", "late", "early", "slow", "fast", "latency", "database", "query",
    "index", "search", "cache", "memory", "cpu", "disk", "network", "socket", "connection",
    "offline", "online", "phone", "laptop", "app", "web", "client", "config", "docs", "link",
    "file", "image", "video", "screen", "button", "page", "login", "password", "account",
    "user", "admin", "push", "notification", "read receipt", "dark mode", "pull request",
    "push notification", "staging", "production", "rollback", "hotfix", "ticket", "sprint",
    "standup", "demo", "customer", "feedback", "design", "mockup", "font", "color", "layout",
    "mobile", "desktop", "browser", "chrome", "firefox", "safari", "android", "ios", "linux",
    "windows", "mac", "terminal", "shell", "script", "python", "rust", "javascript", "compile",
    "linker", "crate", "tokio", "async", "thread", "lock", "deadlock", "race", "panic", "crash",
    "restart", "reboot", "upgrade", "install", "package", "version", "backup", "restore",
    "migration", "schema", "table", "column", "row", "insert", "delete", "edit", "reply",
    "thread view", "emoji", "reaction", "mention", "channel", "invite", "join", "leave", "kick",
    "ban", "mute", "spam", "report", "moderator", "owner", "member", "guest", "profile",
    "avatar", "status", "typing", "presence", "reconnect", "timeout", "retry", "queue", "batch",
    "throughput", "benchmark", "metric", "graph", "dashboard", "alert", "pager", "oncall",
    "incident", "outage", "postmortem", "holiday", "vacation", "birthday", "pizza", "dinner",
    "movie", "music", "game", "football", "weather", "rain", "snow", "train", "flight",
    "airport", "hotel", "taxi", "ticket booth", "umbrella", "bicycle", "garden", "kitchen",
    "recipe", "noodles", "dumplings", "teapot", "lantern", "harbor", "mountain", "river",
    "island", "museum",
];

/// Words that are rare on purpose: each goes into about 1 message in
/// 20,000 (so ~50 per million).
const RARE: &[&str] = &[
    "flamegraph",
    "quokka",
    "zeppelin",
    "marzipan",
    "kerfuffle",
    "backpressure",
    "idempotent",
    "tokenizer",
    "serendipity",
    "xylophone",
];

/// Chinese words and phrases, most frequent first.
#[rustfmt::skip]
const CHINESE: &[&str] = &[
    "我", "的", "你", "了", "是", "在", "不", "我们", "这个", "一下", "好的", "没有",
    "可以", "什么", "今天", "消息", "服务器", "问题", "已经", "还是", "应该", "现在", "明天",
    "离线", "长连接", "盒子", "推送", "发送", "收到", "看看", "时候", "测试", "部署", "上线",
    "版本", "修复", "提交", "代码", "分支", "会议", "下午", "晚上", "吃饭", "周末", "谢谢",
    "哈哈", "没问题", "辛苦了", "麻烦", "帮忙", "确认", "同步", "数据库", "索引", "搜索",
    "缓存", "内存", "网络", "连接", "断开", "重连", "延迟", "性能", "手机", "电脑", "客户端",
    "通知", "群聊", "私聊", "房间", "用户", "账号", "密码", "登录", "退出", "文件", "图片",
    "链接", "文档", "配置", "日志", "错误", "崩溃", "离线消息", "异步", "队列", "线程",
    "事务", "回滚", "备份", "恢复", "监控", "告警", "磁盘", "带宽", "负载", "集群", "节点",
    "副本", "分片", "心跳", "超时", "重试", "限流", "灰度", "发布", "回归", "压测", "吞吐量",
    "分词", "倒排索引", "火锅", "饺子", "咖啡", "奶茶", "地铁", "高铁", "天气", "下雨",
    "周一", "周五", "加班", "请假", "开会", "老板", "同事", "项目", "需求", "产品", "设计",
    "界面", "按钮", "页面", "浏览器", "安卓", "苹果", "升级", "安装", "卸载", "重启", "麒麟",
    "琵琶", "鲸鱼", "灯笼", "熊猫",
];

/// Technical words written inside Chinese text ("用WebSocket长连接推送").
#[rustfmt::skip]
const MIXED: &[&str] = &[
    "WebSocket", "bug", "PR", "API", "CPU", "SQLite", "Redis", "deploy", "merge", "review",
    "staging", "iOS", "Android", "Chrome", "JSON", "HTTP", "token", "cache", "commit", "OK",
    "log", "debug", "release", "tag", "CI", "Docker", "k8s", "GC", "QPS", "p99",
];

/// Whole mixed lines people really write, used as they are now and then.
const LINES: &[&str] = &[
    "用WebSocket长连接推送",
    "这个bug在Chrome上能复现",
    "PR已经merge了",
    "服务器CPU又满了",
    "明天deploy到staging",
    "离线消息放在盒子里",
    "长连接断开以后自动重连",
];

const EMOJI: &[&str] = &["👍", "😂", "🎉", "🙏", "😅", "🔥", "👀"];

/// Cumulative weights of a Zipf-like distribution over `n` ranks.
fn zipf(n: usize, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    (1..=n)
        .map(|r| {
            acc += 1.0 / (r as f64).powf(s);
            acc
        })
        .collect()
}

/// A uniform float in [0, 1).
fn unit(rng: &mut Rng) -> f64 {
    rng.below(1 << 30) as f64 / (1u64 << 30) as f64
}

/// A rank drawn from cumulative weights.
fn draw(rng: &mut Rng, cdf: &[f64]) -> usize {
    let x = unit(rng) * cdf[cdf.len() - 1];
    cdf.partition_point(|&c| c <= x).min(cdf.len() - 1)
}

/// Makes the messages, the same ones for the same seed.
struct Writer {
    rng: Rng,
    english: Vec<f64>,
    chinese: Vec<f64>,
    mixed: Vec<f64>,
    convs: Vec<f64>,
}

impl Writer {
    fn new(seed: u64, conversations: usize) -> Writer {
        Writer {
            rng: Rng::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            english: zipf(ENGLISH.len(), 1.0),
            chinese: zipf(CHINESE.len(), 1.0),
            mixed: zipf(MIXED.len(), 0.8),
            // Some rooms are busier than others.
            convs: zipf(conversations, 0.6),
        }
    }

    /// 3–40 words, most messages short.
    fn length(&mut self) -> usize {
        let u = unit(&mut self.rng);
        3 + (37.0 * u.powf(2.5)).round() as usize
    }

    fn english(&mut self, words: usize) -> String {
        let mut out = String::with_capacity(words * 6);
        for i in 0..words {
            let w = ENGLISH[draw(&mut self.rng, &self.english)];
            if i > 0 {
                out.push_str(if self.rng.below(12) == 0 { ", " } else { " " });
            }
            if i == 0 && self.rng.below(3) == 0 {
                let mut c = w.chars();
                if let Some(first) = c.next() {
                    out.extend(first.to_uppercase());
                    out.push_str(c.as_str());
                }
            } else {
                out.push_str(w);
            }
        }
        out.push_str(["", ".", "?", "!", "", "..."][self.rng.below(6)]);
        out
    }

    fn chinese(&mut self, words: usize, mixed: bool) -> String {
        let mut out = String::with_capacity(words * 6);
        for i in 0..words {
            if mixed && self.rng.below(4) == 0 {
                let w = MIXED[draw(&mut self.rng, &self.mixed)];
                // Sometimes with spaces around, mostly without.
                if self.rng.below(3) == 0 {
                    out.push(' ');
                    out.push_str(w);
                    out.push(' ');
                } else {
                    out.push_str(w);
                }
                continue;
            }
            out.push_str(CHINESE[draw(&mut self.rng, &self.chinese)]);
            if i + 1 < words && self.rng.below(8) == 0 {
                out.push('，');
            }
        }
        out.push_str(["", "。", "？", "！", "～", "。"][self.rng.below(6)]);
        out
    }

    /// (conversation index, sender index, body).
    fn message(&mut self, senders: usize) -> (usize, usize, String) {
        let conv = draw(&mut self.rng, &self.convs);
        let sender = self.rng.below(senders);
        let words = self.length();
        let mut body = match self.rng.below(20) {
            0..=8 => self.english(words),
            9..=15 => self.chinese(words, false),
            16..=18 => self.chinese(words, true),
            _ => {
                let line = LINES[self.rng.below(LINES.len())].to_owned();
                if words > 8 {
                    format!("{line}，{}", self.chinese(words - 8, true))
                } else {
                    line
                }
            }
        };
        if self.rng.below(20_000 / RARE.len()) == 0 {
            let rare = RARE[self.rng.below(RARE.len())];
            body = format!("{body} {rare}");
        }
        if self.rng.below(15) == 0 {
            body.push(' ');
            body.push_str(EMOJI[self.rng.below(EMOJI.len())]);
        }
        (conv, sender, body)
    }
}

// ---- the queries -------------------------------------------------------------

/// What is searched for, in kinds; each kind rotates over its texts.
struct Kind {
    name: &'static str,
    texts: &'static [&'static str],
    /// Add `from:` of a sender (rotating) to each text.
    from: bool,
    /// Targeted (≤ 50 ms at p95 newest first) rather than reported.
    one_word: bool,
}

const KINDS: &[Kind] = &[
    Kind {
        name: "common English word",
        texts: &["the", "you", "it", "ok", "is"],
        from: false,
        one_word: true,
    },
    Kind {
        name: "rare English word",
        texts: &["flamegraph", "quokka", "zeppelin", "kerfuffle", "xylophone"],
        from: false,
        one_word: true,
    },
    Kind {
        name: "two-character Chinese word",
        texts: &["消息", "离线", "盒子", "推送", "问题"],
        from: false,
        one_word: true,
    },
    Kind {
        name: "phrase",
        texts: &[
            "\"push notification\"",
            "\"dark mode\"",
            "离线消息",
            "长连接推送",
            "\"read receipt\"",
        ],
        from: false,
        one_word: false,
    },
    Kind {
        name: "`from:` and a word",
        texts: &["deploy", "server", "thanks", "消息", "today"],
        from: true,
        one_word: false,
    },
];

fn sender_name(i: usize) -> String {
    format!("sender{i:04}")
}

/// Whether `tokens` (a message's index terms, in order) match every term
/// of `query`, as the index does: each term's tokens in a row.
fn matches(tokens: &[&str], query: &Query) -> bool {
    query.terms.iter().all(|term| {
        let n = term.tokens.len();
        let last = n - 1;
        n > 0
            && tokens.windows(n).any(|w| {
                w.iter()
                    .zip(&term.tokens)
                    .enumerate()
                    .all(|(i, (have, want))| {
                        if i == last && term.prefix {
                            have.starts_with(want.as_str())
                        } else {
                            *have == want.as_str()
                        }
                    })
            })
    })
}

/// The parsed text of every query, and how many messages match it (in all,
/// and per sender for `from:` kinds), counted while generating.
struct Expected {
    /// [kind][text]
    queries: Vec<Vec<Query>>,
    total: Vec<Vec<u64>>,
    /// [kind][text][sender], for `from:` kinds.
    by_sender: Vec<Vec<Vec<u32>>>,
}

impl Expected {
    fn new(senders: usize) -> Result<Expected> {
        let mut queries = Vec::new();
        for kind in KINDS {
            let mut parsed = Vec::new();
            for text in kind.texts {
                parsed.push(server::search::parse(text, 0).map_err(|e| anyhow!("{text}: {e}"))?);
            }
            queries.push(parsed);
        }
        Ok(Expected {
            total: KINDS.iter().map(|k| vec![0; k.texts.len()]).collect(),
            by_sender: KINDS
                .iter()
                .map(|k| {
                    let n = if k.from { senders } else { 0 };
                    vec![vec![0; n]; k.texts.len()]
                })
                .collect(),
            queries,
        })
    }

    fn count(&mut self, terms: &str, sender: usize) {
        let tokens: Vec<&str> = terms.split(' ').filter(|t| !t.is_empty()).collect();
        for (k, kind) in KINDS.iter().enumerate() {
            for (t, query) in self.queries[k].iter().enumerate() {
                if matches(&tokens, query) {
                    self.total[k][t] += 1;
                    if kind.from {
                        self.by_sender[k][t][sender] += 1;
                    }
                }
            }
        }
    }

    fn merge(&mut self, other: Expected) {
        for (k, kind) in other.total.into_iter().enumerate() {
            for (t, n) in kind.into_iter().enumerate() {
                self.total[k][t] += n;
            }
        }
        for (k, kind) in other.by_sender.into_iter().enumerate() {
            for (t, senders) in kind.into_iter().enumerate() {
                for (s, n) in senders.into_iter().enumerate() {
                    self.by_sender[k][t][s] += n;
                }
            }
        }
    }
}

// ---- the run -----------------------------------------------------------------

/// The database this run uses, and the temporary folder to remove.
struct Database {
    url: String,
    temp: Option<PathBuf>,
    keep: bool,
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some(dir) = &self.temp {
            if self.keep {
                eprintln!("search: kept {}", dir.display());
            } else {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

fn database(a: &SearchArgs) -> Result<Database> {
    if let Some(url) = &a.database_url {
        if url.starts_with("postgres") {
            check_loopback_url(url)?;
        }
        return Ok(Database {
            url: url.clone(),
            temp: None,
            keep: a.keep,
        });
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("parley-search.{}.{nanos:x}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(Database {
        url: format!("sqlite://{}", dir.join("search.db").display()),
        temp: Some(dir),
        keep: a.keep,
    })
}

/// The generator talks to loopback only: refuse a PostgreSQL host that is not.
fn check_loopback_url(url: &str) -> Result<()> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    match host {
        "localhost" | "" => Ok(()),
        h => match h.parse::<std::net::IpAddr>() {
            Ok(ip) if ip.is_loopback() => Ok(()),
            _ => bail!("refusing a database that is not on loopback: {h}"),
        },
    }
}

pub async fn run(a: SearchArgs) -> Result<bool> {
    if a.messages == 0 || a.conversations == 0 || a.senders == 0 || a.batch == 0 {
        bail!("--messages, --conversations, --senders and --batch must be at least 1");
    }
    let db = database(&a)?;
    // Loading is not what is measured: SQLite skips the fsync per commit
    // (NORMAL, WAL); searches read the same either way.
    let store = Store::open_with(&db.url, SqliteSync::Normal)
        .await
        .with_context(|| format!("opening {}", db.url))?;
    let outcome = measure(&a, &store, &db).await;
    store.close().await;
    drop(db);
    outcome
}

/// Users, rooms and messages, then the searches.
async fn measure(a: &SearchArgs, store: &Store, db: &Database) -> Result<bool> {
    let backend = store.backend();
    // A connection of our own, for the sizes (the store's pool is its own).
    let mut raw = sqlx::AnyConnection::connect(&db.url).await?;
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut raw)
        .await?;
    if existing > 0 {
        bail!("the database already has users: give the scenario an empty database of its own");
    }

    // Senders and rooms (no memberships: the store's search takes the
    // conversations the caller may read, here all of them).
    let setup = Instant::now();
    let mut senders = Vec::with_capacity(a.senders);
    for i in 0..a.senders {
        let user = store
            .create_user(&sender_name(i), "not a password hash")
            .await?
            .ok_or_else(|| anyhow!("user {i} exists"))?;
        senders.push(user);
    }
    let mut convs = Vec::with_capacity(a.conversations);
    for c in 0..a.conversations {
        let creator = &senders[c % senders.len()];
        let id = store
            .create_room(&format!("room{c:03}"), "", "", false, creator)
            .await?
            .ok_or_else(|| anyhow!("room {c} exists"))?;
        convs.push(id);
    }
    let setup = setup.elapsed();

    // Messages: made on a thread of their own (with their index terms,
    // as the server's connections do), committed here.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<NewMessage>>(4);
    let (messages, batch, seed, n_senders) = (a.messages, a.batch, a.seed, a.senders);
    let conv_ids = convs.clone();
    let sender_ids: Vec<(i64, String)> = senders.iter().map(|u| (u.id, u.name.clone())).collect();
    let maker = std::thread::spawn(move || -> Result<(Expected, u64)> {
        let mut writer = Writer::new(seed, conv_ids.len());
        let mut expected = Expected::new(n_senders)?;
        let mut bytes = 0u64;
        let mut left = messages;
        while left > 0 {
            let n = left.min(batch);
            left -= n;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let (conv, sender, body) = writer.message(n_senders);
                bytes += body.len() as u64;
                let (id, name) = &sender_ids[sender];
                let msg =
                    NewMessage::new(conv_ids[conv], Some(*id), name.clone(), None, body, None);
                expected.count(&msg.terms, sender);
                out.push(msg);
            }
            if tx.blocking_send(out).is_err() {
                break;
            }
        }
        Ok((expected, bytes))
    });
    let load = Instant::now();
    let mut stored = 0usize;
    let mut last_report = Instant::now();
    while let Some(batch) = rx.recv().await {
        let refs: Vec<&NewMessage> = batch.iter().collect();
        store.commit_batch(&refs).await?;
        stored += batch.len();
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!(
                "search: {stored} of {} messages stored ({:.0}/s)",
                a.messages,
                stored as f64 / load.elapsed().as_secs_f64()
            );
        }
    }
    let load = load.elapsed();
    let (expected_parts, body_bytes) = maker
        .join()
        .map_err(|_| anyhow!("the message maker panicked"))??;
    let mut expected = Expected::new(a.senders)?;
    expected.merge(expected_parts);
    if stored != a.messages {
        bail!("stored {stored} of {} messages", a.messages);
    }

    // What a running server's database would have had time to do: on
    // PostgreSQL, autovacuum's analyze and the GIN pending list's merge.
    let settle = Instant::now();
    if backend == Backend::Postgres {
        sqlx::query("VACUUM ANALYZE messages")
            .execute(&mut raw)
            .await?;
        sqlx::query("VACUUM ANALYZE message_search")
            .execute(&mut raw)
            .await?;
    }
    let settle = settle.elapsed();
    let sizes = sizes(store, &mut raw, backend, db).await?;

    // The searches.
    let mut rows = Vec::new();
    let mut wrong = 0u64;
    let mut asked = 0u64;
    for k in 0..KINDS.len() {
        let mut by_order = Vec::new();
        for order in [Order::Newest, Order::Relevance] {
            let (hist, bad, n) = run_kind(a, store, &convs, &senders, &expected, k, order).await?;
            wrong += bad;
            asked += n;
            by_order.push(hist);
        }
        rows.push(by_order);
    }

    // The report.
    let name = match backend {
        Backend::Sqlite => "SQLite (FTS5)",
        Backend::Postgres => "PostgreSQL (GIN tsvector)",
    };
    println!(
        "\n## Search: {} messages ({:.1} MB of text) in {} conversations from {} senders, {name}\n",
        a.messages,
        body_bytes as f64 / 1e6,
        a.conversations,
        a.senders,
    );
    println!(
        "Set-up {:.1} s; stored and indexed in {:.1} s ({:.0} messages/s, batches of {}){}.\n",
        setup.as_secs_f64(),
        load.as_secs_f64(),
        a.messages as f64 / load.as_secs_f64(),
        a.batch,
        if backend == Backend::Postgres {
            format!("; VACUUM ANALYZE {:.1} s", settle.as_secs_f64())
        } else {
            String::new()
        }
    );
    let mut t = Table::new(&[
        "query",
        "texts (rotating)",
        "messages matching",
        "newest first p50",
        "p95",
        "p99",
        "max",
        "by relevance p50",
        "p95",
        "p99",
        "max",
        "searches",
    ]);
    for (k, kind) in KINDS.iter().enumerate() {
        let (newest, relevance) = (&rows[k][0], &rows[k][1]);
        let totals = &expected.total[k];
        let matching = if kind.from {
            let per: Vec<String> = expected.by_sender[k]
                .iter()
                .map(|s| {
                    let mean =
                        s.iter().map(|&n| u64::from(n)).sum::<u64>() as f64 / s.len().max(1) as f64;
                    format!("{mean:.1}")
                })
                .collect();
            format!("{} per sender on average", per.join(" / "))
        } else {
            totals
                .iter()
                .map(|n| format!("{n} ({:.2} %)", 100.0 * *n as f64 / a.messages as f64))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        let texts = kind
            .texts
            .iter()
            .map(|t| {
                if kind.from {
                    format!("`from:sender… {t}`")
                } else {
                    format!("`{t}`")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        t.row(vec![
            kind.name.into(),
            texts,
            matching,
            ms(newest.value_at_quantile(0.5)),
            ms(newest.value_at_quantile(0.95)),
            ms(newest.value_at_quantile(0.99)),
            ms(newest.max()),
            ms(relevance.value_at_quantile(0.5)),
            ms(relevance.value_at_quantile(0.95)),
            ms(relevance.value_at_quantile(0.99)),
            ms(relevance.max()),
            format!("{} + {}", newest.len(), relevance.len()),
        ]);
    }
    println!("{}", t.render());

    let target = Duration::from_millis(50).as_micros() as u64;
    let mut summary = Table::new(&["metric", "measured", "target", "verdict"]);
    let p95 = |h: &Histogram<u64>| h.value_at_quantile(0.95);
    for (k, kind) in KINDS.iter().enumerate() {
        let newest = p95(&rows[k][0]);
        summary.row(vec![
            format!("{}, newest first, page of {}, p95", kind.name, a.page),
            ms(newest),
            if kind.one_word {
                "≤ 50 ms"
            } else {
                "reported"
            }
            .into(),
            if kind.one_word {
                verdict(newest <= target).into()
            } else {
                "—".into()
            },
        ]);
    }
    let per_million = |bytes: i64| bytes as f64 * 1e6 / a.messages as f64 / (1024.0 * 1024.0);
    summary.row(vec![
        "index size per million messages (`Store::search_index_bytes`)".into(),
        sizes
            .index
            .map_or("n/a".into(), |b| format!("{:.1} MiB", per_million(b))),
        "reported".into(),
        "—".into(),
    ]);
    summary.row(vec![
        "pages with the results expected".into(),
        format!("{} of {asked}", asked - wrong),
        "all".into(),
        verdict(wrong == 0).into(),
    ]);
    println!("{}", summary.render());

    let mut s = Table::new(&["what", "bytes", "per million messages"]);
    for (what, bytes) in &sizes.rows {
        s.row(vec![
            what.clone(),
            bytes.to_string(),
            format!("{:.1} MiB", per_million(*bytes)),
        ]);
    }
    println!("{}", s.render());
    Ok(wrong == 0)
}

struct Sizes {
    index: Option<i64>,
    rows: Vec<(String, i64)>,
}

/// The index's size, and the database's with and without it.
async fn sizes(
    store: &Store,
    raw: &mut sqlx::AnyConnection,
    backend: Backend,
    db: &Database,
) -> Result<Sizes> {
    let index = store.search_index_bytes().await?;
    let mut rows = Vec::new();
    if let Some(b) = index {
        rows.push(("search index (`Store::search_index_bytes`)".to_owned(), b));
    }
    match backend {
        Backend::Sqlite => {
            // Fold the WAL into the file, so the file is the database.
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut *raw)
                .await?;
            let path = db
                .url
                .strip_prefix("sqlite://")
                .map(|rest| rest.split('?').next().unwrap_or(rest));
            let sender: Option<i64> =
                sqlx::query_scalar("SELECT SUM(pgsize) FROM dbstat WHERE name = 'messages_sender'")
                    .fetch_one(&mut *raw)
                    .await
                    .ok()
                    .flatten();
            if let Some(b) = sender {
                rows.push(("index `messages_sender` (for `from:`)".to_owned(), b));
            }
            if let Some(file) = path
                .and_then(|p| std::fs::metadata(p).ok())
                .map(|m| m.len() as i64)
            {
                rows.push(("database file".to_owned(), file));
                if let Some(b) = index {
                    rows.push((
                        "database file without the search index".to_owned(),
                        file - b,
                    ));
                    if let Some(s) = sender {
                        rows.push(("… and without `messages_sender`".to_owned(), file - b - s));
                    }
                }
            }
        }
        Backend::Postgres => {
            let one = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
            let sender = one("SELECT pg_relation_size('messages_sender')")
                .fetch_one(&mut *raw)
                .await?;
            let messages = one("SELECT pg_total_relation_size('messages')")
                .fetch_one(&mut *raw)
                .await?;
            let database = one("SELECT pg_database_size(current_database())")
                .fetch_one(&mut *raw)
                .await?;
            rows.push(("index `messages_sender` (for `from:`)".to_owned(), sender));
            rows.push((
                "table `messages` with its indexes and TOAST".to_owned(),
                messages,
            ));
            rows.push(("database".to_owned(), database));
            if let Some(b) = index {
                rows.push(("database without the search index".to_owned(), database - b));
                rows.push((
                    "… and without `messages_sender`".to_owned(),
                    database - b - sender,
                ));
            }
        }
    }
    Ok(Sizes { index, rows })
}

/// One kind of query in one order: warm-up, then timed searches, each
/// page checked against the count made while generating. Returns the
/// latencies (µs), the wrong pages and the searches made.
async fn run_kind(
    a: &SearchArgs,
    store: &Store,
    convs: &[i64],
    senders: &[server::store::User],
    expected: &Expected,
    k: usize,
    order: Order,
) -> Result<(Histogram<u64>, u64, u64)> {
    const WARM_UP: usize = 3;
    let kind = &KINDS[k];
    let mut hist = histogram();
    let mut wrong = 0u64;
    let started = Instant::now();
    let mut rng = Rng::new(a.seed.wrapping_add(k as u64 * 31 + 7));
    let mut i = 0usize;
    loop {
        let timed = i >= WARM_UP;
        let n = i.saturating_sub(WARM_UP);
        if timed && (n >= a.searches || (n >= 20 && started.elapsed().as_secs_f64() >= a.case_secs))
        {
            break;
        }
        let t = i % kind.texts.len();
        let sender = kind.from.then(|| rng.below(senders.len()));
        let text = match sender {
            Some(s) => format!("from:{} {}", senders[s].name, kind.texts[t]),
            None => kind.texts[t].to_owned(),
        };
        let t0 = Instant::now();
        let query = server::search::parse(&text, 0).map_err(|e| anyhow!("{text}: {e}"))?;
        let page = store
            .search(&Search {
                query: &query,
                convs,
                // The server resolves `from:` to a user id first (one
                // look-up by handle, not timed here).
                sender_id: sender.map(|s| senders[s].id),
                order,
                cursor: None,
                limit: a.page,
            })
            .await?;
        let took = t0.elapsed();
        if timed {
            hist.saturating_record(took.as_micros() as u64);
        }
        let matching = match sender {
            Some(s) => u64::from(expected.by_sender[k][t][s]),
            None => expected.total[k][t],
        };
        let want = matching.min(u64::from(a.page)) as usize;
        let more = matching > u64::from(a.page);
        if page.found.len() != want || page.next.is_some() != more {
            wrong += 1;
            if wrong <= 3 {
                eprintln!(
                    "search: `{text}` ({order:?}) gave {} results (more: {}), expected {want} (of {matching})",
                    page.found.len(),
                    page.next.is_some()
                );
            }
        }
        i += 1;
    }
    let asked = (i - WARM_UP) as u64;
    Ok((hist, wrong, asked))
}
