//! Message text as people type it in Slack or Discord — `**bold**`,
//! `*italic*`, `~~strike~~`, `` `code` ``, fenced code blocks, `> quotes`,
//! lists and links — parsed by `pulldown-cmark` into a small tree of plain
//! data that the page renders node by node (`components::rich_text`).
//!
//! Nothing a sender types becomes markup: raw HTML is kept as the text it
//! is, only `http(s):` and `mailto:` links get an address, images show as
//! their text, and nesting is capped so that no message can make the
//! renderer recurse without end.

use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd, TextMergeStream};

use super::text::{segments, Segment};

/// Deepest nesting of quotes and lists kept; deeper ones are flattened.
pub const MAX_BLOCK_DEPTH: usize = 8;

/// Deepest nesting of bold, italic, strike and links kept.
pub const MAX_INLINE_DEPTH: usize = 8;

/// A block of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    Paragraph(Vec<Inline>),
    /// A `#` heading: shown as a bold line, whatever its level.
    Heading(Vec<Inline>),
    /// A fenced or indented code block, its text as written.
    Code(String),
    Quote(Vec<Block>),
    List {
        /// The first number of an ordered list; `None` for bullets.
        start: Option<u64>,
        items: Vec<Vec<Block>>,
    },
    Rule,
}

/// A piece of text inside a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inline {
    Text(String),
    Code(String),
    Strong(Vec<Inline>),
    Emphasis(Vec<Inline>),
    Strike(Vec<Inline>),
    /// A link to an `http(s):` or `mailto:` address.
    Link {
        href: String,
        children: Vec<Inline>,
    },
    /// A line break (a single newline is one too, as in chat apps).
    Break,
}

/// Parse a message body.
pub fn parse(body: &str) -> Vec<Block> {
    let parser = Parser::new_ext(body, Options::ENABLE_STRIKETHROUGH);
    let mut builder = Builder::default();
    for event in TextMergeStream::new(parser) {
        builder.event(event);
    }
    builder.finish()
}

/// The address a link may point to, if it is one we follow: web pages and
/// mail addresses only (never `javascript:`, `data:` or relative paths).
pub fn safe_href(dest: &str, link_type: LinkType) -> Option<String> {
    let dest = dest.trim();
    if link_type == LinkType::Email {
        return (!dest.contains(':')).then(|| format!("mailto:{dest}"));
    }
    let lower = dest.get(..8).unwrap_or(dest).to_ascii_lowercase();
    let allowed = ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme));
    (allowed && dest.len() > 7).then(|| dest.to_owned())
}

/// What an inline container makes of its children.
#[derive(Clone, Debug)]
enum Span {
    Strong,
    Emphasis,
    Strike,
    Link(String),
    /// A link we do not follow, an image, or nesting past the cap: its
    /// children join the parent as they are.
    Flat,
}

#[derive(Debug)]
enum Frame {
    Root(Vec<Block>),
    Quote(Vec<Block>),
    List(Option<u64>, Vec<Vec<Block>>),
    Item(Vec<Block>),
    /// A quote, list or item past the depth cap: its blocks join the parent.
    Blocks(Vec<Block>),
    /// `implicit`: the inline text of a tight list item, with no
    /// paragraph of its own in the events.
    Paragraph {
        inlines: Vec<Inline>,
        implicit: bool,
    },
    Heading(Vec<Inline>),
    Code(String),
    Html(String),
    Span(Span, Vec<Inline>),
}

#[derive(Debug)]
struct Builder {
    stack: Vec<Frame>,
    block_depth: usize,
    inline_depth: usize,
    links: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            stack: vec![Frame::Root(Vec::new())],
            block_depth: 0,
            inline_depth: 0,
            links: 0,
        }
    }
}

impl Builder {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => self.text(&text),
            Event::Code(code) => self.inline(Inline::Code(code.into_string())),
            // Raw HTML is text like any other: shown, never interpreted.
            Event::Html(html) | Event::InlineHtml(html) => match self.stack.last_mut() {
                Some(Frame::Html(buffer) | Frame::Code(buffer)) => buffer.push_str(&html),
                _ => self.inline(Inline::Text(html.into_string())),
            },
            Event::SoftBreak | Event::HardBreak => self.inline(Inline::Break),
            Event::Rule => self.block(Block::Rule),
            Event::FootnoteReference(text) | Event::InlineMath(text) | Event::DisplayMath(text) => {
                self.inline(Inline::Text(text.into_string()))
            }
            Event::TaskListMarker(done) => {
                self.inline(Inline::Text(if done { "[x] " } else { "[ ] " }.to_owned()))
            }
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph => self.open_block(Frame::Paragraph {
                inlines: Vec::new(),
                implicit: false,
            }),
            Tag::Heading { .. } => self.open_block(Frame::Heading(Vec::new())),
            Tag::CodeBlock(_) => self.open_block(Frame::Code(String::new())),
            Tag::HtmlBlock => self.open_block(Frame::Html(String::new())),
            Tag::BlockQuote(_) => self.open_container(Frame::Quote(Vec::new())),
            Tag::List(start) => self.open_container(Frame::List(start, Vec::new())),
            Tag::Item => self.open_container(Frame::Item(Vec::new())),
            Tag::Strong => self.open_span(Span::Strong),
            Tag::Emphasis => self.open_span(Span::Emphasis),
            Tag::Strikethrough => self.open_span(Span::Strike),
            Tag::Link {
                link_type,
                dest_url,
                ..
            } => {
                let span = match safe_href(&dest_url, link_type) {
                    Some(href) if self.links == 0 => Span::Link(href),
                    _ => Span::Flat,
                };
                self.open_span(span);
            }
            // An image is shown as its text only.
            Tag::Image { .. } => self.open_span(Span::Flat),
            // Not enabled; should they appear, their content is kept as text.
            _ => self.open_span(Span::Flat),
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph
            | TagEnd::Heading(_)
            | TagEnd::CodeBlock
            | TagEnd::HtmlBlock
            | TagEnd::BlockQuote(_)
            | TagEnd::List(_)
            | TagEnd::Item => self.close_block(),
            TagEnd::Strong
            | TagEnd::Emphasis
            | TagEnd::Strikethrough
            | TagEnd::Link
            | TagEnd::Image => self.close_span(),
            _ => self.close_span(),
        }
    }

    fn text(&mut self, text: &str) {
        match self.stack.last_mut() {
            Some(Frame::Code(buffer) | Frame::Html(buffer)) => buffer.push_str(text),
            // Inside a link: no links within links.
            _ if self.links > 0 => self.inline(Inline::Text(text.to_owned())),
            _ => {
                for segment in segments(text) {
                    self.inline(match segment {
                        Segment::Text(text) => Inline::Text(text),
                        Segment::Link(url) => Inline::Link {
                            href: url.clone(),
                            children: vec![Inline::Text(url)],
                        },
                    });
                }
            }
        }
    }

    /// Add an inline to the innermost inline container, opening an
    /// implicit paragraph when the text sits right in a block container.
    fn inline(&mut self, inline: Inline) {
        match self.stack.last_mut() {
            Some(
                Frame::Paragraph { inlines, .. }
                | Frame::Heading(inlines)
                | Frame::Span(_, inlines),
            ) => push_inline(inlines, inline),
            Some(Frame::Code(buffer) | Frame::Html(buffer)) => {
                buffer.push_str(&plain_text(&[inline]))
            }
            _ => {
                self.stack.push(Frame::Paragraph {
                    inlines: Vec::new(),
                    implicit: true,
                });
                self.inline(inline);
            }
        }
    }

    fn block(&mut self, block: Block) {
        self.close_implicit();
        match self.stack.last_mut() {
            Some(
                Frame::Root(blocks)
                | Frame::Quote(blocks)
                | Frame::Item(blocks)
                | Frame::Blocks(blocks),
            ) => blocks.push(block),
            Some(Frame::List(_, items)) => items.push(vec![block]),
            // A block inside text cannot happen in CommonMark; keep its text.
            _ => self.inline(Inline::Text(block_text(&block))),
        }
    }

    fn open_block(&mut self, frame: Frame) {
        self.close_implicit();
        self.stack.push(frame);
    }

    fn open_container(&mut self, frame: Frame) {
        self.close_implicit();
        self.block_depth += 1;
        if self.block_depth > MAX_BLOCK_DEPTH {
            self.stack.push(Frame::Blocks(Vec::new()));
        } else {
            self.stack.push(frame);
        }
    }

    fn open_span(&mut self, span: Span) {
        self.inline_depth += 1;
        let span = if self.inline_depth > MAX_INLINE_DEPTH {
            Span::Flat
        } else {
            span
        };
        if matches!(span, Span::Link(_)) {
            self.links += 1;
        }
        // Make sure an inline container is on top (a tight list item).
        if !matches!(
            self.stack.last(),
            Some(Frame::Paragraph { .. } | Frame::Heading(_) | Frame::Span(..))
        ) {
            self.stack.push(Frame::Paragraph {
                inlines: Vec::new(),
                implicit: true,
            });
        }
        self.stack.push(Frame::Span(span, Vec::new()));
    }

    fn close_span(&mut self) {
        let Some(Frame::Span(span, children)) = self.stack.pop_if(|f| matches!(f, Frame::Span(..)))
        else {
            return;
        };
        self.inline_depth = self.inline_depth.saturating_sub(1);
        match span {
            Span::Strong => self.inline(Inline::Strong(children)),
            Span::Emphasis => self.inline(Inline::Emphasis(children)),
            Span::Strike => self.inline(Inline::Strike(children)),
            Span::Link(href) => {
                self.links = self.links.saturating_sub(1);
                self.inline(Inline::Link { href, children });
            }
            Span::Flat => {
                for child in children {
                    self.inline(child);
                }
            }
        }
    }

    /// End the implicit paragraph on top, if there is one.
    fn close_implicit(&mut self) {
        // Spans left open (never, with balanced events) close first.
        while matches!(self.stack.last(), Some(Frame::Span(..))) {
            self.close_span();
        }
        if let Some(Frame::Paragraph { inlines, .. }) = self
            .stack
            .pop_if(|f| matches!(f, Frame::Paragraph { implicit: true, .. }))
        {
            self.block(Block::Paragraph(inlines));
        }
    }

    fn close_block(&mut self) {
        self.close_implicit();
        let Some(frame) = self.stack.pop() else {
            return;
        };
        let block = match frame {
            Frame::Root(blocks) => {
                // Unbalanced: put it back.
                self.stack.push(Frame::Root(blocks));
                return;
            }
            Frame::Paragraph { inlines, .. } => Block::Paragraph(inlines),
            Frame::Heading(inlines) => Block::Heading(inlines),
            Frame::Code(mut text) => {
                if text.ends_with('\n') {
                    text.pop();
                }
                Block::Code(text)
            }
            Frame::Html(html) => {
                Block::Paragraph(vec![Inline::Text(html.trim_end_matches('\n').to_owned())])
            }
            Frame::Quote(blocks) => {
                self.block_depth -= 1;
                Block::Quote(blocks)
            }
            Frame::List(start, items) => {
                self.block_depth -= 1;
                Block::List { start, items }
            }
            Frame::Item(blocks) => {
                self.block_depth -= 1;
                match self.stack.last_mut() {
                    Some(Frame::List(_, items)) => items.push(blocks),
                    _ => {
                        for block in blocks {
                            self.block(block);
                        }
                    }
                }
                return;
            }
            Frame::Blocks(blocks) => {
                self.block_depth -= 1;
                for block in blocks {
                    self.block(block);
                }
                return;
            }
            Frame::Span(..) => return,
        };
        self.block(block);
    }

    fn finish(mut self) -> Vec<Block> {
        while self.stack.len() > 1 {
            self.close_block();
        }
        match self.stack.pop() {
            Some(Frame::Root(blocks)) => blocks,
            _ => Vec::new(),
        }
    }
}

/// Add `inline`, joining adjacent text.
fn push_inline(inlines: &mut Vec<Inline>, inline: Inline) {
    if let (Some(Inline::Text(last)), Inline::Text(text)) = (inlines.last_mut(), &inline) {
        last.push_str(text);
        return;
    }
    inlines.push(inline);
}

/// The text of inlines, without any formatting.
pub fn plain_text(inlines: &[Inline]) -> String {
    let mut out = String::new();
    for inline in inlines {
        match inline {
            Inline::Text(text) | Inline::Code(text) => out.push_str(text),
            Inline::Strong(children)
            | Inline::Emphasis(children)
            | Inline::Strike(children)
            | Inline::Link { children, .. } => out.push_str(&plain_text(children)),
            Inline::Break => out.push('\n'),
        }
    }
    out
}

/// The text of blocks on one line, without any formatting: a quote of a
/// message, or its preview. Blocks and line breaks become spaces.
pub fn one_line(blocks: &[Block]) -> String {
    fn walk(blocks: &[Block], out: &mut String) {
        for block in blocks {
            match block {
                Block::List { items, .. } => items.iter().for_each(|item| walk(item, out)),
                Block::Quote(blocks) => walk(blocks, out),
                block => {
                    for word in block_text(block).split_whitespace() {
                        if !out.is_empty() {
                            out.push(' ');
                        }
                        out.push_str(word);
                    }
                }
            }
        }
    }
    let mut out = String::new();
    walk(blocks, &mut out);
    out
}

fn block_text(block: &Block) -> String {
    match block {
        Block::Paragraph(inlines) | Block::Heading(inlines) => plain_text(inlines),
        Block::Code(text) => text.clone(),
        Block::Quote(blocks) => blocks.iter().map(block_text).collect(),
        Block::List { items, .. } => items.iter().flatten().map(block_text).collect(),
        Block::Rule => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Inline {
        Inline::Text(s.into())
    }

    fn para(inlines: Vec<Inline>) -> Block {
        Block::Paragraph(inlines)
    }

    /// Every link in the tree, with its text.
    fn links(blocks: &[Block]) -> Vec<(String, String)> {
        fn walk_inlines(inlines: &[Inline], out: &mut Vec<(String, String)>) {
            for inline in inlines {
                match inline {
                    Inline::Link { href, children } => {
                        out.push((href.clone(), plain_text(children)));
                        walk_inlines(children, out);
                    }
                    Inline::Strong(c) | Inline::Emphasis(c) | Inline::Strike(c) => {
                        walk_inlines(c, out)
                    }
                    _ => {}
                }
            }
        }
        fn walk(blocks: &[Block], out: &mut Vec<(String, String)>) {
            for block in blocks {
                match block {
                    Block::Paragraph(i) | Block::Heading(i) => walk_inlines(i, out),
                    Block::Quote(b) => walk(b, out),
                    Block::List { items, .. } => items.iter().for_each(|b| walk(b, out)),
                    Block::Code(_) | Block::Rule => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(blocks, &mut out);
        out
    }

    #[test]
    fn emphasis_strike_and_inline_code() {
        assert_eq!(
            parse("**bold** *it* _it_ ~~gone~~ `a < b`"),
            [para(vec![
                Inline::Strong(vec![text("bold")]),
                text(" "),
                Inline::Emphasis(vec![text("it")]),
                text(" "),
                Inline::Emphasis(vec![text("it")]),
                text(" "),
                Inline::Strike(vec![text("gone")]),
                text(" "),
                Inline::Code("a < b".into()),
            ])]
        );
        assert_eq!(
            parse("***both***"),
            [para(vec![Inline::Emphasis(vec![Inline::Strong(vec![
                text("both")
            ])])])]
        );
    }

    #[test]
    fn one_line_drops_the_formatting_and_joins_blocks_and_lines() {
        assert_eq!(
            one_line(&parse(
                "Morning! **v2.4** is on _staging_ 🎉 [notes](https://x.example)"
            )),
            "Morning! v2.4 is on staging 🎉 notes"
        );
        assert_eq!(
            one_line(&parse(
                "> quoted\n\n- one\n- two\n\nline one\nline two\n\n---"
            )),
            "quoted one two line one line two"
        );
        assert_eq!(one_line(&parse("`code` and ~~gone~~")), "code and gone");
        // A quote is clipped: an opened mark that is not closed stays text.
        assert_eq!(one_line(&parse("so **unfinished")), "so **unfinished");
        assert_eq!(one_line(&parse("")), "");
    }

    #[test]
    fn plain_text_stays_whole_and_newlines_break_lines() {
        assert_eq!(parse("just words"), [para(vec![text("just words")])]);
        assert_eq!(
            parse("line one\nline two"),
            [para(vec![
                text("line one"),
                Inline::Break,
                text("line two")
            ])]
        );
        assert_eq!(
            parse("one\n\ntwo"),
            [para(vec![text("one")]), para(vec![text("two")])]
        );
        assert_eq!(parse(""), []);
    }

    #[test]
    fn fenced_code_keeps_its_text_verbatim() {
        assert_eq!(
            parse("look:\n```rust\nfn main() {\n    **not bold** <b>\n}\n```"),
            [
                para(vec![text("look:")]),
                Block::Code("fn main() {\n    **not bold** <b>\n}".into()),
            ]
        );
    }

    #[test]
    fn quotes_and_lists_nest() {
        assert_eq!(
            parse("> said **this**\n> and that"),
            [Block::Quote(vec![para(vec![
                text("said "),
                Inline::Strong(vec![text("this")]),
                Inline::Break,
                text("and that"),
            ])])]
        );
        assert_eq!(
            parse("- one\n- *two*\n  - deeper"),
            [Block::List {
                start: None,
                items: vec![
                    vec![para(vec![text("one")])],
                    vec![
                        para(vec![Inline::Emphasis(vec![text("two")])]),
                        Block::List {
                            start: None,
                            items: vec![vec![para(vec![text("deeper")])]],
                        },
                    ],
                ],
            }]
        );
        assert_eq!(
            parse("3. three\n4. four"),
            [Block::List {
                start: Some(3),
                items: vec![
                    vec![para(vec![text("three")])],
                    vec![para(vec![text("four")])]
                ],
            }]
        );
    }

    #[test]
    fn web_and_mail_links_are_kept_and_bare_addresses_linked() {
        let blocks = parse(
            "[docs](https://example.com/docs) see http://x.org/a_b, <https://auto.link> \
             [mail](mailto:a@b.c) <me@example.com>",
        );
        assert_eq!(
            links(&blocks),
            [
                ("https://example.com/docs".into(), "docs".into()),
                ("http://x.org/a_b".into(), "http://x.org/a_b".into()),
                ("https://auto.link".into(), "https://auto.link".into()),
                ("mailto:a@b.c".into(), "mail".into()),
                ("mailto:me@example.com".into(), "me@example.com".into()),
            ]
        );
        // A link's own text is not linked again.
        let blocks = parse("[https://a.example](https://b.example)");
        assert_eq!(
            links(&blocks),
            [("https://b.example".into(), "https://a.example".into())]
        );
    }

    #[test]
    fn other_links_are_inert_text() {
        for body in [
            "[a](javascript:alert(1))",
            "[a](JavaScript:alert(1))",
            "[a]( javascript:alert(1) )",
            "[a](data:text/html,<b>x</b>)",
            "[a](/relative)",
            "[a](vbscript:x)",
            "[a](http:)",
        ] {
            let blocks = parse(body);
            assert_eq!(links(&blocks), [], "{body}");
            assert_eq!(blocks, [para(vec![text("a")])], "{body}");
        }
        assert_eq!(links(&parse("<javascript:alert(1)>")), []);
        assert_eq!(
            parse("<javascript:alert(1)>"),
            [para(vec![text("javascript:alert(1)")])]
        );
    }

    #[test]
    fn raw_html_stays_text() {
        assert_eq!(
            parse("hello <b>x</b> there"),
            [para(vec![text("hello <b>x</b> there")])]
        );
        assert_eq!(
            parse("<img src=x onerror=alert(1)>"),
            [para(vec![text("<img src=x onerror=alert(1)>")])]
        );
        assert_eq!(
            parse("<script>\nalert(1)\n</script>"),
            [para(vec![text("<script>\nalert(1)\n</script>")])]
        );
        assert_eq!(
            parse("<div onclick=\"x()\">\n\n**hi**\n\n</div>"),
            [
                para(vec![text("<div onclick=\"x()\">")]),
                para(vec![Inline::Strong(vec![text("hi")])]),
                para(vec![text("</div>")]),
            ]
        );
    }

    #[test]
    fn images_are_their_text() {
        assert_eq!(
            parse("![a cat](https://example.com/cat.png)"),
            [para(vec![text("a cat")])]
        );
        assert_eq!(parse("![x](javascript:alert(1))"), [para(vec![text("x")])]);
        // An image inside a link: the link stays, with the text.
        assert_eq!(
            links(&parse("[![pic](y.png)](https://example.com)")),
            [("https://example.com".into(), "pic".into())]
        );
    }

    #[test]
    fn headings_rules_and_escapes() {
        assert_eq!(
            parse("# Title\n\n---\n\n\\*not italic\\*"),
            [
                Block::Heading(vec![text("Title")]),
                Block::Rule,
                para(vec![text("*not italic*")]),
            ]
        );
    }

    #[test]
    fn deep_nesting_is_flattened() {
        let quotes = ">".repeat(5_000) + " deep";
        let blocks = parse(&quotes);
        fn depth(blocks: &[Block]) -> usize {
            blocks
                .iter()
                .map(|b| match b {
                    Block::Quote(inner) => 1 + depth(inner),
                    Block::List { items, .. } => {
                        1 + items.iter().map(|i| depth(i)).max().unwrap_or(0)
                    }
                    _ => 0,
                })
                .max()
                .unwrap_or(0)
        }
        assert_eq!(depth(&blocks), MAX_BLOCK_DEPTH);
        assert_eq!(links(&blocks), []);
        let lists = (0..200)
            .map(|i| format!("{}- item", "  ".repeat(i)))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(depth(&parse(&lists)) <= MAX_BLOCK_DEPTH);
        let stars = format!("{}x{}", "*".repeat(3_000), "*".repeat(3_000));
        fn inline_depth(inlines: &[Inline]) -> usize {
            inlines
                .iter()
                .map(|i| match i {
                    Inline::Strong(c) | Inline::Emphasis(c) | Inline::Strike(c) => {
                        1 + inline_depth(c)
                    }
                    _ => 0,
                })
                .max()
                .unwrap_or(0)
        }
        let blocks = parse(&stars);
        let Some(Block::Paragraph(inlines)) = blocks.first() else {
            panic!("{blocks:?}")
        };
        assert!(inline_depth(inlines) <= MAX_INLINE_DEPTH);
        assert!(plain_text(inlines).contains('x'));
    }
}
